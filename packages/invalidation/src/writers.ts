import {
  type CacheObserver,
  checkFunction,
  checkObject,
  checkString,
  invalidArgument,
  type Store,
  type WritableCache,
} from '@tierkit/contracts'
import { checkBus, checkCache, checkObserver, checkStore } from './args.js'
import { CacheDeleteError, CacheWriteError, PublishError } from './errors.js'
import { checkRepair, type RepairOptions, RepairQueue, type WriterEvent, type WriterStats } from './repair.js'
import { callStore } from './store.js'
import { checkJitter, checkTtlOption, resolveTtl } from './ttl.js'
import type { InvalidationPublisher, TtlOption } from './types.js'

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
