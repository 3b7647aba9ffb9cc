import {
  type CacheObserver,
  checkDuration,
  checkFunction,
  checkInteger,
  checkObject,
  checkString,
  invalidArgument,
  refuseRenamed,
  type Store,
  type WritableCache,
} from '@tierkit/contracts'
import { checkBus, checkCache, checkObserver, checkStore } from './args.js'
import { CacheDeleteError, CacheWriteError, PublishError, RepairQueueFullError } from './errors.js'
import { callStore } from './store.js'
import { checkJitter, checkTtlOption, resolveTtl } from './ttl.js'
import type { InvalidationPublisher, TtlOption } from './types.js'

/**
 * What a writer reports through `onEvent`: the background repair of invalidations that failed after the
 * database was written (Redis or the bus unreachable).
 */
export type WriterEvent =
  /** The cache delete or the bus publish of `key` failed after the database write; queued for a retry. */
  | { type: 'repair-queued'; key: string; pending: number; error: unknown }
  /** A retry deleted these keys from the cache and told the other instances: they are invalidated everywhere. */
  | { type: 'repaired'; keys: readonly string[]; pending: number }
  /** A retry failed (Redis still unreachable); the next one runs after the backoff (doubling, at most 1 s). */
  | { type: 'repair-failed'; keys: readonly string[]; error: unknown; attempt: number }
  /** The queue holds `maxKeys` keys: `key` was not queued (its write rejected with `RepairQueueFullError`). */
  | { type: 'repair-overflow'; key: string; maxKeys: number }
  /** The cache or the bus was closed: the queued keys were dropped (nothing can invalidate them any more). */
  | { type: 'repair-dropped'; keys: readonly string[]; error: unknown }

/** Counters of a writer's repair queue. */
export interface WriterStats {
  /** Keys waiting for their invalidation to be retried. */
  pendingRepairs: number
  /** Keys invalidated by a retry. */
  repaired: number
  /** Keys that could not be queued because the queue was full. */
  overflowed: number
}

/** The `repair` option of the writers and of `writeBehind`. */
export interface RepairOptions {
  /** Most keys waiting for a retry. @default 10000 */
  maxKeys?: number
  /** Delay before the first retry, in ms; it doubles while retries fail, up to 1 s. @default 100 */
  retryDelay?: number
}

/** Options of {@link deleteOnUpdate} and {@link writeThrough}. */
export interface WriterOptions<T = unknown> {
  /** The cache (redis-aside's `createCache(...)` is one). */
  cache: WritableCache
  /** The database. */
  store: Store<T>
  /** Tells the other instances to drop their L1 copies (see `createInvalidationBus`). Without it only this instance's L1 is updated. */
  bus?: InvalidationPublisher
  /**
   * TTL of values set in the cache by `writeThrough` (an integer number of ms from 1 to 315360000000, or a
   * function of key and value returning one). @default the cache's own TTL
   */
  ttl?: TtlOption<T>
  /** Random fraction (0 to 1) by which each TTL is shortened. @default 0 */
  jitter?: number
  /**
   * Told about every database write: `record('db', 'set' | 'error', duration)` (a `CacheObserver`;
   * `@tierkit/metrics`' observer is one).
   */
  observer?: CacheObserver
  /**
   * The background retry of invalidations that failed after the database was written: the key is deleted
   * from the cache and published on the bus again after `retryDelay` ms (doubling up to 1 s while it fails)
   * until it succeeds. At most `maxKeys` keys wait (a key is queued once); beyond, the write rejects with
   * `RepairQueueFullError`. @default { maxKeys: 10000, retryDelay: 100 }
   */
  repair?: RepairOptions
  /** Receives the repair queue's events (see {@link WriterEvent}). A listener that throws is ignored. */
  onEvent?: (event: WriterEvent) => void
}

/** Per-call options of `write`. */
export interface WriteOptions {
  /**
   * TTL of this value in ms (`writeThrough`, `writeBehind`); overrides the writer's `ttl`. An integer from 1
   * to 315360000000: anything else is refused with `TierkitTypeError` before the database is written.
   */
  ttl?: number
}

/** A synchronous write strategy returned by {@link deleteOnUpdate} or {@link writeThrough}. */
export interface Writer<T = unknown> {
  /**
   * Writes `value` to the database, then updates the cache (see the strategy).
   * @throws TierkitTypeError (`E_INVALID_ARGUMENT`) on an empty key, an `undefined` value or a bad TTL
   * (nothing touched).
   * @throws StoreError (`E_STORE_FAILED`) / StoreResultError (`E_STORE_BAD_RESULT`): the database write failed; the cache is untouched.
   * @throws CacheWriteError / CacheDeleteError: the database was written but the cache could not be updated
   * as planned; when the key could not be deleted (or the other instances told), it is queued and the
   * invalidation is retried in the background until it succeeds (see `stats()`, `onEvent`).
   * @throws PublishError: database and local cache are updated, the other instances were not told yet; the
   * publish is retried in the background.
   * @throws RepairQueueFullError (`E_REPAIR_QUEUE_FULL`): as above, but the repair queue was full, so nothing
   * will retry this key: it may be served stale until its TTL.
   */
  write(key: string, value: T, options?: WriteOptions): Promise<void>
  /**
   * Removes `key` from the database, then deletes it from the cache and every instance's L1.
   * @throws as `write`.
   */
  remove(key: string): Promise<void>
  /** Counters of the repair queue. */
  stats(): WriterStats
}

/** Checks the `repair` option. */
export function checkRepair(where: string, repair: unknown): void {
  if (repair === undefined) return
  checkObject(where, 'repair', repair)
  refuseRenamed(where, repair as object, { retryMs: 'renamed retryDelay' }, 'repair.')
  const { maxKeys, retryDelay } = repair as RepairOptions
  if (maxKeys !== undefined) checkInteger(where, 'repair.maxKeys', maxKeys, 1, 100_000_000)
  if (retryDelay !== undefined) checkDuration(where, 'repair.retryDelay', retryDelay, 1)
}

function checkWriterOptions<T>(options: WriterOptions<T>, where: string): void {
  checkObject(where, 'options', options)
  checkCache(where, options.cache)
  checkStore(where, options.store)
  checkBus(where, options.bus)
  checkTtlOption(where, options.ttl)
  checkJitter(where, options.jitter)
  checkObserver(where, options.observer)
  checkRepair(where, options.repair)
  checkFunction(where, 'onEvent', options.onEvent, true)
}

const REPAIR_BATCH = 500
const REPAIR_MAX_DELAY = 1000

/**
 * Keys whose invalidation failed after the database write, retried in the background until done: delete
 * from the cache (when the delete was what failed), then publish on the bus. Bounded; one entry per key.
 * Internal (not exported by the package): the writers here and write-behind's writer share it.
 * @internal
 */
export class RepairQueue {
  private readonly pending = new Map<string, { del: boolean; gen: number }>()
  private gen = 0
  private failures = 0
  private running = false
  private timer: ReturnType<typeof setTimeout> | undefined
  readonly stats: WriterStats = { pendingRepairs: 0, repaired: 0, overflowed: 0 }

  constructor(
    private readonly cache: WritableCache,
    private readonly bus: InvalidationPublisher | undefined,
    readonly maxKeys: number,
    private readonly retryDelay: number,
    private readonly onEvent: ((e: WriterEvent) => void) | undefined,
  ) {}

  private emit(e: WriterEvent): void {
    try {
      this.onEvent?.(e)
    } catch {
      // must not break the write path
    }
  }

  /**
   * Queues `key` (`del`: its cache delete failed). Throws `RepairQueueFullError` when it cannot be queued,
   * else returns, and the caller throws `error` (the write still fails loudly).
   */
  add(key: string, del: boolean, error: unknown): void {
    const cur = this.pending.get(key)
    if (cur === undefined && this.pending.size >= this.maxKeys) {
      this.stats.overflowed++
      this.emit({ type: 'repair-overflow', key, maxKeys: this.maxKeys })
      throw new RepairQueueFullError(key, this.maxKeys, error)
    }
    this.pending.set(key, { del: del || (cur?.del ?? false), gen: ++this.gen })
    this.stats.pendingRepairs = this.pending.size
    this.emit({ type: 'repair-queued', key, pending: this.pending.size, error })
    this.schedule()
  }

  /** A later write invalidated `key` completely: no retry needed. */
  done(key: string): void {
    if (this.pending.delete(key)) this.stats.pendingRepairs = this.pending.size
  }

  private schedule(): void {
    if (this.running || this.timer !== undefined || this.pending.size === 0) return
    const delay =
      this.failures === 0
        ? this.retryDelay
        : Math.min(this.retryDelay * 2 ** (this.failures - 1), Math.max(this.retryDelay, REPAIR_MAX_DELAY))
    this.timer = setTimeout(() => {
      this.timer = undefined
      void this.round()
    }, delay)
    this.timer.unref?.()
  }

  private async round(): Promise<void> {
    this.running = true
    const batch: Array<[string, { del: boolean; gen: number }]> = []
    for (const e of this.pending) {
      batch.push([e[0], { ...e[1] }])
      if (batch.length === REPAIR_BATCH) break
    }
    const keys = batch.map(([k]) => k)
    try {
      const del = batch.filter(([, e]) => e.del).map(([k]) => k)
      if (del.length > 0) await this.cache.deleteMany(del)
      for (const [k, e] of batch) {
        const cur = this.pending.get(k)
        if (e.del && cur !== undefined && cur.gen === e.gen) cur.del = false
      }
      if (this.bus !== undefined) await this.bus.publish({ keys })
      const repaired: string[] = []
      for (const [k, e] of batch) {
        if (this.pending.get(k)?.gen === e.gen) {
          this.pending.delete(k)
          repaired.push(k)
        }
      }
      this.failures = 0
      this.stats.repaired += repaired.length
      this.stats.pendingRepairs = this.pending.size
      this.emit({ type: 'repaired', keys: repaired, pending: this.pending.size })
    } catch (error) {
      this.failures++
      // the cache or the bus was closed (contracts' ClosedError): nothing can invalidate these keys any more
      if ((error as { code?: unknown })?.code === 'E_CLOSED') {
        const dropped = [...this.pending.keys()]
        this.pending.clear()
        this.stats.pendingRepairs = 0
        this.emit({ type: 'repair-dropped', keys: dropped, error })
      } else {
        this.emit({ type: 'repair-failed', keys, error, attempt: this.failures })
      }
    } finally {
      this.running = false
    }
    this.schedule()
  }
}

function repairQueue<T>(options: WriterOptions<T>): RepairQueue {
  return new RepairQueue(
    options.cache,
    options.bus,
    options.repair?.maxKeys ?? 10_000,
    options.repair?.retryDelay ?? 100,
    options.onEvent,
  )
}

/** Refuses an `undefined` value (a removal is `remove(key)`). */
export function checkValue(where: string, value: unknown): void {
  if (value === undefined) {
    throw invalidArgument(where, 'value', 'defined (to delete the key, call remove)', value)
  }
}

async function publish(bus: InvalidationPublisher | undefined, key: string): Promise<void> {
  if (bus === undefined) return
  try {
    await bus.publish({ keys: [key] })
  } catch (e) {
    throw e instanceof PublishError ? e : new PublishError(undefined, e)
  }
}

async function deleteEverywhere(
  cache: WritableCache,
  bus: InvalidationPublisher | undefined,
  key: string,
  repair: RepairQueue,
): Promise<void> {
  let deleteFailure: unknown
  try {
    await cache.delete(key)
  } catch (e) {
    deleteFailure = e
    try {
      await cache.evictLocal(key)
    } catch {
      // the error above is what matters
    }
  }
  // Tell the others even when our own delete failed: their L1 copies are stale either way.
  let publishFailure: unknown
  try {
    await publish(bus, key)
  } catch (e) {
    publishFailure = e
  }
  if (deleteFailure === undefined && publishFailure === undefined) {
    repair.done(key)
    return
  }
  const error = deleteFailure !== undefined ? new CacheDeleteError([key], deleteFailure) : publishFailure
  repair.add(key, deleteFailure !== undefined, error) // throws RepairQueueFullError when full
  throw error
}

/**
 * Delete-on-update ("explicit delete", the rule of thumb): write the database, then delete the key from
 * Redis and this instance's L1, and tell every other instance to evict it from L1 (through `bus`). If the
 * database write fails, the cache is untouched. The next read loads the new value.
 * @throws TierkitTypeError (`E_INVALID_ARGUMENT`) when an option is invalid.
 * @example
 * const users = deleteOnUpdate({ cache, store: usersTable, bus })
 * await users.write('user:1', { name: 'Ada' })
 */
export function deleteOnUpdate<T = unknown>(options: WriterOptions<T>): Writer<T> {
  checkWriterOptions(options, 'deleteOnUpdate')
  const { cache, store, bus, observer } = options
  const repair = repairQueue(options)
  return {
    async write(key, value) {
      checkString('deleteOnUpdate.write', 'key', key)
      checkValue('deleteOnUpdate.write', value)
      await callStore('save', key, () => store.save(key, value, { version: undefined }), observer)
      await deleteEverywhere(cache, bus, key, repair)
    },
    async remove(key) {
      checkString('deleteOnUpdate.remove', 'key', key)
      await callStore('remove', key, () => store.remove(key, { version: undefined }), observer)
      await deleteEverywhere(cache, bus, key, repair)
    },
    stats: () => ({ ...repair.stats }),
  }
}

/**
 * Write-through: write the database, then set the new value in L2 and L1 (and evict the other instances'
 * L1 copies through `bus`, so they read the new value from L2). If setting the cache fails, the key is
 * deleted rather than left stale (`CacheWriteError`). If the database write fails, the cache is untouched.
 * @throws TierkitTypeError (`E_INVALID_ARGUMENT`) when an option is invalid.
 * @example
 * const users = writeThrough({ cache, store: usersTable, bus, ttl: 60_000, jitter: 0.1 })
 * await users.write('user:1', { name: 'Ada' })
 */
export function writeThrough<T = unknown>(options: WriterOptions<T>): Writer<T> {
  checkWriterOptions(options, 'writeThrough')
  const { cache, store, bus, ttl, jitter, observer } = options
  const repair = repairQueue(options)
  return {
    async write(key, value, callOptions) {
      checkString('writeThrough.write', 'key', key)
      checkValue('writeThrough.write', value)
      checkObject('writeThrough.write', 'options', callOptions, true)
      const t = resolveTtl('writeThrough.write', ttl, jitter, key, value, callOptions?.ttl)
      await callStore('save', key, () => store.save(key, value, { version: undefined }), observer)
      try {
        await cache.set(key, value, t === undefined ? undefined : { ttl: t })
      } catch (e) {
        let deleted = true
        try {
          await cache.delete(key)
        } catch {
          deleted = false
          try {
            await cache.evictLocal(key)
          } catch {
            // nothing more to do
          }
        }
        const published = await publish(bus, key).then(
          () => true,
          () => false,
        )
        const error = new CacheWriteError(key, deleted, e)
        if (deleted && published) repair.done(key)
        else repair.add(key, !deleted, error) // throws RepairQueueFullError when full
        throw error
      }
      try {
        await publish(bus, key)
      } catch (e) {
        repair.add(key, false, e) // throws RepairQueueFullError when full
        throw e
      }
      repair.done(key)
    },
    async remove(key) {
      checkString('writeThrough.remove', 'key', key)
      await callStore('remove', key, () => store.remove(key, { version: undefined }), observer)
      await deleteEverywhere(cache, bus, key, repair)
    },
    stats: () => ({ ...repair.stats }),
  }
}
