/**
 * The dead letters of a write-behind queue: moving an entry that failed `maxAttempts` times (or is malformed)
 * to the shard's dead-letter stream, atomically with its removal from the queue (after dropping its value from
 * the cache, since it never reached the database), and the tools that read and requeue them.
 */
import { checkInteger, invalidArgument } from '@tierkit/contracts'
import type { IoredisLike, NodeRedisClientLike } from '@tierkit/contracts/redis'
import type { Cluster, Redis } from 'ioredis'
import { asRedis, checkName, checkRedis } from '../args.js'
import { Script } from '../scripts.js'
import type { ShardState } from './config.js'
import { keysOf, knownShards } from './keys.js'
import { compareIds, type Entry, entriesOf } from './stream.js'

/** One entry of the dead-letter stream. */
export interface DeadLetter {
  /** Id in the dead-letter stream. */
  readonly id: string
  /** The key. */
  readonly key: string
  /** `save` or `remove`. */
  readonly operation: 'save' | 'remove' | 'unknown'
  /** The encoded value. */
  readonly payload: string
  /** Version of the write. */
  readonly version: number
  /** Id the entry had in the queue. */
  readonly originalId: string
  /** Attempts made. */
  readonly attempts: number
  /** The last error's message. */
  readonly error: string
  /** The last error's code, when it had one. */
  readonly code: string
  /** The shard whose dead-letter stream holds it (0 for a queue of one shard). */
  readonly shard: number
}

/**
 * Moves one entry to the dead-letter stream and removes it (and the entries it superseded) from the queue,
 * atomically. KEYS: stream, dead. ARGV: group, key, op, payload, version, original id, attempts, error, code, ids...
 */
const DEAD_LETTER: Script = new Script(`
redis.call('XADD', KEYS[2], '*', 'k', ARGV[2], 'o', ARGV[3], 'v', ARGV[4], 'n', ARGV[5], 'id', ARGV[6],
  'attempts', ARGV[7], 'error', ARGV[8], 'code', ARGV[9])
local ids = {}
for i = 10, #ARGV do ids[#ids + 1] = ARGV[i] end
if #ids > 0 then
  redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
  redis.call('XDEL', KEYS[1], unpack(ids))
end
return #ids
`)

/**
 * Moves dead letters back to the queue, keeping their version (so a key written since keeps its newer
 * value: the guard and the Store compare versions). KEYS: dead, stream. ARGV: ids... Returns the number requeued.
 */
const REQUEUE: Script = new Script(`
local n = 0
for i = 1, #ARGV do
  local e = redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i])
  if #e == 1 then
    local f = e[1][2]
    local m = {}
    for j = 1, #f, 2 do m[f[j]] = f[j + 1] end
    redis.call('XADD', KEYS[2], '*', 'k', m['k'] or '', 'o', m['o'] or '', 'v', m['v'] or '', 'n', m['n'] or '0')
    redis.call('XDEL', KEYS[1], ARGV[i])
    n = n + 1
  end
end
return n
`)

function errorCode(e: unknown): string {
  const c = (e as { code?: unknown })?.code
  return typeof c === 'string' ? c : ''
}

function errorMessage(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e)
  const cause = e instanceof Error && e.cause instanceof Error ? `: ${e.cause.message}` : ''
  return (msg + cause).slice(0, 1000)
}

/**
 * The value of a dead-lettered write never reached the database: drop it from the cache (only this
 * process's L1 when the delete fails) and tell the other instances. Failures are `error` events.
 */
async function uncache(state: ShardState, key: string): Promise<void> {
  const { cache, bus } = state.flusher.config
  if (cache !== undefined) {
    try {
      await cache.delete(key)
    } catch (error) {
      state.flusher.emit({ type: 'error', error })
      try {
        await cache.evictLocal(key)
      } catch {
        // nothing more to do
      }
    }
  }
  if (bus !== undefined) {
    try {
      await bus.publish({ keys: [key] })
    } catch (error) {
      state.flusher.emit({ type: 'error', error })
    }
  }
}

/**
 * Moves entry `id` (`e`, or `undefined` when it could not be parsed) to the dead-letter stream and removes
 * it and the entries it superseded (`ids`) from the queue; first out of the cache, so that once
 * dead-lettered the value is no longer served.
 */
export async function deadLetter(
  state: ShardState,
  e: Entry | undefined,
  id: string,
  ids: string[],
  attempts: number,
  error: unknown,
): Promise<void> {
  const { flusher, keys } = state
  if (e?.key) await uncache(state, e.key)
  await DEAD_LETTER.run(
    flusher.config.redis,
    [keys.stream, keys.dead],
    [
      flusher.config.group,
      e?.key ?? '',
      e?.op ?? '',
      e?.payload ?? '',
      e?.version ?? 0,
      id,
      attempts,
      errorMessage(error),
      errorCode(error),
      ...ids,
    ],
  )
  for (const i of ids) state.retryAt.delete(i)
  flusher.stats.deadLettered++
  flusher.emit({ type: 'dead-letter', key: e?.key ?? '', id, attempts, error })
}

/**
 * Reads up to `count` entries of the dead-letter streams of queue `name` (oldest first; one stream per
 * shard, see `queueKeys`).
 * @example for (const d of await readDeadLetters(redis, 'users')) console.log(d.key, d.error)
 */
export async function readDeadLetters(
  redis: Redis | Cluster | IoredisLike | NodeRedisClientLike,
  name: string,
  count = 100,
): Promise<DeadLetter[]> {
  redis = asRedis('readDeadLetters', redis)
  checkRedis('readDeadLetters', redis)
  checkName('readDeadLetters', 'name', name)
  checkInteger('readDeadLetters', 'count', count, 1, 1_000_000)
  const n = await knownShards(redis, name)
  const perShard = await Promise.all(
    Array.from({ length: n }, async (_, shard) => {
      const raw = (await (redis as Redis).call(
        'XRANGE',
        keysOf(name, shard).dead,
        '-',
        '+',
        'COUNT',
        count,
      )) as unknown
      return entriesOf(raw).map(([id, f]): DeadLetter => {
        const op = f?.get('o')
        return {
          id,
          key: f?.get('k') ?? '',
          operation: op === 's' ? 'save' : op === 'd' ? 'remove' : 'unknown',
          payload: f?.get('v') ?? '',
          version: Number(f?.get('n') ?? 0),
          originalId: f?.get('id') ?? '',
          attempts: Number(f?.get('attempts') ?? 0),
          error: f?.get('error') ?? '',
          code: f?.get('code') ?? '',
          shard,
        }
      })
    }),
  )
  return perShard
    .flat()
    .sort((a, b) => compareIds(a.id, b.id))
    .slice(0, count)
}

/**
 * Moves dead letters back to the queue (after fixing the cause), keeping their versions, so that a key
 * written since keeps its newer value. Returns how many were requeued. Each id is looked up in every
 * shard's dead-letter stream; calling it again with the same ids is harmless (a requeued entry has left the
 * dead-letter stream).
 */
export async function requeueDeadLetters(
  redis: Redis | Cluster | IoredisLike | NodeRedisClientLike,
  name: string,
  ids: readonly string[],
): Promise<number> {
  redis = asRedis('requeueDeadLetters', redis)
  checkRedis('requeueDeadLetters', redis)
  checkName('requeueDeadLetters', 'name', name)
  if (!Array.isArray(ids)) {
    throw invalidArgument('requeueDeadLetters', 'ids', 'an array of stream entry ids ("<ms>-<seq>")', ids)
  }
  ids.forEach((id, i) => {
    if (typeof id !== 'string' || !/^\d+-\d+$/.test(id)) {
      throw invalidArgument('requeueDeadLetters', `ids[${i}]`, 'a stream entry id ("<ms>-<seq>")', id)
    }
  })
  if (ids.length === 0) return 0
  const n = await knownShards(redis, name)
  const moved = await Promise.all(
    Array.from({ length: n }, async (_, shard) => {
      const keys = keysOf(name, shard)
      return Number(await REQUEUE.run(redis, [keys.dead, keys.stream], ids))
    }),
  )
  return moved.reduce((a, b) => a + b, 0)
}
