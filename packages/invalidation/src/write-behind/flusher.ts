/**
 * A running flusher: one `ShardLoop` per shard (more when writers recorded more shards), the counters and
 * events they share, the blocking connection of a queue of one shard, and `flush`/`close` (drain, then
 * stop the loops and close that connection).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { ClosedError, closeTimeout } from '@tierkit/contracts'
import { classifyRedisError } from '@tierkit/contracts/redis'
import type { Redis } from 'ioredis'
import { withRedis } from '../args.js'
import { connectIfWaiting } from '../connect.js'
import { ShardCountError } from '../errors.js'
import {
  DEFAULT_DRAIN_TIMEOUT,
  type FlusherConfig,
  type FlusherContext,
  resolveFlusherOptions,
} from './config.js'
import { waitDrained } from './drain.js'
import { keysOf, MAX_SHARDS, shardsKey } from './keys.js'
import { ShardLoop } from './shard.js'
import type { Flusher, FlusherEvent, FlusherOptions, FlusherStats } from './types.js'

/**
 * Starts a flusher: a consumer in a Redis Stream consumer group that applies queued writes to the `Store`.
 * Each batch is coalesced by key (the highest version wins; the older entries are removed with it), written
 * with `Store.saveMany` when there is one (falling back to `save` one by one to isolate a failing entry),
 * and acknowledged atomically with a per-key applied-version guard, so a replayed older entry is skipped.
 * A failed write is retried with exponential backoff; after `maxAttempts` it goes to the dead-letter stream.
 * Entries left pending by a crashed consumer are taken over with `XAUTOCLAIM` after `claimTimeout`.
 * @throws TierkitTypeError (`E_INVALID_ARGUMENT`) when an option is invalid.
 * @example
 * const flusher = createFlusher({ redis, name: 'users', store: usersTable })
 * process.on('SIGTERM', () => flusher.close())
 */
export function createFlusher<T = unknown>(options: FlusherOptions<T>): Flusher {
  return startFlusher(options, 'createFlusher', '').handle
}

/** `createFlusher`, its options named `prefix + name` in messages (`writeBehind: flusher.batchSize ...`). */
export function startFlusher<T>(options: FlusherOptions<T>, where: string, prefix: string): FlusherRun<T> {
  return new FlusherRun(resolveFlusherOptions(withRedis(where, options), where, prefix))
}

/** The state of a running flusher, shared by its shard loops; `handle` is what the user gets. */
export class FlusherRun<T = unknown> implements FlusherContext<T> {
  readonly config: FlusherConfig<T>
  readonly stats: FlusherStats = {
    saved: 0,
    coalesced: 0,
    skipped: 0,
    retries: 0,
    deadLettered: 0,
    claimed: 0,
    batches: 0,
    prunedConsumers: 0,
  }
  readonly handle: Flusher
  highest = 0
  stopping = false
  private stopNow: () => void = () => {}
  private readonly stopped: Promise<void>
  /** One loop per shard, each on its own: a shard whose master is down does not hold the others back. */
  private readonly shards: ShardLoop<T>[] = []
  private blockingConnection: Redis | undefined
  private readonly following: Promise<void>
  private closing: Promise<void> | undefined

  constructor(config: FlusherConfig<T>) {
    this.config = config
    this.stopped = new Promise<void>((resolve) => {
      this.stopNow = resolve
    })
    this.handle = handleOf(this)
    for (let i = 0; i < config.shards; i++) this.shards.push(new ShardLoop(this, i))
    this.following = this.followRecordedShards()
  }

  emit(e: FlusherEvent): void {
    if (!this.config.onEvent) return
    try {
      // the one place a flusher reports Redis's errors: an ACL denial is contracts' PermissionError naming the command
      this.config.onEvent(e.type === 'error' ? { type: 'error', error: classifyRedisError(e.error) } : e)
    } catch {
      // ignore
    }
  }

  pause(ms: number): Promise<void> {
    return Promise.race([sleep(ms), this.stopped])
  }

  retrying(): number {
    return this.shards.reduce((n, s) => n + s.retryAt.size, 0)
  }

  shardCount(): number {
    return this.shards.length
  }

  /** A duplicate of `redis`, made on first use, for the blocking reads of a queue of one shard. */
  blocking(): Redis {
    if (this.blockingConnection === undefined) {
      const c = (this.config.redis as Redis).duplicate() as Redis
      c.on('error', () => {})
      // a duplicate of a `lazyConnect: true` client: connect now rather than on the first blocking read
      connectIfWaiting(c)
      this.blockingConnection = c
    }
    return this.blockingConnection
  }

  /** Every shard: what is in it now must be applied (or dead-lettered). */
  drain(call: string, timeout: number): Promise<void> {
    const targets = new Map<string, string | null>()
    for (let i = 0; i < this.shards.length; i++) targets.set(keysOf(this.config.name, i).stream, null)
    return waitDrained(call, this.config.name, this.config.redis, targets, timeout)
  }

  /** Drains (as `call`, for the messages), then stops; once. */
  close(call: string, timeout: number): Promise<void> {
    this.closing ??= (async () => {
      let failure: unknown
      try {
        await this.drain(call, timeout)
      } catch (e) {
        failure = e
      }
      this.stopping = true
      this.stopNow()
      await this.following
      await Promise.all(this.shards.map((s) => s.loop))
      const blocking = this.blockingConnection
      if (blocking !== undefined) {
        try {
          await blocking.quit()
        } catch {
          blocking.disconnect()
        }
      }
      if (failure !== undefined) throw failure
    })()
    return this.closing
  }

  /** The promise of the first `close`, once one was called. */
  get closed(): Promise<void> | undefined {
    return this.closing
  }

  /**
   * Writers record their shard count (`wb:{name}:shards`); a flusher given fewer shards (a mismatch of the
   * `shards` option) reads all the recorded ones, so that no shard is left without a reader.
   */
  private async followRecordedShards(): Promise<void> {
    const { redis, name, claimTimeout } = this.config
    while (!this.stopping) {
      try {
        const recorded = Number(await (redis as Redis).get(shardsKey(name)))
        const n = this.shards.length
        if (Number.isSafeInteger(recorded) && recorded > n && recorded <= MAX_SHARDS) {
          this.emit({ type: 'error', error: new ShardCountError(name, recorded, n) })
          for (let i = n; i < recorded; i++) this.shards.push(new ShardLoop(this, i))
        }
      } catch {
        // the node of the first shard is unreachable: try again later
      }
      await this.pause(Math.min(claimTimeout, 10_000))
    }
  }
}

/** The `Flusher` the user holds. */
function handleOf<T>(run: FlusherRun<T>): Flusher {
  return {
    consumer: run.config.consumer,
    async flush(options) {
      const timeout = closeTimeout('flusher.flush', options, DEFAULT_DRAIN_TIMEOUT)
      if (run.closed !== undefined) throw new ClosedError('the flusher')
      await run.drain('flusher.flush', timeout)
    },
    close(options) {
      if (run.closed !== undefined) return run.closed
      let timeout: number
      try {
        timeout = closeTimeout('flusher.close', options, DEFAULT_DRAIN_TIMEOUT)
      } catch (e) {
        return Promise.reject(e)
      }
      return run.close('flusher.close', timeout)
    },
    stats: () => ({ ...run.stats }),
  }
}
