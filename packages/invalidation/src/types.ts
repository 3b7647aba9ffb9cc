/** Structural shapes this package works on. No tierkit package is imported at run time. */

/**
 * The cache shape: what `createCache` from `@tierkit/redis-aside` returns fits it, as does any object with
 * these four methods. `set`/`delete`/`deleteMany` write L1 and Redis of THIS instance; `evictLocal` drops
 * L1 copies only (what the invalidation bus calls for the other instances).
 */
export interface InvalidationCache {
  /** Stores a value in L1 and L2 for `ttl` ms. */
  set(key: string, value: unknown, options?: { ttl?: number }): unknown
  /** Removes a key from L1 and L2. */
  delete(key: string): unknown
  /** Removes many keys from L1 and L2. */
  deleteMany(keys: readonly string[]): unknown
  /** Drops the L1 copies of these keys only. */
  evictLocal(keys: string | readonly string[]): unknown
}

/** A cache that can also be read: needed by `createTags` (redis-aside's `Cache` fits). */
export interface ReadableCache extends InvalidationCache {
  /** Returns the fresh value or `undefined`. */
  get(key: string): unknown
}

/**
 * What a `Store` receives with every write.
 * - `version`: with `writeBehind`, a positive safe integer that grows with every write on the same queue
 *   (so per key too). A Store honours it by applying the write only when `version` is greater than the
 *   version it holds for the key (and keeping `version` with the row, also for removals as a tombstone),
 *   e.g. in SQL `INSERT ... ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = excluded.version
 *   WHERE t.version < excluded.version`. Then a retry or a reclaimed old entry never overwrites a newer value.
 *   `undefined` for the synchronous strategies (`deleteOnUpdate`, `writeThrough`): apply unconditionally.
 */
export interface WriteContext {
  /** Version of this write (see above), `undefined` for synchronous writes. */
  readonly version: number | undefined
}

/** One write handed to `Store.saveMany`. */
export interface StoreWrite<T = unknown> {
  /** The key. */
  readonly key: string
  /** The value. */
  readonly value: T
  /** The version (see {@link WriteContext}). */
  readonly version: number
}

/**
 * The database, supplied by the user. `save` and `remove` must resolve to `undefined`, `true` (applied) or
 * `false` (skipped because the stored version is newer); anything else is refused as `E_STORE_BAD_RESULT`.
 * Throwing or rejecting is `E_STORE_FAILED`.
 */
export interface Store<T = unknown> {
  /** Reads the value of `key`, `undefined` when absent (used by `storeLoader`). */
  load?(key: string): unknown
  /** Writes `value` for `key`. */
  save(key: string, value: T, context: WriteContext): unknown
  /** Deletes `key`. */
  remove(key: string, context: WriteContext): unknown
  /**
   * Optional batch write used by the write-behind flusher (one transaction for the whole batch is best).
   * All or nothing: when it fails, the flusher falls back to `save` one by one to isolate a poison entry.
   */
  saveMany?(writes: readonly StoreWrite<T>[]): unknown
}

/** Anything that can tell the other instances to evict keys (the bus from `createInvalidationBus`). */
export interface InvalidationPublisher {
  /** Evicts these keys (and/or tags) in every OTHER instance's L1. */
  publish(message: { keys?: readonly string[]; tags?: readonly string[] }): Promise<void>
}

/** A TTL: a number of ms, or a function of the key and value (per-key TTL from the value). */
export type TtlOption<T = unknown> = number | ((key: string, value: T) => number)

/**
 * Receives one cheap call per database write (the `@tierkit/metrics` observer fits): layer `'db'`, outcome
 * `'set'` or `'error'`, and the duration in ms. Must not throw (errors are swallowed).
 */
export interface WriteObserver {
  /** Records one database write. */
  record(layer: 'db', outcome: 'set' | 'error', durationMs?: number): void
}
