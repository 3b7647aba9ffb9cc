import { randomBytes, randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import type { Cluster, Redis } from 'ioredis'
import { Breaker, type BreakerState } from './breaker.js'
import { coarseNow } from './clock.js'
import {
  CacheClosedError,
  CorruptPayloadError,
  LoaderError,
  LoaderTimeoutError,
  RedisReplyError,
  RedisUnavailableError,
  UnserializableValueError,
  ValueTooLargeError,
} from './errors.js'
import { keyPrefix } from './keys.js'
import { ACQUIRE, FILL, LEASE, RELEASE, RENEW, type Script } from './scripts.js'
import { defaultSerializer, type Serializer } from './serializer.js'
import { keySlot } from './slot.js'

/** Layers reported to the observer. */
export type CacheLayer = 'l1' | 'l2' | 'loader'
/**
 * Outcomes reported to the observer. For `l1`/`l2`: `hit` (fresh), `stale` (past its TTL, inside grace),
 * `miss`, `error` (Redis failed, timed out, breaker open, or a corrupt payload). For `loader`: `hit` (the
 * loader returned), `error` (it threw or timed out), `stale` (a stale value was served in its place).
 */
export type CacheOutcome = 'hit' | 'miss' | 'stale' | 'error'

/** Receives one cheap call per layer visited (the `@tierkit/metrics` observer fits). */
export interface CacheObserver {
  /** Records one outcome; `durationMs` is the time spent in that layer. Must not throw. */
  record(layer: CacheLayer, outcome: CacheOutcome, durationMs?: number): void
}

/** The L1 shape: `L1Cache` from `@tierkit/l1-cache` fits, as does any object with these four methods. */
export interface L1Store {
  /** Returns the stored value or `undefined`. */
  get(key: string): unknown
  /** Stores a value for `ttl` ms. */
  set(key: string, value: unknown, options?: { ttl?: number }): unknown
  /** Removes a key. */
  delete(key: string): unknown
  /** Removes everything. */
  clear(): unknown
}

/** Events for logs and tests (everything that is swallowed so that reads keep working is reported here). */
export type CacheEvent =
  | { type: 'corrupt'; key: string; error: CorruptPayloadError }
  | { type: 'redis-error'; operation: string; error: unknown }
  | {
      type: 'breaker'
      state: BreakerState
      /** On a Cluster, the master (`host:port`) whose breaker changed; absent on a single Redis. */
      node?: string
    }
  | { type: 'load-error'; key: string; error: unknown; background: boolean }
  | { type: 'store-error'; key: string; error: unknown }

/** What a loader receives. */
export interface LoaderContext<T = unknown> {
  /** The user key being loaded. */
  readonly key: string
  /** The stale value (inside its grace period) when there is one. */
  readonly stale: T | undefined
  /** Aborted when the call passes `timeouts.hard` with nothing to serve. */
  readonly signal: AbortSignal
  /**
   * Overrides the TTL for this result, in ms.
   * @throws TypeError when `ms` is not an integer from 1 to 315360000000.
   */
  setTtl(ms: number): void
  /** Returns the result without caching it. */
  skipCache(): void
}

/** Loads one value on a miss. Returning `undefined` means "nothing to cache": it is returned, not stored. */
export type Loader<T> = (ctx: LoaderContext<T>) => T | Promise<T>

/** Loads many values at once: return a `Map` (absent keys are cached as `null`) or an array aligned with `keys`. */
export type BatchLoader<T> = (keys: string[]) => Map<string, T> | T[] | Promise<Map<string, T> | T[]>

/** Per-call options of `getOrLoad`, `getOrLoadMany` and `set`. */
export interface LoadOptions {
  /** TTL of this entry in ms (before jitter). @default the cache's `ttl` */
  ttl?: number
  /** Grace period in ms after the TTL during which the value may be served stale. @default the cache's `grace` */
  grace?: number
}

/** Options of {@link createCache}. */
export interface CacheOptions {
  /** An ioredis `Redis` or `Cluster` instance you own (not closed by `close()`). */
  redis: Redis | Cluster
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
    /** A follower that waited this long loads by itself. @default 30000 */
    waitTimeout?: number
  }
  /** How values become strings. @default defaultSerializer (exact round trips, pollution-safe) */
  serializer?: Serializer
  /** Largest encoded entry in bytes; larger values are refused with `E_VALUE_TOO_LARGE`. @default 1048576 */
  maxValueBytes?: number
  /** Per-layer hit/miss/stale/error reporting. */
  observer?: CacheObserver
  /** Circuit breaker for Redis: opens after `threshold` consecutive failures for `coolDown` ms. @default { threshold: 5, coolDown: 5000 } */
  breaker?: { threshold?: number; coolDown?: number }
  /** After a failed or timed-out reload served a stale value, wait this long (in ms) before retrying the loader (needs `l1`). @default 1000 */
  graceRetry?: number
  /** Receives swallowed errors and state changes. Must not throw. */
  onEvent?: (event: CacheEvent) => void
}

/** The cache returned by {@link createCache}. */
export interface Cache {
  /** The namespace. */
  readonly namespace: string
  /** State of the Redis circuit breaker. */
  readonly breakerState: BreakerState
  /**
   * Returns the cached value, or loads it once (single flight, optionally across processes), caches it and returns it.
   * @throws LoaderError (`E_LOADER_FAILED`, loader's error as `cause`) when the loader fails and nothing stale can be served.
   * @throws LoaderTimeoutError (`E_LOADER_TIMEOUT`) past `timeouts.hard` with nothing stale to serve.
   * @throws TypeError on a bad key, loader or option.
   * @example const user = await cache.getOrLoad(`user:${id}`, () => db.findUser(id))
   */
  getOrLoad<T>(key: string, loader: Loader<T>, options?: LoadOptions): Promise<T>
  /** Returns the fresh cached value (L1, then Redis) or `undefined`. Never rejects on Redis failure. */
  get<T = unknown>(key: string): Promise<T | undefined>
  /**
   * Stores a value in L1 and Redis.
   * @throws ValueTooLargeError, UnserializableValueError (nothing stored), RedisUnavailableError (L1 was set), RedisReplyError (Redis refused it: nothing stored, L1 copy removed), TypeError.
   */
  set(key: string, value: unknown, options?: LoadOptions): Promise<void>
  /**
   * Removes a key from L1 and Redis: Redis keeps a tombstone for `tombstoneTtl`, so that no load of the key
   * that started before the delete, in any process, stores its value afterwards (nor in this process's L1).
   * @throws RedisUnavailableError when Redis could not be reached (L1 was cleared).
   */
  delete(key: string): Promise<void>
  /** Removes many keys (one tombstone `SET` per key, sent at once). @throws RedisUnavailableError, RedisReplyError, TypeError. */
  deleteMany(keys: readonly string[]): Promise<void>
  /** Fresh values aligned with `keys` (`undefined` for misses), reading Redis in one `MGET` round trip (per hash slot on a Cluster). */
  getMany<T = unknown>(keys: readonly string[]): Promise<Array<T | undefined>>
  /**
   * Like `getMany`, then loads the missing keys with ONE loader call (each key once, joining loads already in flight).
   * @throws LoaderError, LoaderTimeoutError, TypeError as `getOrLoad`.
   */
  getOrLoadMany<T>(keys: readonly string[], loader: BatchLoader<T>, options?: LoadOptions): Promise<T[]>
  /**
   * Drops L1 copies only (what an invalidation bus calls), and stops the loads and Redis reads of these keys
   * in flight in this process from caching what they get (later calls start afresh). Without `keys`, does that
   * for every key and clears the whole L1 object (`l1.clear()`, so an L1 shared with other caches too): what a
   * bus or a tracking channel calls after it may have missed invalidations.
   */
  evictLocal(keys?: string | readonly string[]): void
  /**
   * Stops background work, aborts the loaders' signals and waits (up to 2 s) for loads in flight to settle.
   * Later calls reject with `E_CACHE_CLOSED`. Does not close your Redis client or clear your L1.
   */
  close(): Promise<void>
}

interface Entry {
  /** value */
  v: unknown
  /** fresh until (epoch ms) */
  f: number
  /** eager refresh at (epoch ms, 0 = never) */
  r: number
  /** stale until (epoch ms) */
  s: number
  /** the token Redis holds for this entry ('' when unknown): a fill that started from it expects it still there */
  t: string
}

interface Load {
  promise: Promise<unknown>
  controller: AbortController
  /** set by a write or an eviction of the key in this process: the load's result must not be cached */
  invalidated: boolean
}

/** A read of Redis (or L1) in flight; an eviction of its key in the meantime marks it invalid. */
interface Fence {
  invalid: boolean
}

/** What one read of a Redis key saw. A fill made from it expects Redis to still hold exactly that. */
interface L2Read {
  /** the entry, when one is servable (fresh or in grace) */
  e: Entry | undefined
  /**
   * the token of what Redis held (an entry's, a tombstone's or a lease's); '' when the key was empty or
   * corrupt, or the read got no answer: a fill needs a token to expect (see `leaseIfEmpty`)
   */
  token: string
  /** the read was answered (so '' means "empty", not "unknown") */
  ok: boolean
  /** Redis held a tombstone: the value was deleted, there is nothing stale to serve */
  tomb: boolean
  /** an eviction of the key arrived while the read was in flight: do not copy its result to the L1 */
  evicted: boolean
}

/** What `lookupMany` found for one key. */
interface Look {
  entry: Entry | undefined
  fresh: boolean
  token: string
  /** the MGET was answered */
  ok: boolean
}

/** A tombstone (`0<token>`) or a lease (`3<token>`) found in a value key: a miss. */
interface Marker {
  marker: true
  tomb: boolean
  t: string
}

function isMarker(d: Entry | Marker | undefined): d is Marker {
  return d !== undefined && (d as Marker).marker === true
}

interface PendingCall {
  deadline: number
  operation: string
  reject: (err: unknown) => void
  done: boolean
  /** The breaker the call went through (per node on a Cluster). */
  breaker: Breaker
}

interface RedisCommands {
  get(key: string): Promise<string | null>
  set(...args: Array<string | number>): Promise<unknown>
  mget(...keys: string[]): Promise<Array<string | null>>
  del(...keys: string[]): Promise<number>
  eval(script: string, numKeys: number, ...args: Array<string | number>): Promise<unknown>
  evalsha(sha: string, numKeys: number, ...args: Array<string | number>): Promise<unknown>
  /** ioredis Cluster only: slot → [master "host:port", ...replicas]. */
  readonly slots?: string[][]
}

let tokenPrefix: string | undefined
let tokenSeq = 0
/** A token that no other write, in any process, ever used: 72 random bits per process, then a counter. */
function newToken(): string {
  if (tokenPrefix === undefined) tokenPrefix = randomBytes(9).toString('base64url')
  tokenSeq++
  return tokenPrefix + tokenSeq.toString(36)
}

const BREAKER_OPEN = new RedisUnavailableError('call (circuit breaker open)')

/** Longest TTL or grace accepted, in ms (10 years): far beyond any cache use, far below overflow. */
const MAX_TTL = 315_360_000_000
/** Longest duration that drives a timer (what `setTimeout` accepts; longer ones fire at once). */
const MAX_TIMER = 2_147_483_647
/** Largest `maxValueBytes`: Redis' own limit for a string (512 MiB). */
const MAX_VALUE_BYTES = 536_870_912

/**
 * Validates a duration or a count: a safe integer from `min` to `max`. Fractions are refused rather than
 * rounded (Redis' `PX` takes integers only, and silently rounding a TTL hides a unit mistake).
 */
function integer(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new TypeError(`redis-aside: ${name} must be an integer from ${min} to ${max}`)
  }
  return v
}

function fraction(name: string, v: unknown, allowOne: boolean): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1 || (!allowOne && (v === 0 || v === 1))) {
    throw new TypeError(
      `redis-aside: ${name} must be a number ${allowOne ? 'from 0 to 1' : 'between 0 and 1 (exclusive)'}`,
    )
  }
  return v
}

function checkKey(key: unknown): asserts key is string {
  if (typeof key !== 'string') throw new TypeError('redis-aside: key must be a string')
}

function checkKeys(keys: unknown): asserts keys is readonly string[] {
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) {
    throw new TypeError('redis-aside: keys must be an array of strings')
  }
}

function isReplyError(e: unknown): boolean {
  return (e as Error)?.name === 'ReplyError'
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

class RedisAsideCache implements Cache {
  readonly namespace: string
  private readonly redis: RedisCommands
  private readonly isCluster: boolean
  private readonly prefix: string
  private readonly lockPrefix: string
  private readonly l1: L1Store | undefined
  private readonly ttl: number
  private readonly grace: number
  private readonly soft: number | undefined
  private readonly hard: number | undefined
  private readonly redisTimeout: number
  private readonly jitter: number
  private readonly eager: number
  private readonly nullTtl: number | undefined
  private readonly tombstoneTtl: number
  private readonly distributed: boolean
  private readonly lease: number
  /** A holder renews its lease this often: a third of it, at most 1 s (so a dead holder is seen quickly). */
  private readonly renewEvery: number
  /** A lease with less life left than this has missed a renewal: its holder is gone (see ACQUIRE). */
  private readonly takeoverBelow: number
  private readonly waitTimeout: number
  private readonly serializer: Serializer
  private readonly maxValueBytes: number
  private readonly observer: CacheObserver | undefined
  private readonly graceRetry: number
  private readonly onEvent: ((e: CacheEvent) => void) | undefined
  /** The breaker of a single Redis; on a Cluster, the breakers are per node (see `breakerFor`). */
  private readonly breaker: Breaker
  private readonly breakers = new Map<string, Breaker>()
  private readonly breakerThreshold: number
  private readonly breakerCoolDown: number
  private readonly flights = new Map<string, Promise<unknown>>()
  private readonly loads = new Map<string, Load>()
  /** Redis reads in flight per key, so that an eviction can stop them from filling the L1. */
  private readonly fences = new Map<string, Fence[]>()
  private readonly background = new Set<Promise<unknown>>()
  private readonly renewals = new Set<NodeJS.Timeout>()
  /** Lock keys this process may still hold after a lost reply → their token (reused, then released). */
  private readonly orphans = new Map<string, string>()
  private readonly releaseRetries = new Set<NodeJS.Timeout>()
  private readonly pending = new Set<PendingCall>()
  private readBatch:
    | Map<string, Array<{ resolve: (v: string | null) => void; reject: (e: unknown) => void }>>
    | undefined
  private sweepTimer: NodeJS.Timeout | undefined
  private closed = false

  constructor(o: CacheOptions) {
    if (typeof o !== 'object' || o === null) throw new TypeError('redis-aside: options must be an object')
    const r = o.redis as unknown as Partial<RedisCommands> | undefined
    if (!r || typeof r.get !== 'function' || typeof r.mget !== 'function' || typeof r.set !== 'function') {
      throw new TypeError('redis-aside: redis must be an ioredis Redis or Cluster instance')
    }
    if (typeof o.namespace !== 'string' || o.namespace.length === 0) {
      throw new TypeError('redis-aside: namespace must be a non-empty string')
    }
    this.redis = r as RedisCommands
    this.isCluster = (o.redis as { isCluster?: boolean }).isCluster === true
    this.namespace = o.namespace
    this.prefix = `${keyPrefix(o.namespace)}v:`
    this.lockPrefix = `${keyPrefix(o.namespace)}l:`
    this.ttl = integer('ttl', o.ttl, 1, MAX_TTL)
    this.grace = o.grace === undefined ? 0 : integer('grace', o.grace, 0, MAX_TTL)
    const t = o.timeouts ?? {}
    this.soft = t.soft === undefined ? undefined : integer('timeouts.soft', t.soft, 0, MAX_TIMER)
    this.hard = t.hard === undefined ? undefined : integer('timeouts.hard', t.hard, 0, MAX_TIMER)
    this.redisTimeout = t.redis === undefined ? 1000 : integer('timeouts.redis', t.redis, 1, MAX_TIMER)
    this.jitter = o.jitter === undefined ? 0 : fraction('jitter', o.jitter, true)
    this.eager = o.eagerRefresh === undefined ? 0 : fraction('eagerRefresh', o.eagerRefresh, false)
    this.nullTtl = o.nullTtl === undefined ? undefined : integer('nullTtl', o.nullTtl, 0, MAX_TTL)
    this.tombstoneTtl =
      o.tombstoneTtl === undefined ? 30_000 : integer('tombstoneTtl', o.tombstoneTtl, 1, MAX_TTL)
    this.distributed = o.lock?.distributed === true
    this.lease = o.lock?.lease === undefined ? 10_000 : integer('lock.lease', o.lock.lease, 3, MAX_TIMER)
    this.renewEvery = Math.max(1, Math.floor(Math.min(this.lease / 3, 1000)))
    this.takeoverBelow = this.lease - 2 * this.renewEvery
    this.waitTimeout =
      o.lock?.waitTimeout === undefined
        ? 30_000
        : integer('lock.waitTimeout', o.lock.waitTimeout, 1, MAX_TIMER)
    if (o.serializer !== undefined) {
      if (typeof o.serializer?.encode !== 'function' || typeof o.serializer?.decode !== 'function') {
        throw new TypeError('redis-aside: serializer must have encode and decode functions')
      }
    }
    this.serializer = o.serializer ?? defaultSerializer
    this.maxValueBytes =
      o.maxValueBytes === undefined
        ? 1_048_576
        : integer('maxValueBytes', o.maxValueBytes, 1, MAX_VALUE_BYTES)
    if (o.l1 !== undefined) {
      const l = o.l1 as Partial<L1Store> | null
      if (
        !l ||
        typeof l.get !== 'function' ||
        typeof l.set !== 'function' ||
        typeof l.delete !== 'function'
      ) {
        throw new TypeError('redis-aside: l1 must have get, set, delete and clear methods')
      }
    }
    this.l1 = o.l1
    if (o.observer !== undefined && typeof o.observer?.record !== 'function') {
      throw new TypeError('redis-aside: observer must have a record method')
    }
    this.observer = o.observer
    this.graceRetry = o.graceRetry === undefined ? 1000 : integer('graceRetry', o.graceRetry, 0, MAX_TIMER)
    this.onEvent = o.onEvent
    const threshold =
      o.breaker?.threshold === undefined ? 5 : integer('breaker.threshold', o.breaker.threshold, 1, MAX_TIMER)
    const coolDown =
      o.breaker?.coolDown === undefined ? 5000 : integer('breaker.coolDown', o.breaker.coolDown, 1, MAX_TIMER)
    this.breakerThreshold = threshold
    this.breakerCoolDown = coolDown
    this.breaker = new Breaker(threshold, coolDown, (state) => this.emit({ type: 'breaker', state }))
  }

  get breakerState(): BreakerState {
    if (!this.isCluster) return this.breaker.state
    let worst: BreakerState = 'closed'
    for (const b of this.breakers.values()) {
      if (b.state === 'open') return 'open'
      if (b.state === 'half-open') worst = 'half-open'
    }
    return worst
  }

  /**
   * The breaker guarding Redis key `k`: the cache's one breaker on a single Redis; on a Cluster, the breaker of
   * the master that serves `k`'s slot right now (ioredis' slot table, which follows MOVED redirections,
   * resharding and failovers), so one dead master opens only its own breaker.
   */
  private breakerFor(k: string): Breaker {
    if (!this.isCluster) return this.breaker
    const node = this.redis.slots?.[keySlot(k)]?.[0] ?? 'unknown'
    let b = this.breakers.get(node)
    if (b === undefined) {
      b = new Breaker(this.breakerThreshold, this.breakerCoolDown, (state) =>
        this.emit({ type: 'breaker', state, node }),
      )
      this.breakers.set(node, b)
    }
    return b
  }

  // ---------------------------------------------------------------- public API

  getOrLoad<T>(key: string, loader: Loader<T>, options?: LoadOptions): Promise<T> {
    if (this.closed) return Promise.reject(new CacheClosedError())
    if (typeof key !== 'string') return Promise.reject(new TypeError('redis-aside: key must be a string'))
    if (typeof loader !== 'function')
      return Promise.reject(new TypeError('redis-aside: loader must be a function'))
    if (options !== undefined) {
      try {
        this.checkLoadOptions(options)
      } catch (e) {
        return Promise.reject(e)
      }
    }
    const k = this.prefix + key
    let l1e: Entry | undefined
    if (this.l1 !== undefined) {
      const t0 = this.observer ? performance.now() : 0
      l1e = this.l1.get(k) as Entry | undefined
      if (l1e !== undefined) {
        const now = coarseNow()
        if (now < l1e.f) {
          if (this.observer) this.observer.record('l1', 'hit', performance.now() - t0)
          if (l1e.r !== 0 && now >= l1e.r)
            this.refreshInBackground(k, key, loader as Loader<unknown>, options, false, l1e.t)
          return Promise.resolve(l1e.v as T)
        }
        if (now >= l1e.s) l1e = undefined
      }
      if (this.observer) this.observer.record('l1', l1e ? 'stale' : 'miss', performance.now() - t0)
    }
    const joined = this.flights.get(k)
    if (joined !== undefined) return joined as Promise<T>
    const p = this.resolve(k, key, loader as Loader<unknown>, options, l1e)
    this.flights.set(k, p)
    const clear = (): void => {
      if (this.flights.get(k) === p) this.flights.delete(k)
    }
    p.then(clear, clear)
    return p as Promise<T>
  }

  async get<T = unknown>(key: string): Promise<T | undefined> {
    if (this.closed) throw new CacheClosedError()
    checkKey(key)
    const k = this.prefix + key
    if (this.l1 !== undefined) {
      const t0 = this.t0()
      const e = this.l1.get(k) as Entry | undefined
      const now = Date.now()
      if (e !== undefined && now < e.f) {
        this.record('l1', 'hit', t0)
        return e.v as T
      }
      this.record('l1', e !== undefined && now < e.s ? 'stale' : 'miss', t0)
    }
    const { e, evicted } = await this.readL2(k, key, true)
    if (e !== undefined && Date.now() < e.f) {
      if (!evicted) this.setL1(k, e)
      return e.v as T
    }
    return undefined
  }

  async set(key: string, value: unknown, options?: LoadOptions): Promise<void> {
    if (this.closed) throw new CacheClosedError()
    checkKey(key)
    if (value === undefined) throw new TypeError('redis-aside: value must not be undefined (use null)')
    if (options !== undefined) this.checkLoadOptions(options)
    const k = this.prefix + key
    const ttl = this.ttlFor(value, options?.ttl)
    // null with nullTtl 0 is not cached: the write still replaces what was there
    if (ttl === 0) return this.deleteMany([key])
    const enc = this.encodeEntry(key, value, ttl, options?.grace ?? this.grace, true)!
    this.invalidate(k) // an older load or read in this process must not overwrite this value
    this.setL1(k, enc.entry)
    try {
      await this.call(() => this.redis.set(k, enc.payload, 'PX', enc.px), 'set', k, true)
    } catch (err) {
      if (isReplyError(err)) {
        // Redis is up and refused the write (OOM, READONLY...): the L1 must not serve what Redis does not hold
        if (this.l1?.get(k) === enc.entry) this.l1.delete(k)
        throw new RedisReplyError('set', err, key)
      }
      throw err instanceof RedisUnavailableError ? err : new RedisUnavailableError('set', err)
    }
  }

  async delete(key: string): Promise<void> {
    if (this.closed) throw new CacheClosedError()
    checkKey(key)
    await this.deleteMany([key])
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    if (this.closed) throw new CacheClosedError()
    checkKeys(keys)
    if (keys.length === 0) return
    const ks = [...new Set(keys)].map((key) => this.prefix + key)
    for (const k of ks) {
      this.invalidate(k)
      this.l1?.delete(k)
    }
    // a tombstone with a new token rather than a DEL: a load that read the key before this delete expects
    // what it saw there, so its fill is refused, in every process (see FILL). Plain SETs, not a script: a
    // script can be re-sent as EVAL after a NOSCRIPT reply and so land after a later write of this client.
    const tombstone = `0${newToken()}`
    try {
      await Promise.all(
        ks.map((k) => this.call(() => this.redis.set(k, tombstone, 'PX', this.tombstoneTtl), 'del', k, true)),
      )
    } catch (e) {
      if (isReplyError(e)) throw new RedisReplyError('del', e)
      throw e instanceof RedisUnavailableError ? e : new RedisUnavailableError('del', e)
    }
  }

  async getMany<T = unknown>(keys: readonly string[]): Promise<Array<T | undefined>> {
    if (this.closed) throw new CacheClosedError()
    checkKeys(keys)
    const found = await this.lookupMany(keys)
    return keys.map((key) => {
      const look = found.get(key)!
      return look.fresh ? (look.entry!.v as T) : undefined
    })
  }

  async getOrLoadMany<T>(
    keys: readonly string[],
    loader: BatchLoader<T>,
    options?: LoadOptions,
  ): Promise<T[]> {
    if (this.closed) throw new CacheClosedError()
    checkKeys(keys)
    if (typeof loader !== 'function') throw new TypeError('redis-aside: loader must be a function')
    if (options !== undefined) this.checkLoadOptions(options)
    const start = Date.now()
    const found = await this.lookupMany(keys)
    const values = new Map<string, unknown>()
    const joins: Array<Promise<void>> = []
    const missing: string[] = []
    const stale = new Map<string, Entry>()
    for (const [key, look] of found) {
      if (look.fresh) {
        values.set(key, look.entry!.v)
        continue
      }
      if (look.entry) stale.set(key, look.entry)
      const k = this.prefix + key
      const inflight = this.flights.get(k) ?? this.loads.get(k)?.promise
      if (inflight) {
        joins.push(
          inflight.then(
            (v) => {
              values.set(key, v)
            },
            (err) => {
              if (!stale.has(key)) throw err
              values.set(key, stale.get(key)!.v)
            },
          ),
        )
      } else {
        missing.push(key)
      }
    }
    if (missing.length > 0) {
      // the keys found empty get a lease first (see leaseIfEmpty); one may turn out to be written meanwhile
      const leased = await Promise.all(
        missing.map((key) => {
          const look = found.get(key)!
          const read: L2Read = { e: undefined, token: look.token, ok: look.ok, tomb: false, evicted: false }
          return this.leaseIfEmpty(this.prefix + key, key, read)
        }),
      )
      const toLoad: string[] = []
      missing.forEach((key, i) => {
        const r = leased[i]!
        found.get(key)!.token = r.token
        if (r.e !== undefined && Date.now() < r.e.f) {
          if (!r.evicted) this.setL1(this.prefix + key, r.e)
          values.set(key, r.e.v)
          return
        }
        if (r.tomb) stale.delete(key)
        else if (r.e !== undefined && (stale.get(key)?.f ?? 0) < r.e.f) stale.set(key, r.e)
        toLoad.push(key)
      })
      if (toLoad.length > 0) joins.push(this.loadBatch(toLoad, loader, options, found, stale, values, start))
    }
    await Promise.all(joins)
    return keys.map((key) => values.get(key) as T)
  }

  evictLocal(keys?: string | readonly string[]): void {
    if (keys === undefined) {
      this.invalidateAll()
      this.l1?.clear()
      return
    }
    if (typeof keys === 'string') {
      const k = this.prefix + keys
      this.invalidate(k)
      this.l1?.delete(k)
      return
    }
    checkKeys(keys)
    for (const key of keys) {
      const k = this.prefix + key
      this.invalidate(k)
      this.l1?.delete(k)
    }
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const t of this.renewals) clearInterval(t)
    for (const t of this.releaseRetries) clearTimeout(t)
    // one last try for the locks whose release was not answered (they expire after their lease anyway)
    for (const [lk, token] of this.orphans) {
      this.call(() => this.runScript(RELEASE, [lk], [token]), 'lock-release', lk, true).catch(() => {})
    }
    this.orphans.clear()
    const loads = [...this.loads.values()]
    for (const l of loads) l.controller.abort(new CacheClosedError())
    const pending = [...this.background, ...loads.map((l) => l.promise)]
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      Promise.allSettled(pending),
      new Promise<void>((r) => {
        timer = setTimeout(r, 2000)
        timer.unref()
      }),
    ])
    clearTimeout(timer)
  }

  // ---------------------------------------------------------------- invalidation in this process

  /**
   * A write or an eviction of `k` in this process: loads and Redis reads of `k` in flight must not cache
   * what they get (it may predate the write), and later callers must not join them.
   */
  private invalidate(k: string): void {
    const load = this.loads.get(k)
    if (load !== undefined) {
      load.invalidated = true
      this.loads.delete(k)
    }
    this.flights.delete(k)
    const fences = this.fences.get(k)
    if (fences !== undefined) for (const f of fences) f.invalid = true
  }

  /** {@link invalidate} for every key: after an eviction of everything (a bus that missed messages). */
  private invalidateAll(): void {
    for (const load of this.loads.values()) load.invalidated = true
    this.loads.clear()
    this.flights.clear()
    for (const list of this.fences.values()) for (const f of list) f.invalid = true
  }

  private fence(k: string): Fence {
    const f: Fence = { invalid: false }
    const list = this.fences.get(k)
    if (list === undefined) this.fences.set(k, [f])
    else list.push(f)
    return f
  }

  private unfence(k: string, f: Fence): void {
    const list = this.fences.get(k)
    if (list === undefined) return
    if (list.length === 1) {
      if (list[0] === f) this.fences.delete(k)
      return
    }
    const i = list.indexOf(f)
    if (i >= 0) list.splice(i, 1)
  }

  // ---------------------------------------------------------------- read path

  private async resolve(
    k: string,
    key: string,
    loader: Loader<unknown>,
    options: LoadOptions | undefined,
    l1e: Entry | undefined,
  ): Promise<unknown> {
    const start = coarseNow()
    let stale = l1e
    const read = await this.readL2(k, key, true)
    const l2 = read.e
    if (l2 !== undefined) {
      const now = coarseNow()
      if (now < l2.f) {
        if (!read.evicted) {
          this.setL1(k, l2)
          if (l2.r !== 0 && now >= l2.r) this.refreshInBackground(k, key, loader, options, true, l2.t)
        }
        return l2.v
      }
      if (stale === undefined || l2.f > stale.f) stale = l2
    } else if (read.tomb) {
      stale = undefined // deleted: the L1's stale copy predates the delete
    }
    if (this.distributed && !this.loads.has(k) && this.breakerFor(k).state === 'closed') {
      return this.loadWithLock(k, key, loader, options, stale, start, read)
    }
    return this.loadFrom(k, key, loader, options, stale, start, read)
  }

  /**
   * Loads `k` after the read `read`: joins the load of `k` already running here, if any; otherwise leases
   * the key when the read found it empty (so that the fill has a token to expect), serves a fresh value
   * written meanwhile, or starts the loader. `hold` is the distributed lock, renewed while the load runs
   * and released after it.
   */
  private async loadFrom(
    k: string,
    key: string,
    loader: Loader<unknown>,
    options: LoadOptions | undefined,
    stale: Entry | undefined,
    start: number,
    read: L2Read,
    hold?: { lk: string; token: string },
  ): Promise<unknown> {
    if (!this.loads.has(k)) read = await this.leaseIfEmpty(k, key, read)
    const e = read.e
    if (e !== undefined) {
      if (Date.now() < e.f) {
        if (hold !== undefined) this.releaseLock(hold.lk, hold.token)
        if (!read.evicted) this.setL1(k, e)
        return e.v
      }
      if (stale === undefined || e.f > stale.f) stale = e
    } else if (read.tomb) {
      stale = undefined
    }
    const load = this.startLoad(k, key, loader, options, stale, read.token)
    if (hold !== undefined) this.holdLock(hold.lk, hold.token, load)
    return this.awaitLoad(load, k, key, stale, start)
  }

  /**
   * Before a load from a read that found the key empty: put a lease there (LEASE), or learn what somebody
   * wrote since. The fill then expects that token; without an answer it has nothing to expect and the
   * result is not stored in Redis (only in the L1).
   */
  private async leaseIfEmpty(k: string, key: string, read: L2Read): Promise<L2Read> {
    if (!read.ok || read.token !== '') return read
    const fence = this.fence(k)
    try {
      const t0 = this.t0()
      const token = newToken()
      let raw: unknown
      try {
        raw = await this.call(() => this.runScript(LEASE, [k], [`3${token}`, this.tombstoneTtl]), 'lease', k)
      } catch {
        return { e: undefined, token: '', ok: false, tomb: false, evicted: read.evicted || fence.invalid }
      }
      if (raw === null || raw === undefined) {
        return { e: undefined, token, ok: true, tomb: false, evicted: read.evicted || fence.invalid }
      }
      const r = this.interpret(k, key, String(raw), t0, false, fence)
      if (read.evicted) r.evicted = true
      return r
    } finally {
      this.unfence(k, fence)
    }
  }

  private async loadWithLock(
    k: string,
    key: string,
    loader: Loader<unknown>,
    options: LoadOptions | undefined,
    stale: Entry | undefined,
    start: number,
    seen: L2Read,
  ): Promise<unknown> {
    const lk = this.lockPrefix + key
    // a lock this process may still hold (an earlier acquisition or release whose reply was lost) is
    // re-acquired with its token rather than waited on
    const token = this.orphans.get(lk) ?? randomUUID()
    let delay = 4
    for (;;) {
      let acquired: boolean
      try {
        acquired = (await this.acquireLock(lk, token)) !== 0
      } catch (err) {
        if (isReplyError(err)) {
          // Redis refused the script (OOM, ...): nothing was set, load without the lock
          return this.loadFrom(k, key, loader, options, stale, start, seen)
        }
        // No reply (timeout, connection lost): the lock may have been set all the same. Act as its holder
        // (load, renew, then release it by token) so that it is never left to a holder that does not exist.
        acquired = true
      }
      if (acquired) {
        if (this.orphans.get(lk) === token) this.orphans.delete(lk)
        // somebody may have stored the value between our read and our lock
        const again = await this.readL2(k, key, false)
        return this.loadFrom(k, key, loader, options, stale, start, again, { lk, token })
      }
      const local = this.loads.get(k)
      if (local) return this.awaitLoad(local, k, key, stale, start)
      await sleep(delay)
      delay = Math.min(delay * 2, 50)
      const polled = await this.readL2(k, key, false)
      seen = polled
      const e = polled.e
      const now = Date.now()
      if (e !== undefined && now < e.f) {
        this.record('l2', 'hit', performance.now())
        if (!polled.evicted) this.setL1(k, e)
        return e.v
      }
      if (polled.tomb) stale = undefined
      else if (e !== undefined && (stale === undefined || e.f > stale.f)) stale = e
      const waited = now - start
      if (stale !== undefined && now < stale.s && this.soft !== undefined && waited >= this.soft) {
        return this.serveStale(k, stale, false)
      }
      if (this.hard !== undefined && waited >= this.hard) {
        if (stale !== undefined && now < stale.s) return this.serveStale(k, stale, false)
        this.record('loader', 'error', performance.now())
        throw new LoaderTimeoutError(key, this.hard)
      }
      if (waited >= this.waitTimeout) {
        return this.loadFrom(k, key, loader, options, stale, start, seen)
      }
      if (this.closed) throw new CacheClosedError()
    }
  }

  /**
   * One attempt at the lease (see ACQUIRE): 1 acquired (or already ours), 2 taken over from a holder that
   * stopped renewing, 0 held by a live holder.
   */
  private acquireLock(lk: string, token: string): Promise<number> {
    return this.call(
      () => this.runScript(ACQUIRE, [lk], [token, this.lease, this.takeoverBelow]),
      'lock',
      lk,
    ) as Promise<number>
  }

  /** Renews the lease every `renewEvery` ms while `load` runs, then releases it. */
  private holdLock(lk: string, token: string, load: Load): void {
    const renew = setInterval(() => {
      this.call(() => this.runScript(RENEW, [lk], [token, this.lease]), 'lock-renew', lk).catch(() => {})
    }, this.renewEvery)
    renew.unref()
    this.renewals.add(renew)
    const release = (): void => {
      clearInterval(renew)
      this.renewals.delete(renew)
      this.releaseLock(lk, token)
    }
    load.promise.then(release, release)
  }

  /**
   * Releases a lease by token (compare-and-delete). When the reply is lost the lock may still be there:
   * it is remembered as ours (a later acquisition of the key here reuses the token) and the release is
   * retried until it is answered or the lease has run out anyway.
   */
  private releaseLock(lk: string, token: string): void {
    const until = Date.now() + this.lease
    const attempt = (): void => {
      this.call(() => this.runScript(RELEASE, [lk], [token]), 'lock-release', lk, true).then(
        () => {
          if (this.orphans.get(lk) === token) this.orphans.delete(lk)
        },
        (err: unknown) => {
          if (isReplyError(err) || Date.now() >= until) {
            if (this.orphans.get(lk) === token) this.orphans.delete(lk)
            return
          }
          this.orphans.set(lk, token)
          const retry = setTimeout(
            () => {
              this.releaseRetries.delete(retry)
              // re-acquired meanwhile by a new flight of this process: that flight releases it
              if (this.orphans.get(lk) === token) attempt()
            },
            Math.max(1, Math.min(250, this.renewEvery)),
          )
          retry.unref()
          this.releaseRetries.add(retry)
        },
      )
    }
    attempt()
  }

  /**
   * Starts the loader for `k` unless it already runs; the returned load settles after the value is stored.
   * `token` is what Redis held before the loader ran: the fill expects it still there (see FILL); '' when
   * unknown, and then the result is not stored in Redis.
   */
  private startLoad(
    k: string,
    key: string,
    loader: Loader<unknown>,
    options: LoadOptions | undefined,
    stale: Entry | undefined,
    token: string,
  ): Load {
    const existing = this.loads.get(k)
    if (existing) return existing
    const controller = new AbortController()
    let ttlOverride: number | undefined
    let skip = false
    const ctx: LoaderContext<unknown> = {
      key,
      stale: stale?.v,
      signal: controller.signal,
      setTtl(ms: number) {
        ttlOverride = integer('ttl', ms, 1, MAX_TTL)
      },
      skipCache() {
        skip = true
      },
    }
    const load: Load = { promise: Promise.resolve(), controller, invalidated: false }
    const t0 = performance.now()
    // registered before the loader runs: a loader that throws synchronously settles the load (and runs the
    // `finally` below) before the IIFE returns, which used to leave a dead load registered for good
    this.loads.set(k, load)
    load.promise = (async () => {
      let stored: boolean | undefined = false
      try {
        let value: unknown
        try {
          value = await loader(ctx)
        } catch (err) {
          this.record('loader', 'error', t0)
          throw err
        }
        this.record('loader', 'hit', t0)
        if (!skip && value !== undefined && !load.invalidated) {
          stored = await this.fill(
            k,
            key,
            value,
            this.ttlFor(value, ttlOverride ?? options?.ttl),
            options?.grace ?? this.grace,
            token,
            load,
          )
        }
        return value
      } finally {
        if (this.loads.get(k) === load) this.loads.delete(k)
        if (stored === false) this.dropLease(k, token)
      }
    })()
    load.promise.catch(() => {})
    return load
  }

  /** Waits for a load, applying the soft and hard timeouts and the fail-safe. */
  private awaitLoad(
    load: Load,
    k: string,
    key: string,
    stale: Entry | undefined,
    start: number,
  ): Promise<unknown> {
    const soft = stale !== undefined ? this.soft : undefined
    const hard = this.hard
    return new Promise((resolve, reject) => {
      let done = false
      let softTimer: NodeJS.Timeout | undefined
      let hardTimer: NodeJS.Timeout | undefined
      const finish = (fn: () => void): void => {
        if (done) return
        done = true
        if (softTimer) clearTimeout(softTimer)
        if (hardTimer) clearTimeout(hardTimer)
        fn()
      }
      load.promise.then(
        (v) => finish(() => resolve(v)),
        (err) =>
          finish(() => {
            if (stale !== undefined && Date.now() < stale.s) {
              this.emit({ type: 'load-error', key, error: err, background: false })
              // after an eviction the stale copy must not go back into the L1
              resolve(this.serveStale(k, stale, !load.invalidated))
            } else {
              reject(new LoaderError(key, err))
            }
          }),
      )
      const elapsed = Date.now() - start
      if (soft !== undefined) {
        softTimer = setTimeout(
          () => finish(() => resolve(this.serveStale(k, stale!, false))),
          Math.max(0, soft - elapsed),
        )
      }
      if (hard !== undefined) {
        hardTimer = setTimeout(
          () =>
            finish(() => {
              if (stale !== undefined && Date.now() < stale.s) {
                resolve(this.serveStale(k, stale, false))
              } else {
                this.record('loader', 'error', performance.now())
                load.controller.abort(new LoaderTimeoutError(key, hard))
                reject(new LoaderTimeoutError(key, hard))
              }
            }),
          Math.max(0, hard - elapsed),
        )
      }
    })
  }

  /** Serves a stale value; after a loader failure, keeps serving it from L1 for `graceRetry` ms. */
  private serveStale(k: string, stale: Entry, failed: boolean): unknown {
    this.record('loader', 'stale', performance.now())
    if (failed && this.l1 !== undefined && this.graceRetry > 0) {
      const now = Date.now()
      const f = Math.min(now + this.graceRetry, stale.s)
      if (f > now) this.l1.set(k, { v: stale.v, f, r: 0, s: stale.s, t: stale.t }, { ttl: stale.s - now })
    }
    return stale.v
  }

  private refreshInBackground(
    k: string,
    key: string,
    loader: Loader<unknown>,
    options: LoadOptions | undefined,
    fromOwnFlight: boolean,
    token: string,
  ): void {
    if (this.closed || this.loads.has(k) || (!fromOwnFlight && this.flights.has(k))) return
    const run = async (): Promise<void> => {
      let lk: string | undefined
      let lockToken = ''
      if (this.distributed) {
        lk = this.lockPrefix + key
        lockToken = this.orphans.get(lk) ?? randomUUID()
        let got: number
        try {
          got = await this.acquireLock(lk, lockToken)
        } catch (err) {
          // no reply: the lock may be ours, release it by token; either way keep serving what we have
          if (!isReplyError(err)) this.releaseLock(lk, lockToken)
          return
        }
        if (got === 0) return // somebody else refreshes it
        if (this.orphans.get(lk) === lockToken) this.orphans.delete(lk)
      }
      // the fill expects the entry this refresh started from: any write since then refuses it
      const load = this.startLoad(k, key, loader, options, undefined, token)
      if (lk !== undefined) this.holdLock(lk, lockToken, load)
      await load.promise
    }
    const p = run().catch((error: unknown) => this.emit({ type: 'load-error', key, error, background: true }))
    this.background.add(p)
    p.then(() => this.background.delete(p))
  }

  private async loadBatch<T>(
    missing: string[],
    loader: BatchLoader<T>,
    options: LoadOptions | undefined,
    found: Map<string, Look>,
    stale: Map<string, Entry>,
    values: Map<string, unknown>,
    start: number,
  ): Promise<void> {
    const t0 = performance.now()
    const batch = (async () => Promise.resolve(loader([...missing])))()
    const results = batch.then((res) => {
      const m = new Map<string, unknown>()
      if (res instanceof Map) {
        for (const key of missing) m.set(key, res.has(key) ? res.get(key) : null)
      } else if (Array.isArray(res) && res.length === missing.length) {
        missing.forEach((key, i) => {
          m.set(key, res[i])
        })
      } else {
        throw new TypeError('redis-aside: batch loader must return a Map or an array aligned with its keys')
      }
      return m
    })
    // every missing key gets a load entry so that concurrent getOrLoad calls join it (and evictions reach it)
    const perKey = missing.map((key) => {
      const k = this.prefix + key
      const look = found.get(key)!
      const load: Load = { promise: Promise.resolve(), controller: new AbortController(), invalidated: false }
      this.loads.set(k, load)
      load.promise = (async () => {
        let stored: boolean | undefined = false
        try {
          const m = await results
          const value = m.get(key)
          if (value !== undefined && !load.invalidated) {
            stored = await this.fill(
              k,
              key,
              value,
              this.ttlFor(value, options?.ttl),
              options?.grace ?? this.grace,
              look.token,
              load,
            )
          }
          return value
        } finally {
          if (this.loads.get(k) === load) this.loads.delete(k)
          if (stored === false) this.dropLease(k, look.token)
        }
      })()
      load.promise.catch(() => {})
      return { key, k, load }
    })
    results.then(
      () => this.record('loader', 'hit', t0),
      () => this.record('loader', 'error', t0),
    )
    await Promise.all(
      perKey.map(({ key, k, load }) =>
        this.awaitLoad(load, k, key, stale.get(key), start).then((v) => {
          values.set(key, v)
        }),
      ),
    )
  }

  /**
   * L1 then one MGET round trip (per hash slot on a Cluster); returns, per user key, the best entry found
   * (fresh, or stale as a fallback) and what Redis held (for the fills of the keys that get loaded).
   */
  private async lookupMany(keys: readonly string[]): Promise<Map<string, Look>> {
    const out = new Map<string, Look>()
    const toRead: string[] = []
    const now = Date.now()
    for (const key of keys) {
      if (out.has(key)) continue
      let e: Entry | undefined
      if (this.l1 !== undefined) {
        const t0 = this.t0()
        e = this.l1.get(this.prefix + key) as Entry | undefined
        if (e !== undefined && now < e.f) {
          this.record('l1', 'hit', t0)
          out.set(key, { entry: e, fresh: true, token: e.t, ok: true })
          continue
        }
        this.record('l1', e !== undefined && now < e.s ? 'stale' : 'miss', t0)
      }
      out.set(key, {
        entry: e !== undefined && now < e.s ? e : undefined,
        fresh: false,
        token: '',
        ok: false,
      })
      toRead.push(key)
    }
    if (toRead.length === 0) return out
    const ks = toRead.map((key) => this.prefix + key)
    const fences = ks.map((k) => this.fence(k))
    const groups = this.bySlot(ks)
    const t0 = this.t0()
    const raws = new Map<string, string | null>()
    try {
      await Promise.all(
        groups.map(async (group) => {
          try {
            const res = await this.call(() => this.redis.mget(...group), 'mget', group[0]!)
            group.forEach((k, i) => {
              raws.set(k, res[i] ?? null)
            })
          } catch {
            this.record('l2', 'error', t0)
          }
        }),
      )
      const after = Date.now()
      toRead.forEach((key, i) => {
        const k = ks[i]!
        const look = out.get(key)!
        const raw = raws.get(k)
        if (raw === undefined) return // not answered: look.ok stays false
        look.ok = true
        if (raw === null) {
          this.record('l2', 'miss', t0)
          return
        }
        const d = this.decodeRaw(k, key, raw, t0)
        if (isMarker(d)) {
          look.token = d.t
          // a tombstone: deleted, so the L1's stale copy (older than the delete) is not a fallback either
          if (d.tomb) look.entry = undefined
          this.record('l2', 'miss', t0)
          return
        }
        if (d === undefined) return
        look.token = d.t
        if (after >= d.s) return
        const fresh = after < d.f
        this.record('l2', fresh ? 'hit' : 'stale', t0)
        if (fresh && !fences[i]!.invalid) this.setL1(k, d)
        if (fresh || look.entry === undefined || d.f > look.entry.f) {
          look.entry = d
          look.fresh = fresh
        }
      })
    } finally {
      ks.forEach((k, i) => {
        this.unfence(k, fences[i]!)
      })
    }
    return out
  }

  /** One Redis read of `k` (coalesced with the others of this tick), and what it saw. */
  private async readL2(k: string, key: string, report: boolean): Promise<L2Read> {
    const fence = this.fence(k)
    try {
      return await this.readL2Fenced(k, key, report, fence)
    } finally {
      this.unfence(k, fence)
    }
  }

  private async readL2Fenced(k: string, key: string, report: boolean, fence: Fence): Promise<L2Read> {
    const t0 = this.t0()
    let raw: string | null
    try {
      raw = await this.readRaw(k)
    } catch {
      if (report) this.record('l2', 'error', t0)
      return { e: undefined, token: '', ok: false, tomb: false, evicted: fence.invalid }
    }
    if (raw === null) {
      if (report) this.record('l2', 'miss', t0)
      return { e: undefined, token: '', ok: true, tomb: false, evicted: fence.invalid }
    }
    return this.interpret(k, key, raw, t0, report, fence)
  }

  /** What the raw value of a value key means for a reader (an entry past its grace, a marker: a miss). */
  private interpret(k: string, key: string, raw: string, t0: number, report: boolean, fence: Fence): L2Read {
    const d = this.decodeRaw(k, key, raw, t0)
    if (isMarker(d)) {
      if (report) this.record('l2', 'miss', t0)
      return { e: undefined, token: d.t, ok: true, tomb: d.tomb, evicted: fence.invalid }
    }
    if (d === undefined) return { e: undefined, token: '', ok: true, tomb: false, evicted: fence.invalid }
    const now = coarseNow()
    if (now >= d.s) {
      if (report) this.record('l2', 'miss', t0)
      return { e: undefined, token: d.t, ok: true, tomb: false, evicted: fence.invalid }
    }
    if (report) this.record('l2', now < d.f ? 'hit' : 'stale', t0)
    return { e: d, token: d.t, ok: true, tomb: false, evicted: fence.invalid }
  }

  // ---------------------------------------------------------------- encoding and storing

  /**
   * Decodes what Redis holds under a value key: an entry (`2<token>,<f>,<r>,<s>,<payload>`, times in base 36;
   * a legacy `1<f>,<r>,<s>,<payload>` entry is identified by its whole text), or a marker: a tombstone
   * `0<token>` or a lease `3<token>`. A payload that does not decode is reported, deleted with a compare-and-delete
   * (so that a value written meanwhile survives) and returned as `undefined`.
   */
  private decodeRaw(k: string, key: string, raw: string, t0: number): Entry | Marker | undefined {
    const version = raw.charCodeAt(0)
    if (version === 48 /* '0' */ || version === 51 /* '3' */) {
      return { marker: true, tomb: version === 48, t: raw.slice(1) }
    }
    try {
      let p: number
      let t: string
      if (version === 50 /* '2' */) {
        const c = raw.indexOf(',', 1)
        if (c < 0) throw new CorruptPayloadError('truncated envelope')
        t = raw.slice(1, c)
        p = c + 1
      } else if (version === 49 /* '1' */) {
        t = raw
        p = 1
      } else {
        throw new CorruptPayloadError('unknown envelope version')
      }
      const c1 = raw.indexOf(',', p)
      const c2 = c1 < 0 ? -1 : raw.indexOf(',', c1 + 1)
      const c3 = c2 < 0 ? -1 : raw.indexOf(',', c2 + 1)
      if (c3 < 0) throw new CorruptPayloadError('truncated envelope')
      const f = Number.parseInt(raw.slice(p, c1), 36)
      const r = Number.parseInt(raw.slice(c1 + 1, c2), 36)
      const s = Number.parseInt(raw.slice(c2 + 1, c3), 36)
      if (!Number.isFinite(f) || !Number.isFinite(r) || !Number.isFinite(s) || s < f) {
        throw new CorruptPayloadError('bad envelope header')
      }
      let v: unknown
      try {
        v = this.serializer.decode(raw.slice(c3 + 1))
      } catch (err) {
        throw err instanceof CorruptPayloadError ? err : new CorruptPayloadError('value does not decode', err)
      }
      return { v, f, r, s, t }
    } catch (err) {
      const error = err instanceof CorruptPayloadError ? err : new CorruptPayloadError('undecodable', err)
      this.record('l2', 'error', t0)
      this.emit({ type: 'corrupt', key, error })
      // delete it, unless it was replaced meanwhile
      this.call(() => this.runScript(RELEASE, [k], [raw]), 'del-corrupt', k).catch(() => {})
      return undefined
    }
  }

  private ttlFor(value: unknown, explicit: number | undefined): number {
    if (explicit !== undefined) return explicit
    if (value === null && this.nullTtl !== undefined) return this.nullTtl
    return this.ttl
  }

  /**
   * Builds an entry with a new token, and its Redis payload and `PX` (`ttl + grace`). An unserializable or oversized value throws when `strict`, else is reported and gives `undefined`.
   */
  private encodeEntry(
    key: string,
    value: unknown,
    ttl: number,
    grace: number,
    strict: boolean,
  ): { entry: Entry; payload: string; px: number } | undefined {
    const now = Date.now()
    const t = this.jitter > 0 ? Math.max(1, Math.round(ttl * (1 - this.jitter * Math.random()))) : ttl
    const f = now + t
    const r = this.eager > 0 ? now + Math.round(t * this.eager) : 0
    const s = f + grace
    const token = newToken()
    let payload: string
    try {
      payload = `2${token},${f.toString(36)},${r.toString(36)},${s.toString(36)},${this.serializer.encode(value)}`
      if (payload.length > this.maxValueBytes / 3) {
        const bytes = Buffer.byteLength(payload)
        if (bytes > this.maxValueBytes) throw new ValueTooLargeError(key, bytes, this.maxValueBytes)
      }
    } catch (err) {
      const error =
        err instanceof UnserializableValueError && err.key === undefined
          ? new UnserializableValueError(
              err.path,
              err.message.replace(/^cannot serialize | at .*$/g, ''),
              key,
            )
          : err
      if (strict) throw error
      this.emit({ type: 'store-error', key, error })
      return undefined
    }
    return { entry: { v: value, f, r, s, t: token }, payload, px: s - now }
  }

  /**
   * Stores a load's result: in Redis with the FILL compare-and-set against `token` (what Redis held before
   * the loader ran), then in the L1 unless the fill was refused (the value may predate a write) or the key
   * was invalidated in this process meanwhile. When Redis could not be asked (no token) or did not answer,
   * the outcome is unknown: the L1 still gets the value, so that reads keep being served during an outage.
   */
  private async fill(
    k: string,
    key: string,
    value: unknown,
    ttl: number,
    grace: number,
    token: string,
    load: Load,
  ): Promise<boolean | undefined> {
    if (ttl === 0) return false // nullTtl: 0
    const enc = this.encodeEntry(key, value, ttl, grace, false)
    if (enc === undefined) return false
    let stored: boolean | undefined
    if (token !== '') {
      try {
        const res = await this.call(() => this.runScript(FILL, [k], [token, enc.payload, enc.px]), 'fill', k)
        stored = res === 1
      } catch (err) {
        this.emit({ type: 'store-error', key, error: err })
      }
    }
    if (load.invalidated) return stored
    if (stored === false) {
      // what this process holds for the key is older than what Redis holds now
      this.l1?.delete(k)
      return false
    }
    this.setL1(k, enc.entry)
    return stored
  }

  /**
   * A load that stored nothing (skipCache, `undefined`, an error, a refused value) removes the lease it may
   * have put in the key (compare-and-delete: only `3<token>` itself, never what replaced it).
   */
  private dropLease(k: string, token: string): void {
    if (token === '') return
    this.call(() => this.runScript(RELEASE, [k], [`3${token}`]), 'lease-drop', k).catch(() => {})
  }

  private setL1(k: string, e: Entry): void {
    if (this.l1 === undefined) return
    const ttl = e.s - coarseNow()
    if (ttl > 0) this.l1.set(k, e, { ttl })
  }

  // ---------------------------------------------------------------- Redis plumbing

  /**
   * EVALSHA, falling back to EVAL (which caches the script) when this node does not know it yet. The
   * fallback is sent after the NOSCRIPT reply, so it may land after commands sent later: only scripts that
   * compare before they write (fill, lock acquire/renew/release, compare-and-delete) go through here.
   */
  private runScript(s: Script, keys: string[], args: Array<string | number>): Promise<unknown> {
    return this.redis.evalsha(s.sha, keys.length, ...keys, ...args).catch((err: unknown) => {
      if (isReplyError(err) && String((err as Error).message).startsWith('NOSCRIPT')) {
        return this.redis.eval(s.src, keys.length, ...keys, ...args)
      }
      throw err
    })
  }

  /**
   * Reads one raw value. Reads requested in the same turn of the event loop (e.g. many callers missing L1
   * at once) are coalesced: flushed on `process.nextTick` as one `GET` (a lone key) or one `MGET` per hash
   * slot. A lone sequential read therefore costs exactly one `GET` and no extra delay.
   */
  private readRaw(k: string): Promise<string | null> {
    let batch = this.readBatch
    if (batch === undefined) {
      batch = new Map()
      this.readBatch = batch
      process.nextTick(this.flushReads)
    }
    let waiters = batch.get(k)
    if (waiters === undefined) {
      waiters = []
      batch.set(k, waiters)
    }
    const w = waiters
    return new Promise<string | null>((resolve, reject) => {
      w.push({ resolve, reject })
    })
  }

  private readonly flushReads = (): void => {
    const batch = this.readBatch
    this.readBatch = undefined
    if (batch === undefined) return
    const settle = (k: string, value: string | null | undefined, error?: unknown): void => {
      for (const w of batch.get(k)!) {
        if (error !== undefined) w.reject(error)
        else w.resolve(value ?? null)
      }
    }
    if (batch.size === 1) {
      const [k] = batch.keys() as unknown as [string]
      this.call(() => this.redis.get(k), 'get', k).then(
        (v) => settle(k, v),
        (err: unknown) => settle(k, null, err ?? new Error('redis get failed')),
      )
      return
    }
    for (const group of this.bySlot([...batch.keys()])) {
      this.call(() => this.redis.mget(...group), 'mget', group[0]!).then(
        (values) => {
          group.forEach((k, i) => {
            settle(k, values[i])
          })
        },
        (err: unknown) => {
          for (const k of group) settle(k, null, err ?? new Error('redis mget failed'))
        },
      )
    }
  }

  /** Groups Redis keys so that each group can go in one multi-key command (one group per hash slot on a Cluster). */
  private bySlot(ks: string[]): string[][] {
    if (!this.isCluster) return [ks]
    const groups = new Map<number, string[]>()
    for (const k of ks) {
      const slot = keySlot(k)
      const g = groups.get(slot)
      if (g) g.push(k)
      else groups.set(slot, [k])
    }
    return [...groups.values()]
  }

  /**
   * Runs one Redis call through the circuit breaker and `timeouts.redis`. Deadlines are checked by one
   * shared timer (every `timeouts.redis / 4`, at most 25 ms, at least 1 ms) rather than a timer per call.
   */
  private call<T>(fn: () => Promise<T>, operation: string, k: string, write = false): Promise<T> {
    const breaker = this.breakerFor(k)
    // The breaker spares Redis (and the callers) the reads that would fail during an outage. An explicit write
    // (`set`, `delete`: an invalidation) always tries, bounded by timeouts.redis: held back for the cool-down,
    // it would leave the old value in Redis after Redis is back. Its success closes the breaker.
    if (!write && !breaker.allow()) return Promise.reject(BREAKER_OPEN)
    return new Promise<T>((resolve, reject) => {
      // monotonic, and read now: the coarse clock can be a reading from before an event-loop stall
      const pc: PendingCall = {
        deadline: performance.now() + this.redisTimeout,
        operation,
        reject,
        done: false,
        breaker,
      }
      this.pending.add(pc)
      if (this.sweepTimer === undefined) this.armSweep()
      let p: Promise<T>
      try {
        p = fn()
      } catch (err) {
        p = Promise.reject(err)
      }
      p.then(
        (v) => {
          if (pc.done) return
          pc.done = true
          this.pending.delete(pc)
          breaker.success()
          resolve(v)
        },
        (err: unknown) => {
          if (pc.done) return
          pc.done = true
          this.pending.delete(pc)
          if (isReplyError(err))
            breaker.success() // Redis answered: not an availability problem
          else breaker.failure()
          this.emit({ type: 'redis-error', operation, error: err })
          reject(err)
        },
      )
    })
  }

  private armSweep(): void {
    const every = Math.max(1, Math.min(25, Math.floor(this.redisTimeout / 4)))
    this.sweepTimer = setTimeout(this.sweep, every)
    this.sweepTimer.unref()
  }

  private readonly sweep = (): void => {
    this.sweepTimer = undefined
    const now = performance.now()
    let expired: PendingCall[] | undefined
    for (const pc of this.pending) {
      if (now < pc.deadline) continue
      if (expired === undefined) expired = [pc]
      else expired.push(pc)
    }
    if (expired !== undefined) {
      // Timers run before the poll phase: after the event loop was blocked (a long synchronous task, a GC
      // pause), a reply that arrived meanwhile is still unread in the socket. Give pending I/O one turn
      // (setImmediate runs after the poll phase) and only then declare what is still unanswered timed out.
      const late = expired
      setImmediate(() => this.expire(late))
    }
    if (this.pending.size > 0) this.armSweep()
  }

  private expire(calls: PendingCall[]): void {
    for (const pc of calls) {
      if (pc.done) continue
      pc.done = true
      this.pending.delete(pc)
      const error = new RedisUnavailableError(`${pc.operation} (timed out after ${this.redisTimeout} ms)`)
      pc.breaker.failure()
      this.emit({ type: 'redis-error', operation: pc.operation, error })
      pc.reject(error)
    }
  }

  private checkLoadOptions(o: LoadOptions): void {
    if (typeof o !== 'object' || o === null) throw new TypeError('redis-aside: options must be an object')
    if (o.ttl !== undefined) integer('ttl', o.ttl, 1, MAX_TTL)
    if (o.grace !== undefined) integer('grace', o.grace, 0, MAX_TTL)
  }

  /** A start time for `record`, read only when an observer listens. */
  private t0(): number {
    return this.observer === undefined ? 0 : performance.now()
  }

  private record(layer: CacheLayer, outcome: CacheOutcome, t0: number): void {
    if (this.observer === undefined) return
    try {
      this.observer.record(layer, outcome, performance.now() - t0)
    } catch {
      // an observer must not break the read path
    }
  }

  private emit(event: CacheEvent): void {
    if (this.onEvent === undefined) return
    try {
      this.onEvent(event)
    } catch {
      // ignore
    }
  }
}

/**
 * Creates a cache-aside cache over an ioredis `Redis` or `Cluster`.
 * @throws TypeError when an option is invalid (the message names it).
 * @example
 * const cache = createCache({ redis, l1: new L1Cache({ max: 10_000 }), namespace: 'users', ttl: 300_000, grace: 3_600_000 })
 * const user = await cache.getOrLoad(`user:${id}`, () => db.findUser(id))
 */
export function createCache(options: CacheOptions): Cache {
  return new RedisAsideCache(options)
}
