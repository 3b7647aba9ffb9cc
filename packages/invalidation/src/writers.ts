import { CacheDeleteError, CacheWriteError, InvalidArgumentError, PublishError } from './errors.js'
import { callStore, checkObserver } from './store.js'
import { checkJitter, checkTtlOption, resolveTtl } from './ttl.js'
import type { InvalidationCache, InvalidationPublisher, Store, TtlOption, WriteObserver } from './types.js'
import { checkKey, checkObject } from './validate.js'

/** Options of {@link deleteOnUpdate} and {@link writeThrough}. */
export interface WriterOptions<T = unknown> {
  /** The cache (redis-aside's `createCache(...)` fits). */
  cache: InvalidationCache
  /** The database. */
  store: Store<T>
  /** Tells the other instances to drop their L1 copies (see `createInvalidationBus`). Without it only this instance's L1 is updated. */
  bus?: InvalidationPublisher
  /**
   * TTL of values set in the cache by `writeThrough` (an integer number of ms from 1 to 2147483647, or a
   * function of key and value returning one). @default the cache's own TTL
   */
  ttl?: TtlOption<T>
  /** Random fraction (0 to 1) by which each TTL is shortened. @default 0 */
  jitter?: number
  /** Told about every database write (`record('db', 'set' | 'error', ms)`); `@tierkit/metrics`' observer fits. */
  observer?: WriteObserver
}

/** Per-call options of `write`. */
export interface WriteOptions {
  /**
   * TTL of this value in ms (`writeThrough`, `writeBehind`); overrides the writer's `ttl`. An integer from 1
   * to 2147483647: anything else is refused with `InvalidArgumentError` before the database is written.
   */
  ttl?: number
}

/** A synchronous write strategy returned by {@link deleteOnUpdate} or {@link writeThrough}. */
export interface Writer<T = unknown> {
  /**
   * Writes `value` to the database, then updates the cache (see the strategy).
   * @throws InvalidArgumentError on an empty key or an `undefined` value (nothing touched).
   * @throws StoreError (`E_STORE_FAILED`) / StoreResultError (`E_STORE_BAD_RESULT`): the database write failed; the cache is untouched.
   * @throws CacheWriteError / CacheDeleteError: the database was written but the cache could not be updated as planned.
   * @throws PublishError: database and local cache are updated, the other instances were not told.
   */
  write(key: string, value: T, options?: WriteOptions): Promise<void>
  /**
   * Removes `key` from the database, then deletes it from the cache and every instance's L1.
   * @throws as `write`.
   */
  remove(key: string): Promise<void>
}

function checkOptions<T>(options: WriterOptions<T>, fn: string): void {
  checkObject(options, `${fn} options`)
  const { cache, store, bus } = options
  if (
    typeof cache !== 'object' ||
    cache === null ||
    typeof cache.set !== 'function' ||
    typeof cache.delete !== 'function' ||
    typeof cache.deleteMany !== 'function' ||
    typeof cache.evictLocal !== 'function'
  ) {
    throw new InvalidArgumentError(`${fn}: cache must have set, delete, deleteMany and evictLocal methods`)
  }
  if (
    typeof store !== 'object' ||
    store === null ||
    typeof store.save !== 'function' ||
    typeof store.remove !== 'function'
  ) {
    throw new InvalidArgumentError(`${fn}: store must have save and remove methods`)
  }
  if (bus !== undefined && (typeof bus !== 'object' || bus === null || typeof bus.publish !== 'function')) {
    throw new InvalidArgumentError(`${fn}: bus must have a publish method`)
  }
  checkTtlOption(options.ttl, fn)
  checkJitter(options.jitter, fn)
  checkObserver(options.observer, fn)
}

function checkValue(value: unknown, fn: string): void {
  if (value === undefined) throw new InvalidArgumentError(`${fn}: value must not be undefined (use remove)`)
}

async function publish(bus: InvalidationPublisher | undefined, key: string): Promise<void> {
  if (bus === undefined) return
  try {
    await bus.publish({ keys: [key] })
  } catch (e) {
    throw e instanceof PublishError ? e : new PublishError(e)
  }
}

async function deleteEverywhere(
  cache: InvalidationCache,
  bus: InvalidationPublisher | undefined,
  key: string,
): Promise<void> {
  let failure: unknown
  try {
    await cache.delete(key)
  } catch (e) {
    failure = e
    try {
      await cache.evictLocal(key)
    } catch {
      // the error above is what matters
    }
  }
  // Tell the others even when our own delete failed: their L1 copies are stale either way.
  await publish(bus, key)
  if (failure !== undefined) throw new CacheDeleteError([key], failure)
}

/**
 * Delete-on-update ("explicit delete", the rule of thumb): write the database, then delete the key from
 * Redis and this instance's L1, and tell every other instance to evict it from L1 (through `bus`). If the
 * database write fails, the cache is untouched. The next read loads the new value.
 * @throws InvalidArgumentError when an option is invalid.
 * @example
 * const users = deleteOnUpdate({ cache, store: usersTable, bus })
 * await users.write('user:1', { name: 'Ada' })
 */
export function deleteOnUpdate<T = unknown>(options: WriterOptions<T>): Writer<T> {
  checkOptions(options, 'deleteOnUpdate')
  const { cache, store, bus, observer } = options
  return {
    async write(key, value) {
      checkKey(key, 'deleteOnUpdate.write')
      checkValue(value, 'deleteOnUpdate.write')
      await callStore('save', key, () => store.save(key, value, { version: undefined }), observer)
      await deleteEverywhere(cache, bus, key)
    },
    async remove(key) {
      checkKey(key, 'deleteOnUpdate.remove')
      await callStore('remove', key, () => store.remove(key, { version: undefined }), observer)
      await deleteEverywhere(cache, bus, key)
    },
  }
}

/**
 * Write-through: write the database, then set the new value in L2 and L1 (and evict the other instances'
 * L1 copies through `bus`, so they read the new value from L2). If setting the cache fails, the key is
 * deleted rather than left stale (`CacheWriteError`). If the database write fails, the cache is untouched.
 * @throws InvalidArgumentError when an option is invalid.
 * @example
 * const users = writeThrough({ cache, store: usersTable, bus, ttl: 60_000, jitter: 0.1 })
 * await users.write('user:1', { name: 'Ada' })
 */
export function writeThrough<T = unknown>(options: WriterOptions<T>): Writer<T> {
  checkOptions(options, 'writeThrough')
  const { cache, store, bus, ttl, jitter, observer } = options
  return {
    async write(key, value, callOptions) {
      checkKey(key, 'writeThrough.write')
      checkValue(value, 'writeThrough.write')
      if (callOptions !== undefined) checkObject(callOptions, 'writeThrough.write options')
      const t = resolveTtl(ttl, jitter, key, value, callOptions?.ttl as number | undefined)
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
        await publish(bus, key).catch(() => {})
        throw new CacheWriteError(key, deleted, e)
      }
      await publish(bus, key)
    },
    async remove(key) {
      checkKey(key, 'writeThrough.remove')
      await callStore('remove', key, () => store.remove(key, { version: undefined }), observer)
      await deleteEverywhere(cache, bus, key)
    },
  }
}
