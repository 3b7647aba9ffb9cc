/**
 * The structural interfaces where the tierkit packages meet, and the family's vocabulary. No package imports
 * another feature package: each accepts these shapes, and the user wires them (see docs/architecture.md).
 */

/**
 * The layers of the read path, as every package and every metric names them: the CDN, the in-process cache,
 * Redis, and the source a loader reads (a database or anything else: `db` is the loader's layer).
 */
export type CacheLayer = 'cdn' | 'l1' | 'l2' | 'db'

/** Every layer, in the order a request meets them. */
export const CACHE_LAYERS: readonly CacheLayer[] = Object.freeze(['cdn', 'l1', 'l2', 'db'] as const)

/**
 * What happened in a layer.
 * - `hit`: answered with a fresh value (for `db`: the loader returned);
 * - `miss`: nothing (fresh) there;
 * - `stale`: answered with a value past its TTL, inside its grace (for `db`: a stale value was served in the
 *   loader's place);
 * - `error`: the layer failed (Redis down or slow, a loader that threw or timed out, a corrupt payload);
 * - `set`: a value was written to it (for `db`: a database write);
 * - `evict`: a value left it before its time (policy, invalidation).
 */
export type CacheOutcome = 'hit' | 'miss' | 'stale' | 'error' | 'set' | 'evict'

/** Every outcome. */
export const CACHE_OUTCOMES: readonly CacheOutcome[] = Object.freeze([
  'hit',
  'miss',
  'stale',
  'error',
  'set',
  'evict',
] as const)

/**
 * Receives one cheap call per layer visited (the `@tierkit/metrics` observer is one). Must not throw; a
 * package calling it swallows what it throws.
 */
export interface CacheObserver {
  /** Records one outcome; `duration` is the time spent in that layer in ms, when measured. */
  record(layer: CacheLayer, outcome: CacheOutcome, duration?: number): void
}

/**
 * The in-process cache as a read path uses it: `L1Cache` from `@tierkit/l1-cache` is one; a `Map`-backed
 * object with these four methods is another.
 */
export interface L1Store {
  /** The stored value, or `undefined`. */
  get(key: string): unknown
  /** Stores `value` for `ttl` ms (the store's default when absent). */
  set(key: string, value: unknown, options?: { ttl?: number }): unknown
  /** Removes `key`. */
  delete(key: string): unknown
  /** Removes everything. */
  clear(): unknown
}

/**
 * The cache as the write path uses it (`@tierkit/redis-aside`'s cache is one): write, delete, and evict what
 * this process holds. `evictLocal()` without keys evicts everything this process holds (after missed
 * invalidations).
 */
export interface WritableCache {
  /** Stores a value in L1 and L2 for `ttl` ms. */
  set(key: string, value: unknown, options?: { ttl?: number }): unknown
  /** Removes a key from L1 and L2. */
  delete(key: string): unknown
  /** Removes many keys from L1 and L2. */
  deleteMany(keys: readonly string[]): unknown
  /** Evicts these keys from this process only (L1, reads and loads in flight); without keys, everything. */
  evictLocal(keys?: string | readonly string[]): unknown
}

/**
 * What a `Store` receives with every write. `version`: with write-behind, a positive safe integer that grows
 * with every write of the queue; a Store honours it by applying a write only when `version` is greater than
 * the one it holds for the key (keeping it with the row, for removals too). `undefined` for synchronous
 * writes (delete-on-update, write-through): apply unconditionally.
 */
export interface WriteContext {
  /** The write's version, `undefined` for synchronous writes. */
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
 * The database, as the write path uses it; supplied by the user. `save` and `remove` resolve to `undefined`,
 * `true` (applied) or `false` (skipped: the stored version is newer). The contract suite
 * (`@tierkit/contracts/testing`, `testStore`) checks an implementation.
 */
export interface Store<T = unknown> {
  /** Writes `value` for `key`. */
  save(key: string, value: T, context: WriteContext): unknown
  /** Deletes `key`. */
  remove(key: string, context: WriteContext): unknown
  /** Optional batch write (one transaction is best); all or nothing. */
  saveMany?(writes: readonly StoreWrite<T>[]): unknown
}

/**
 * What every loader of the family receives: the key, a signal (aborted when no caller waits any more, or at
 * the hard timeout) and the stale value being refreshed or replaced, if any.
 */
export interface LoaderContext<K = string, T = unknown> {
  /** The key being loaded. */
  readonly key: K
  /** Aborted when nobody waits for the result any more (every caller aborted, or a hard timeout). */
  readonly signal: AbortSignal
  /** The value past its TTL (inside its grace) being refreshed or replaced, else `undefined`. */
  readonly stale: T | undefined
}

/** The options of every `close()` of the family. */
export interface CloseOptions {
  /** How long to wait for work in flight to finish, in ms (each package documents its default). */
  timeout?: number
}

/**
 * The counters a cache keeps itself, as `@tierkit/metrics`' `watch(layer, source)` reads them at scrape time
 * (`L1Cache.stats()` returns them): monotonic totals since creation.
 */
export interface CacheStats {
  /** Reads answered with a fresh value. */
  readonly hits: number
  /** Reads that found nothing fresh. */
  readonly misses: number
  /** Reads answered with a stale value (inside its grace). */
  readonly stale?: number
  /** Failures of the layer itself (not of a loader: that is the `db` layer's). */
  readonly errors?: number
  /** Values written. */
  readonly sets?: number
  /** Values that left before their time (policy, invalidation). */
  readonly evictions?: number
}
