/** The public types of the cache: its options, its interface, its loaders and its events. */
import type {
  LoaderContext as BaseLoaderContext,
  CacheObserver,
  CloseOptions,
  CorruptPayloadError,
  L1Store,
  Serializer,
  WritableCache,
} from '@tierkit/contracts'
import type { IoredisLike, NodeRedisClientLike } from '@tierkit/contracts/redis'
import type { Cluster, Redis } from 'ioredis'
import type { BreakerState } from './breaker.js'

/**
 * Events for logs and tests: everything that is swallowed so that reads keep working is reported here. A
 * listener that throws is ignored.
 */
export type CacheEvent =
  /** A payload in Redis did not decode: it was treated as a miss and deleted. */
  | { type: 'corrupt'; key: string; error: CorruptPayloadError }
  /**
   * A Redis call failed: `error` is a `RedisUnavailableError` (timeout, connection error) or Redis' error
   * reply. `key` is the cache key, when the call concerns one.
   */
  | { type: 'redis-error'; operation: string; key?: string; error: unknown }
  | {
      type: 'breaker'
      state: BreakerState
      /** On a Cluster, the master (`host:port`) whose breaker changed; absent on a single Redis. */
      node?: string
    }
  /**
   * A loader failed and nobody got its error: `background` true for an eager refresh (nobody waited),
   * false when the callers were served the stale value instead.
   */
  | { type: 'load-error'; key: string; error: unknown; background: boolean }
  /** A loader's result could not be stored (unserializable, over `maxValueBytes`, Redis failed). */
  | { type: 'store-error'; key: string; error: unknown }

/**
 * What a loader receives: the family's `LoaderContext` (`key`, `signal`, `stale`) plus `setTtl` and
 * `skipCache`. `signal` aborts when no caller waits any more (every caller's own `signal` aborted), at the
 * hard timeout with nothing stale to serve, and at `close()`.
 */
export interface LoaderContext<T = unknown> extends BaseLoaderContext<string, T> {
  /**
   * Overrides the TTL of this result, in ms.
   * @throws TierkitTypeError when `ttl` is not an integer from 1 to 315360000000.
   */
  setTtl(ttl: number): void
  /** Returns the result without caching it. */
  skipCache(): void
}

/** Loads one value on a miss. Returning `undefined` means "nothing to cache": it is returned, not stored. */
export type Loader<T> = (ctx: LoaderContext<T>) => T | Promise<T>

/** What a batch loader receives with the keys to load. */
export interface BatchLoaderContext<T = unknown> {
  /** The keys to load (each once), the same array as the first argument. */
  readonly keys: readonly string[]
  /** Aborted when no caller waits for any of these keys any more, and at `close()`. */
  readonly signal: AbortSignal
  /** The stale values (inside their grace) of the keys that have one. */
  readonly stale: ReadonlyMap<string, T>
}

/**
 * Loads many values at once: return a `Map` (keys it does not hold come back, and are cached, as `null`) or
 * an array aligned with `keys`.
 */
export type BatchLoader<T> = (
  keys: string[],
  ctx: BatchLoaderContext<T>,
) => Map<string, T> | T[] | Promise<Map<string, T> | T[]>

/** Per-call options of `set`. */
export interface SetOptions {
  /** TTL of this entry in ms (before jitter). @default the cache's `ttl` */
  ttl?: number
  /** How long past its TTL the value may be served stale, in ms. @default the cache's `grace` */
  grace?: number
}

/** Per-call options of `getOrLoad` and `getOrLoadMany`. */
export interface LoadOptions extends SetOptions {
  /**
   * Stops this caller's wait: when it aborts, the call rejects at once with `AbortedError` (`E_ABORTED`,
   * name `AbortError`); a load shared with other callers goes on for them, and the last caller's abort
   * aborts the loader's `ctx.signal`.
   */
  signal?: AbortSignal
}

/** Options of {@link createCache}. */
export interface CacheOptions {
  /**
   * A Redis client you own (not closed by `close()`): an ioredis or iovalkey `Redis` or `Cluster`, or a node-redis
   * 5/6 client (`createClient()`; wrapped by `@tierkit/contracts/redis`, replies and errors as ioredis gives them).
   */
  redis: Redis | Cluster | IoredisLike | NodeRedisClientLike
  /** Namespace of every key; namespaces never collide, whatever their content. */
  namespace: string
  /** Time to live of an entry, in ms. */
  ttl: number
  /** Optional in-process L1 (e.g. `new L1Cache({ max: 10_000 })`); entries are shared by reference. */
  l1?: L1Store
  /** How long past its TTL an entry may still be served when the loader fails or is slow, in ms. @default 0 */
  grace?: number
  /**
   * Timeouts in ms.
   * - `soft`: with a stale value, serve it once the loader takes longer than this (the load goes on and refreshes the entry).
   * - `hard`: past this, serve the stale value or reject with `E_LOADER_TIMEOUT`.
   * - `redis`: bound on every Redis call; a slower call counts as a failure and as a miss. @default 1000
   */
  timeouts?: { soft?: number; hard?: number; redis?: number }
  /** Fraction (0 to 1) by which TTLs are randomly shortened, to spread expiries. @default 0 */
  jitter?: number
  /**
   * Fraction (0 to 1, exclusive) of the TTL after which a hit triggers a background reload, so hot keys never expire.
   * @default undefined (off)
   */
  eagerRefresh?: number
  /** TTL of `null` results (negative caching), in ms; `0` does not cache `null`. @default the cache's `ttl` */
  nullTtl?: number
  /**
   * How long, in ms, the tombstone that `delete` leaves in Redis, and the lease that a miss puts in the key
   * before its loader runs, last. A load stores its result in Redis only if the key still holds what its
   * read saw (its own lease, a tombstone, the stale entry: each carries a unique token), so a load that
   * started before a write never stores its value after it; a load slower than this finds its lease gone
   * and its result is returned but not stored in Redis.
   * @default 30000
   */
  tombstoneTtl?: number
  /**
   * Stampede lock across processes: on a miss, one process holds a Redis lease (renewed while the loader runs)
   * and the others poll Redis for the value instead of calling the loader. A lease whose holder stopped
   * renewing it is taken over; an acquisition whose reply was lost is treated as held and released by token.
   */
  lock?: {
    /** Turn the distributed lock on. @default false */
    distributed?: boolean
    /**
     * Lease length in ms; renewed every third of it (at most every second) while the loader runs. A lease
     * with less than `lease - 2 renewals` left has lost its holder and is taken over. @default 10000
     */
    lease?: number
    /** A follower that waited this long, in ms, loads by itself. @default 30000 */
    waitTimeout?: number
  }
  /** How values become strings. @default exactSerializer of `@tierkit/contracts` (exact round trips, pollution-safe) */
  serializer?: Serializer
  /** Largest encoded entry in bytes; larger values are refused with `E_VALUE_TOO_LARGE`. @default 1048576 */
  maxValueBytes?: number
  /**
   * Per-layer reporting: `l1`, `l2` and `db` (the loader), outcomes `hit`, `miss`, `stale`, `error`. The
   * cache is then the one source of the `l1` layer's counts: do not also `watch` your L1 in
   * `@tierkit/metrics`.
   */
  observer?: CacheObserver
  /**
   * Circuit breaker for Redis: opens after `threshold` consecutive failures, for `cooldown` ms.
   * @default { threshold: 5, cooldown: 5000 }
   */
  breaker?: { threshold?: number; cooldown?: number }
  /** After a failed or timed-out reload served a stale value, wait this long (in ms) before retrying the loader (needs `l1`). @default 1000 */
  graceRetry?: number
  /** Receives swallowed errors and state changes. A listener that throws is ignored. */
  onEvent?: (event: CacheEvent) => void
}

/** The cache returned by {@link createCache}. */
export interface Cache extends WritableCache {
  /** The namespace. */
  readonly namespace: string
  /** State of the Redis circuit breaker (the worst node's on a Cluster). */
  readonly breakerState: BreakerState
  /**
   * Returns the cached value, or loads it once (single flight, optionally across processes), caches it and returns it.
   * @throws LoaderError (`E_LOADER_FAILED`, loader's error as `cause`) when the loader fails and nothing stale can be served.
   * @throws LoaderTimeoutError (`E_LOADER_TIMEOUT`) past `timeouts.hard` with nothing stale to serve.
   * @throws AbortedError (`E_ABORTED`) when `options.signal` aborts first (the load goes on for other callers).
   * @throws ClosedError (`E_CLOSED`) after `close()`; TierkitTypeError on a bad key, loader or option.
   * @example const user = await cache.getOrLoad(`user:${id}`, () => db.findUser(id))
   */
  getOrLoad<T>(key: string, loader: Loader<T>, options?: LoadOptions): Promise<T>
  /**
   * Returns the fresh cached value (L1, then Redis): `null` for a cached "not found" (negative caching),
   * `undefined` for a miss. Never rejects on Redis failure.
   */
  get<T = unknown>(key: string): Promise<T | null | undefined>
  /**
   * This process's L1 copy of `key` when it is fresh, synchronously: `null` for a cached "not found",
   * `undefined` when the L1 holds no fresh copy (or there is no L1). Never asks Redis, never loads, never
   * refreshes. A fresh copy counts as an L1 hit (observer); nothing is counted otherwise, so that the
   * `get`/`getOrLoad` a caller makes next counts the miss once. What a synchronous path (a tag check, a
   * render) uses to skip a promise on an L1 hit.
   * @throws TierkitTypeError on a bad key, ClosedError after `close()`.
   * @example const user = cache.peekLocal<User>(`user:${id}`) ?? (await cache.getOrLoad(`user:${id}`, load))
   */
  peekLocal<T = unknown>(key: string): T | null | undefined
  /**
   * Stores a value in L1 and Redis.
   * @throws ValueTooLargeError, UnserializableValueError (nothing stored), RedisUnavailableError (L1 was set), RedisReplyError (Redis refused it: nothing stored, L1 copy removed), TierkitTypeError, ClosedError.
   */
  set(key: string, value: unknown, options?: SetOptions): Promise<void>
  /**
   * Removes a key from L1 and Redis: Redis keeps a tombstone for `tombstoneTtl`, so that no load of the key
   * that started before the delete, in any process, stores its value afterwards (nor in this process's L1).
   * @throws RedisUnavailableError when Redis could not be reached (L1 was cleared), RedisReplyError, TierkitTypeError, ClosedError.
   */
  delete(key: string): Promise<void>
  /** Removes many keys (one tombstone `SET` per key, sent at once). @throws RedisUnavailableError, RedisReplyError, TierkitTypeError, ClosedError. */
  deleteMany(keys: readonly string[]): Promise<void>
  /**
   * Fresh values aligned with `keys`: `null` for a cached "not found", `undefined` for a miss. Reads Redis in
   * one `MGET` round trip (per hash slot on a Cluster). Never rejects on Redis failure.
   */
  getMany<T = unknown>(keys: readonly string[]): Promise<Array<T | null | undefined>>
  /**
   * Like `getMany`, then loads the missing keys with ONE loader call (each key once, joining loads already in
   * flight). A key that a `Map` returned by the loader does not hold comes back (and is cached) as `null`.
   * @throws LoaderError, LoaderTimeoutError, AbortedError, ClosedError, TierkitTypeError as `getOrLoad`.
   */
  getOrLoadMany<T>(
    keys: readonly string[],
    loader: BatchLoader<T>,
    options?: LoadOptions,
  ): Promise<Array<T | null>>
  /**
   * Drops L1 copies only (what an invalidation bus calls), and stops the loads and Redis reads of these keys
   * in flight in this process from caching what they get (later calls start afresh). Without `keys`, does that
   * for every key and clears the whole L1 object (`l1.clear()`, so an L1 shared with other caches too): what a
   * bus or a tracking channel calls after it may have missed invalidations.
   * @throws TierkitTypeError on bad keys, ClosedError after `close()`.
   */
  evictLocal(keys?: string | readonly string[]): void
  /**
   * Stops background work, aborts the loaders' signals and waits (up to `timeout` ms, default 2000) for the
   * loads in flight to settle. Idempotent: a second call returns the first call's promise. Later calls
   * reject with `ClosedError` (`E_CLOSED`). Does not close your Redis client or clear your L1.
   * @throws TierkitTypeError on bad options.
   */
  close(options?: CloseOptions): Promise<void>
}
