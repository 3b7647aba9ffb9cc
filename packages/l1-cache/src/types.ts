/**
 * The public types of `@tierkit/l1-cache`: options, events, stats, the loader and the names of the policies.
 */
import type { LoaderContext } from '@tierkit/contracts'

/**
 * Eviction policy.
 * - `'tinylfu'` (default): adaptive W-TinyLFU. New entries enter a small LRU *window*; entries leaving the
 *   window are admitted to the main space (segmented LRU) only if they were used more often than the entry they
 *   would displace. The window size is tuned continuously by hill climbing on the hit ratio, so the policy
 *   behaves like LRU on recency-heavy workloads and resists scans and loops elsewhere.
 * - `'lru'`: exact least-recently-used; on the same stream it hits exactly like lru-cache 11 with the same `max`.
 */
export type Policy = 'lru' | 'tinylfu'

/**
 * Why an entry left the cache, as given by an `evict` event.
 * - `evict`: pushed out by the policy to respect `max`/`maxSize`
 * - `expire`: its TTL (plus `grace`) passed
 * - `delete`: `delete(key)` (or `set(key, undefined)`)
 * - `set`: its value was replaced by `set` with a different value
 * - `clear`: `clear()` or `close()`
 */
export type EvictionReason = 'evict' | 'expire' | 'delete' | 'set' | 'clear'

/**
 * What the `onEvent` option receives.
 * - `evict`: an entry left the cache (`reason` says why), delivered once the cache is consistent again (the
 *   listener may use the cache);
 * - `refresh-error`: a background refresh (started inside `grace`) failed; the stale value is kept until its
 *   grace ends. Also counted in `stats().loadErrors`.
 */
export type L1CacheEvent<K, V> =
  | { readonly type: 'evict'; readonly key: K; readonly value: V; readonly reason: EvictionReason }
  | { readonly type: 'refresh-error'; readonly key: K; readonly error: unknown }

/** Options of {@link L1Cache}. At least one of `max` and `maxSize` must be greater than 0. */
export interface L1CacheOptions<K, V> {
  /**
   * Maximum number of entries, an integer. `0` means no bound on the count (then `maxSize` is required).
   * Nothing proportional to `max` is allocated up front: storage grows with the content.
   * @default 0
   */
  max?: number
  /**
   * Maximum total weight of the entries, as given by `sizeOf` or the `size` option of `set`. `0`: no bound.
   * @default 0
   */
  maxSize?: number
  /**
   * Weight of an entry, used with `maxSize` (not called without it). Must return a non-negative finite
   * number, otherwise `set` throws {@link InvalidSizeError} and stores nothing. Without it, each entry weighs
   * `1` unless `set` is given a `size`.
   * @default undefined
   */
  sizeOf?: (value: V, key: K) => number
  /**
   * Default time to live of an entry, in ms (an integer). `0`: entries do not expire.
   * @default 0
   */
  ttl?: number
  /**
   * Eviction policy: `'tinylfu'` (adaptive W-TinyLFU, scan-resistant) or `'lru'` (exact LRU).
   * @default 'tinylfu'
   */
  policy?: Policy
  /**
   * How long past its `ttl` an entry may still be served stale, in ms (an integer): inside it, `getOrLoad`
   * returns the stale value at once while a single background load refreshes it. `get`, `peek` and `has`
   * never return a stale value.
   * @default 0
   */
  grace?: number
  /**
   * Receives the cache's events ({@link L1CacheEvent}: `evict`, `refresh-error`), synchronously. A listener
   * that throws is ignored (the operation and the other events are not affected).
   * @default undefined
   */
  onEvent?: (event: L1CacheEvent<K, V>) => void
  /**
   * Clock in milliseconds, monotonic. Injected clocks are read at every check, which makes tests exact.
   * @default a coarse `performance.now()` (re-read every 256 hits and after ~1 ms of event-loop time)
   */
  clock?: () => number
  /**
   * Period in ms of the single, unref'd background sweep that reclaims expired entries (and shrinks the
   * storage) while the cache is idle. `0` disables it; expired entries are then reclaimed on access, a few on
   * every insert, and by `purgeStale()`.
   * @default 1000
   */
  sweepInterval?: number
}

/** Options of {@link L1Cache.set}. */
export interface SetOptions {
  /** Time to live of this entry in ms (an integer); `0`: never expires. @default the cache's `ttl` */
  ttl?: number
  /** Weight of this entry (overrides `sizeOf`). @default `sizeOf(value, key)`, or 1 */
  size?: number
}

/** Options of {@link L1Cache.getOrLoad}. */
export interface GetOrLoadOptions {
  /** Time to live of the loaded entry in ms (an integer). @default the cache's `ttl` */
  ttl?: number
  /**
   * Aborting it rejects this caller at once with `AbortedError` (`E_ABORTED`); other callers keep waiting,
   * and the last caller's abort aborts the loader's `ctx.signal`.
   */
  signal?: AbortSignal
}

/**
 * A `getOrLoad` loader: receives the family's one context (`ctx.key`, `ctx.signal`, `ctx.stale`) and returns
 * the value (or a promise of it); `undefined` is returned to the callers but not cached.
 */
export type Loader<K, V> = (ctx: LoaderContext<K, V>) => V | undefined | PromiseLike<V | undefined>

/** Counters returned by {@link L1Cache.stats}. All counters start at 0 and only grow. */
export interface L1CacheStats {
  /** `get`/`getOrLoad` calls answered with a fresh value (outcome `hit`). */
  hits: number
  /** `get`/`getOrLoad` calls that found nothing usable (outcome `miss`). */
  misses: number
  /** `getOrLoad` calls answered with a value past its TTL, inside its `grace` (outcome `stale`). */
  stale: number
  /** Successful `set` calls (including those made by `getOrLoad`). */
  sets: number
  /** Entries removed by `delete`. */
  deletes: number
  /** Entries pushed out by the policy (outcome `evict`; expirations are not counted here). */
  evictions: number
  /** Entries removed because their TTL (plus `grace`) passed. */
  expirations: number
  /** Loader calls started by `getOrLoad` (including background refreshes). */
  loads: number
  /** Loader calls that rejected or threw. */
  loadErrors: number
  /** Entries refused because they were larger than `maxSize`. */
  oversized: number
  /** Entries currently stored (may include expired ones not yet reclaimed). */
  size: number
  /** Total weight currently stored. */
  calculatedSize: number
  /** Lookups answered from the cache, fresh or stale: `(hits + stale) / (hits + stale + misses)`, 0 before the first. */
  hitRatio: number
  /** Current window share of the capacity (`tinylfu` only; 1 for `lru`). */
  windowRatio: number
}
