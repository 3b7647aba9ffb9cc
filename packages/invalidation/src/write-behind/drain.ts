/**
 * Waiting for a queue to drain, the core of `flush()` and `close()` of a writer and of a flusher: resolves
 * once the entries up to a target id are gone from each shard's stream (applied or dead-lettered), or throws
 * `FlushTimeoutError` saying what is left.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Cluster, Redis } from 'ioredis'
import { FlushTimeoutError } from '../errors.js'

/**
 * Resolves once no entry with an id up to its target is left in each stream (`null`: the stream's last entry
 * when first read). A stream Redis cannot be asked about (its Cluster master is down) is asked again until
 * the time is up.
 * @throws FlushTimeoutError when the time is up: `remaining` counts the entries left in the streams that
 * could be read, `unreachableShards` the streams that could not; `cause` is the last Redis error.
 */
export async function waitDrained(
  where: string,
  queue: string,
  redis: Redis | Cluster,
  targets: ReadonlyMap<string, string | null>,
  timeout: number,
): Promise<void> {
  const deadline = Date.now() + timeout
  const pending = new Map(targets)
  let lastError: unknown
  let delay = 5
  for (;;) {
    await Promise.all(
      [...pending].map(async ([stream, target]) => {
        try {
          const upTo = target ?? (await lastId(redis, stream))
          if (upTo === undefined) return void pending.delete(stream)
          pending.set(stream, upTo)
          const left = (await (redis as Redis).call('XRANGE', stream, '-', upTo, 'COUNT', 1)) as unknown[]
          if (left.length === 0) pending.delete(stream)
        } catch (e) {
          lastError = e
        }
      }),
    )
    if (pending.size === 0) return
    if (Date.now() >= deadline) {
      let remaining = 0
      let unreachableShards = 0
      let unreadError: unknown
      await Promise.all(
        [...pending].map(async ([stream, upTo]) => {
          try {
            if (upTo === null) throw lastError ?? new Error('the stream could not be read')
            remaining += ((await (redis as Redis).call('XRANGE', stream, '-', upTo)) as unknown[]).length
          } catch (e) {
            unreachableShards++
            unreadError = e
          }
        }),
      )
      throw new FlushTimeoutError(where, {
        queue,
        timeout,
        remaining,
        unreachableShards,
        cause: unreadError ?? lastError,
      })
    }
    await sleep(delay)
    delay = Math.min(delay * 2, 100)
  }
}

async function lastId(redis: Redis | Cluster, stream: string): Promise<string | undefined> {
  const last = (await (redis as Redis).call('XREVRANGE', stream, '+', '-', 'COUNT', 1)) as Array<
    [string, unknown]
  >
  return last[0]?.[0]
}
