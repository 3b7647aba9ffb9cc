import { randomBytes, randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import {
  AbortedError,
  type LoaderContext as BaseLoaderContext,
  type CacheLayer,
  type CacheObserver,
  type CacheOutcome,
  ClosedError,
  type CloseOptions,
  CorruptPayloadError,
  checkDuration,
  checkFunction,
  checkInteger,
  checkMethods,
  checkNumber,
  checkObject,
  checkSignal,
  checkString,
  checkStrings,
  checkTtl,
  closeTimeout,
  exactSerializer,
  invalidArgument,
  type L1Store,
  MAX_TIMER_MS,
  MAX_TTL_MS,
  type Serializer,
  UnserializableValueError,
  type WritableCache,
} from '@tierkit/contracts'
import type { Cluster, Redis } from 'ioredis'
import { Breaker, type BreakerState } from './breaker.js'
import { coarseNow } from './clock.js'
import {
  LoaderError,
  LoaderTimeoutError,
  RedisReplyError,
  RedisUnavailableError,
  ValueTooLargeError,
} from './errors.js'
import { keyPrefix } from './keys.js'
import { ACQUIRE, FILL, LEASE, RELEASE, RENEW, type Script } from './scripts.js'
import { keySlot } from './slot.js'

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
  /**
   * every caller aborted (see `abandon`): invalidated too, and it leaves the lease it may have put in the key
   * to the load that replaces it (which expects that lease)
   */
  abandoned: boolean
  /** the callers (flights, batch calls) waiting for it now */
  waiters: number
  /**
   * the cache itself wants the result (an eager refresh, or a caller was served stale in its place past the
   * soft timeout): callers' aborts never abort it
   */
  keep: boolean
}

/**
 * What a waiter listens to in order to leave: a caller's `AbortSignal`, or a flight's {@link Departure}. Only
 * the part of `AbortSignal` the cache uses.
 */
interface Leaving {
  readonly aborted: boolean
  readonly reason: unknown
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void
  removeEventListener(type: 'abort', listener: () => void): void
}

/**
 * A flight's own abort signal, set off when its last caller aborts. Not an `AbortController`: one of those
 * costs microseconds to make, and a flight is made on every L1 miss.
 */
class Departure implements Leaving {
  aborted = false
  reason: unknown = undefined
  private listeners: Array<() => void> | undefined

  addEventListener(_type: 'abort', listener: () => void): void {
    if (this.listeners === undefined) this.listeners = [listener]
    else this.listeners.push(listener)
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const i = this.listeners?.indexOf(listener) ?? -1
    if (i >= 0) this.listeners!.splice(i, 1)
  }

  abort(reason: unknown): void {
    if (this.aborted) return
    this.aborted = true
    this.reason = reason
    const listeners = this.listeners
    this.listeners = undefined
    if (listeners !== undefined) for (const l of listeners) l()
  }
}

/** The flight of a key: the whole read path of `getOrLoad` (Redis, lock, load), shared by its callers. */
interface Flight {
  promise: Promise<unknown>
  /** the callers of this flight that have not aborted (a caller without a signal never leaves) */
  callers: number
  /** set off when every caller aborted: the flight stops where it is and leaves its load */
  departure: Departure
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
  /** the Redis key (the first one of a multi-key call), for the error's message */
  k: string
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

/** Largest `maxValueBytes`: Redis' own limit for a string (512 MiB). */
const MAX_VALUE_BYTES = 536_870_912
/** How long `close()` waits for the loads in flight by default, in ms. */
const CLOSE_TIMEOUT = 2000

/** The per-call options of `set` (`withSignal`: and of `getOrLoad`/`getOrLoadMany`). */
function checkCallOptions(where: string, o: unknown, withSignal: boolean): void {
  checkObject(where, 'options', o)
  const { ttl, grace, signal } = o as LoadOptions
  if (ttl !== undefined) checkTtl(where, 'options.ttl', ttl)
  if (grace !== undefined) checkDuration(where, 'options.grace', grace, 0, MAX_TTL_MS)
  if (withSignal) checkSignal(where, 'options.signal', signal)
}

function isReplyError(e: unknown): boolean {
  return (e as Error)?.name === 'ReplyError'
}

function messageOf(e: unknown): string {
  return String((e as Error)?.message ?? e)
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
  private readonly breakerCooldown: number
  private readonly flights = new Map<string, Flight>()
  private readonly loads = new Map<string, Load>()
  /** Redis reads in flight per key, so that an eviction can stop them from filling the L1. */
  private readonly fences = new Map<string, Fence[]>()
  private readonly background = new Set<Promise<unknown>>()
  /** Abandoned loads still running (their loader ignores its signal): `close()` waits for them too. */
  private readonly abandoned = new Set<Promise<unknown>>()
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
  private closing: Promise<void> | undefined

  constructor(o: CacheOptions) {
    const w = 'createCache'
    checkObject(w, 'options', o)
    checkMethods(w, 'redis', o.redis, ['get', 'mget', 'set'], 'an ioredis Redis or Cluster')
    checkString(w, 'namespace', o.namespace)
    this.redis = o.redis as unknown as RedisCommands
    this.isCluster = (o.redis as { isCluster?: boolean }).isCluster === true
    this.namespace = o.namespace
    this.prefix = `${keyPrefix(o.namespace)}v:`
    this.lockPrefix = `${keyPrefix(o.namespace)}l:`
    this.ttl = checkTtl(w, 'ttl', o.ttl)
    this.grace = o.grace === undefined ? 0 : checkDuration(w, 'grace', o.grace, 0, MAX_TTL_MS)
    checkObject(w, 'timeouts', o.timeouts, true)
    const t = o.timeouts ?? {}
    this.soft = t.soft === undefined ? undefined : checkDuration(w, 'timeouts.soft', t.soft)
    this.hard = t.hard === undefined ? undefined : checkDuration(w, 'timeouts.hard', t.hard)
    this.redisTimeout = t.redis === undefined ? 1000 : checkDuration(w, 'timeouts.redis', t.redis, 1)
    this.jitter = o.jitter === undefined ? 0 : checkNumber(w, 'jitter', o.jitter, 0, 1)
    if (
      o.eagerRefresh !== undefined &&
      (typeof o.eagerRefresh !== 'number' || !(o.eagerRefresh > 0 && o.eagerRefresh < 1))
    ) {
      throw invalidArgument(w, 'eagerRefresh', 'a number between 0 and 1, both excluded', o.eagerRefresh)
    }
    this.eager = o.eagerRefresh ?? 0
    this.nullTtl = o.nullTtl === undefined ? undefined : checkDuration(w, 'nullTtl', o.nullTtl, 0, MAX_TTL_MS)
    this.tombstoneTtl = o.tombstoneTtl === undefined ? 30_000 : checkTtl(w, 'tombstoneTtl', o.tombstoneTtl)
    checkObject(w, 'lock', o.lock, true)
    this.distributed = o.lock?.distributed === true
    this.lease = o.lock?.lease === undefined ? 10_000 : checkDuration(w, 'lock.lease', o.lock.lease, 3)
    this.renewEvery = Math.max(1, Math.floor(Math.min(this.lease / 3, 1000)))
    this.takeoverBelow = this.lease - 2 * this.renewEvery
    this.waitTimeout =
      o.lock?.waitTimeout === undefined ? 30_000 : checkDuration(w, 'lock.waitTimeout', o.lock.waitTimeout, 1)
    if (o.serializer !== undefined) {
      checkMethods(
        w,
        'serializer',
        o.serializer,
        ['encode', 'decode'],
        'an object with encode and decode methods',
      )
    }
    this.serializer = o.serializer ?? exactSerializer
    this.maxValueBytes =
      o.maxValueBytes === undefined
        ? 1_048_576
        : checkInteger(w, 'maxValueBytes', o.maxValueBytes, 1, MAX_VALUE_BYTES)
    if (o.l1 !== undefined) {
      checkMethods(
        w,
        'l1',
        o.l1,
        ['get', 'set', 'delete', 'clear'],
        'an object with get, set, delete and clear methods',
      )
    }
    this.l1 = o.l1
    if (o.observer !== undefined) {
      checkMethods(w, 'observer', o.observer, ['record'], 'an object with a record method (a CacheObserver)')
    }
    this.observer = o.observer
    this.graceRetry = o.graceRetry === undefined ? 1000 : checkDuration(w, 'graceRetry', o.graceRetry)
    checkFunction(w, 'onEvent', o.onEvent, true)
    this.onEvent = o.onEvent
    checkObject(w, 'breaker', o.breaker, true)
    const threshold =
      o.breaker?.threshold === undefined
        ? 5
        : checkInteger(w, 'breaker.threshold', o.breaker.threshold, 1, MAX_TIMER_MS)
    const cooldown =
      o.breaker?.cooldown === undefined ? 5000 : checkDuration(w, 'breaker.cooldown', o.breaker.cooldown, 1)
    this.breakerThreshold = threshold
    this.breakerCooldown = cooldown
    this.breaker = new Breaker(threshold, cooldown, (state) => this.emit({ type: 'breaker', state }))
  }

  /** What `ClosedError` names. */
  private get resource(): string {
    return `the cache ${JSON.stringify(this.namespace)}`
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
      b = new Breaker(this.breakerThreshold, this.breakerCooldown, (state) =>
        this.emit({ type: 'breaker', state, node }),
      )
      this.breakers.set(node, b)
    }
    return b
  }

  // ---------------------------------------------------------------- public API

  getOrLoad<T>(key: string, loader: Loader<T>, options?: LoadOptions): Promise<T> {
    if (this.closed) return Promise.reject(new ClosedError(this.resource))
    let signal: AbortSignal | undefined
    try {
      checkString('Cache.getOrLoad', 'key', key)
      checkFunction('Cache.getOrLoad', 'loader', loader)
      if (options !== undefined) {
        checkCallOptions('Cache.getOrLoad', options, true)
        signal = options.signal
      }
    } catch (e) {
      return Promise.reject(e)
    }
    if (signal?.aborted) return Promise.reject(new AbortedError('getOrLoad', signal.reason, key))
    const k = this.prefix + key
    let l1e: Entry | undefined
    if (this.l1 !== undefined) {
      const t0 = this.observer ? performance.now() : 0
      l1e = this.l1.get(k) as Entry | undefined
      if (l1e !== undefined) {
        const now = coarseNow()
        if (now < l1e.f) {
          if (this.observer) this.record('l1', 'hit', t0)
          if (l1e.r !== 0 && now >= l1e.r)
            this.refreshInBackground(k, key, loader as Loader<unknown>, options, false, l1e.t)
          return Promise.resolve(l1e.v as T)
        }
        if (now >= l1e.s) l1e = undefined
      }
      if (this.observer) this.record('l1', l1e ? 'stale' : 'miss', t0)
    }
    const flight = this.flights.get(k) ?? this.startFlight(k, key, loader as Loader<unknown>, options, l1e)
    flight.callers++
    if (signal === undefined) return flight.promise as Promise<T>
    return this.follow(flight, k, signal, 'getOrLoad', key) as Promise<T>
  }

  async get<T = unknown>(key: string): Promise<T | null | undefined> {
    if (this.closed) throw new ClosedError(this.resource)
    checkString('Cache.get', 'key', key)
    const k = this.prefix + key
    if (this.l1 !== undefined) {
      const t0 = this.t0()
      const e = this.l1.get(k) as Entry | undefined
      const now = Date.now()
      if (e !== undefined && now < e.f) {
        this.record('l1', 'hit', t0)
        return e.v as T | null
      }
      this.record('l1', e !== undefined && now < e.s ? 'stale' : 'miss', t0)
    }
    const { e, evicted } = await this.readL2(k, key, true)
    if (e !== undefined && Date.now() < e.f) {
      if (!evicted) this.setL1(k, e)
      return e.v as T | null
    }
    return undefined
  }

  async set(key: string, value: unknown, options?: SetOptions): Promise<void> {
    if (this.closed) throw new ClosedError(this.resource)
    checkString('Cache.set', 'key', key)
    if (value === undefined)
      throw invalidArgument('Cache.set', 'value', 'defined (use null for "no value")', value)
    if (options !== undefined) checkCallOptions('Cache.set', options, false)
    const k = this.prefix + key
    const ttl = this.ttlFor(value, options?.ttl)
    // null with nullTtl 0 is not cached: the write still replaces what was there
    if (ttl === 0) return this.remove('set', [key])
    const enc = this.encodeEntry(key, value, ttl, options?.grace ?? this.grace, true)!
    this.invalidate(k) // an older load or read in this process must not overwrite this value
    this.setL1(k, enc.entry)
    try {
      await this.call(() => this.redis.set(k, enc.payload, 'PX', enc.px), 'set', k, true)
    } catch (err) {
      if (isReplyError(err)) {
        // Redis is up and refused the write (OOM, READONLY...): the L1 must not serve what Redis does not hold
        if (this.l1?.get(k) === enc.entry) this.l1.delete(k)
        throw new RedisReplyError('set', key, err)
      }
      throw err
    }
  }

  async delete(key: string): Promise<void> {
    if (this.closed) throw new ClosedError(this.resource)
    checkString('Cache.delete', 'key', key)
    await this.remove('delete', [key])
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    if (this.closed) throw new ClosedError(this.resource)
    checkStrings('Cache.deleteMany', 'keys', keys)
    await this.remove('deleteMany', keys)
  }

  async getMany<T = unknown>(keys: readonly string[]): Promise<Array<T | null | undefined>> {
    if (this.closed) throw new ClosedError(this.resource)
    checkStrings('Cache.getMany', 'keys', keys)
    const found = await this.lookupMany(keys)
    return keys.map((key) => {
      const look = found.get(key)!
      return look.fresh ? (look.entry!.v as T | null) : undefined
    })
  }

  getOrLoadMany<T>(
    keys: readonly string[],
    loader: BatchLoader<T>,
    options?: LoadOptions,
  ): Promise<Array<T | null>> {
    if (this.closed) return Promise.reject(new ClosedError(this.resource))
    let signal: AbortSignal | undefined
    try {
      checkStrings('Cache.getOrLoadMany', 'keys', keys)
      checkFunction('Cache.getOrLoadMany', 'loader', loader)
      if (options !== undefined) {
        checkCallOptions('Cache.getOrLoadMany', options, true)
        signal = options.signal
      }
    } catch (e) {
      return Promise.reject(e)
    }
    if (signal === undefined) return this.loadMany(keys, loader, options, undefined)
    const outer = signal
    if (outer.aborted) return Promise.reject(new AbortedError('getOrLoadMany', outer.reason))
    // the call's own departure: its waits (for flights, loads, its batch) leave when the caller aborts
    const call = new Departure()
    const p = this.loadMany(keys, loader, options, call)
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        reject(new AbortedError('getOrLoadMany', outer.reason))
        call.abort(outer.reason)
      }
      outer.addEventListener('abort', onAbort, { once: true })
      p.then(
        (v) => {
          outer.removeEventListener('abort', onAbort)
          resolve(v)
        },
        (e: unknown) => {
          outer.removeEventListener('abort', onAbort)
          reject(e)
        },
      )
    })
  }

  evictLocal(keys?: string | readonly string[]): void {
    if (this.closed) throw new ClosedError(this.resource)
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
    if (!Array.isArray(keys))
      throw invalidArgument('Cache.evictLocal', 'keys', 'a string or an array of strings', keys)
    checkStrings('Cache.evictLocal', 'keys', keys)
    for (const key of keys) {
      const k = this.prefix + key
      this.invalidate(k)
      this.l1?.delete(k)
    }
  }

  close(options?: CloseOptions): Promise<void> {
    let timeout: number
    try {
      timeout = closeTimeout('Cache.close', options, CLOSE_TIMEOUT)
    } catch (e) {
      return Promise.reject(e)
    }
    if (this.closing !== undefined) return this.closing
    this.closed = true
    this.closing = this.shutdown(timeout)
    return this.closing
  }

  private async shutdown(timeout: number): Promise<void> {
    for (const t of this.renewals) clearInterval(t)
    for (const t of this.releaseRetries) clearTimeout(t)
    // one last try for the locks whose release was not answered (they expire after their lease anyway)
    for (const [lk, token] of this.orphans) {
      this.call(() => this.runScript(RELEASE, [lk], [token]), 'lock-release', lk, true).catch(() => {})
    }
    this.orphans.clear()
    const loads = [...this.loads.values()]
    for (const l of loads) l.controller.abort(new ClosedError(this.resource))
    const pending = [...this.background, ...this.abandoned, ...loads.map((l) => l.promise)]
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      Promise.allSettled(pending),
      new Promise<void>((r) => {
        timer = setTimeout(r, timeout)
        timer.unref()
      }),
    ])
    clearTimeout(timer)
  }

  // ---------------------------------------------------------------- flights, waiters and aborts

  /** Starts the flight of `k`: the whole read path, shared by the callers that join it. */
  private startFlight(
    k: string,
    key: string,
    loader: Loader<unknown>,
    options: LoadOptions | undefined,
    l1e: Entry | undefined,
  ): Flight {
    const departure = new Departure()
    const flight: Flight = {
      promise: this.resolve(k, key, loader, options, l1e, departure),
      callers: 0,
      departure,
    }
    this.flights.set(k, flight)
    const clear = (): void => {
      if (this.flights.get(k) === flight) this.flights.delete(k)
    }
    flight.promise.then(clear, clear)
    return flight
  }

  /**
   * One caller's wait for a flight, with the caller's signal: the abort rejects this caller at once with
   * `AbortedError`. The flight goes on for its other callers; when the last one aborts, the flight is
   * abandoned (new callers start afresh) and leaves its load, which stops when nobody else waits for it.
   */
  private follow(
    flight: Flight,
    k: string,
    signal: Leaving,
    what: string,
    key: string | undefined,
  ): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        reject(new AbortedError(what, signal.reason, key))
        if (--flight.callers === 0) {
          if (this.flights.get(k) === flight) this.flights.delete(k)
          flight.departure.abort(signal.reason)
        }
      }
      if (signal.aborted) {
        onAbort()
        return
      }
      signal.addEventListener('abort', onAbort, { once: true })
      flight.promise.then(
        (v) => {
          signal.removeEventListener('abort', onAbort)
          resolve(v)
        },
        (e: unknown) => {
          signal.removeEventListener('abort', onAbort)
          reject(e)
        },
      )
    })
  }

  /**
   * Nobody waits for `load` any more (every caller aborted) and the cache does not want its result for
   * itself: its `ctx.signal` aborts, new callers start a new load, and its result, if it still comes, is
   * cached nowhere.
   */
  private abandon(k: string, key: string, load: Load, reason: unknown): void {
    load.invalidated = true
    load.abandoned = true
    if (this.loads.get(k) === load) this.loads.delete(k)
    const p = load.promise
    this.abandoned.add(p)
    const done = (): void => {
      this.abandoned.delete(p)
    }
    p.then(done, done)
    load.controller.abort(new AbortedError(`the load of ${JSON.stringify(key)}`, reason, key))
  }

  /** The keys removed by `set` (null with nullTtl 0), `delete` and `deleteMany`: a tombstone each. */
  private async remove(operation: string, keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return
    const unique = [...new Set(keys)]
    const ks = unique.map((key) => this.prefix + key)
    for (const k of ks) {
      this.invalidate(k)
      this.l1?.delete(k)
    }
    // a tombstone with a new token rather than a DEL: a load that read the key before this delete expects
    // what it saw there, so its fill is refused, in every process (see FILL). Plain SETs, not a script: a
    // script can be re-sent as EVAL after a NOSCRIPT reply and so land after a later write of this client.
    const tombstone = `0${newToken()}`
    await Promise.all(
      ks.map((k, i) =>
        this.call(() => this.redis.set(k, tombstone, 'PX', this.tombstoneTtl), operation, k, true).catch(
          (e: unknown) => {
            throw isReplyError(e) ? new RedisReplyError(operation, unique[i], e) : e
          },
        ),
      ),
    )
  }

  /** `getOrLoadMany` after the checks; `signal` is the call's own (aborted when its caller's aborts). */
  private async loadMany<T>(
    keys: readonly string[],
    loader: BatchLoader<T>,
    options: LoadOptions | undefined,
    signal: Leaving | undefined,
  ): Promise<Array<T | null>> {
    const start = Date.now()
    /** the caller left (read anew after every await) */
    const left = (): boolean => signal?.aborted === true
    const found = await this.lookupMany(keys)
    if (left()) throw new AbortedError('getOrLoadMany', signal?.reason)
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
      const flight = this.flights.get(k)
      const load = flight === undefined ? this.loads.get(k) : undefined
      if (flight !== undefined) {
        // a getOrLoad of the key is on its way: this call is one more of its callers
        flight.callers++
        const p =
          signal === undefined ? flight.promise : this.follow(flight, k, signal, 'getOrLoadMany', undefined)
        joins.push(
          p.then(
            (v) => {
              values.set(key, v)
            },
            (err: unknown) => {
              if (!stale.has(key) || err instanceof AbortedError) throw err
              values.set(key, stale.get(key)!.v)
            },
          ),
        )
      } else if (load !== undefined) {
        // a load of the key (another batch, a refresh) runs: wait for it like its other callers
        joins.push(
          this.awaitLoad(load, k, key, stale.get(key), start, signal).then((v) => {
            values.set(key, v)
          }),
        )
      } else {
        missing.push(key)
      }
    }
    if (missing.length > 0 && !left()) {
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
      if (toLoad.length > 0 && !left()) {
        joins.push(this.loadBatch(toLoad, loader, options, found, stale, values, start, signal))
      }
    }
    if (left()) throw new AbortedError('getOrLoadMany', signal?.reason)
    await Promise.all(joins)
    return keys.map((key) => values.get(key) as T | null)
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
    signal: Leaving,
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
    if (signal.aborted) throw new AbortedError('getOrLoad', signal.reason, key) // every caller left
    if (this.distributed && !this.loads.has(k) && this.breakerFor(k).state === 'closed') {
      return this.loadWithLock(k, key, loader, options, stale, start, read, signal)
    }
    return this.loadFrom(k, key, loader, options, stale, start, read, signal)
  }

  /**
   * Loads `k` after the read `read`: joins the load of `k` already running here, if any; otherwise leases
   * the key when the read found it empty (so that the fill has a token to expect), serves a fresh value
   * written meanwhile, or starts the loader. `hold` is the distributed lock, renewed while the load runs
   * and released after it. `signal`: the flight's, aborted when every caller left.
   */
  private async loadFrom(
    k: string,
    key: string,
    loader: Loader<unknown>,
    options: LoadOptions | undefined,
    stale: Entry | undefined,
    start: number,
    read: L2Read,
    signal: Leaving,
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
    if (signal.aborted) {
      // every caller left before the loader started: do not start it
      if (hold !== undefined) this.releaseLock(hold.lk, hold.token)
      throw new AbortedError('getOrLoad', signal.reason, key)
    }
    const load = this.startLoad(k, key, loader, options, stale, read.token, false)
    if (hold !== undefined) this.holdLock(hold.lk, hold.token, load)
    return this.awaitLoad(load, k, key, stale, start, signal)
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
    signal: Leaving,
  ): Promise<unknown> {
    const lk = this.lockPrefix + key
    // a lock this process may still hold (an earlier acquisition or release whose reply was lost) is
    // re-acquired with its token rather than waited on
    const token = this.orphans.get(lk) ?? randomUUID()
    let delay = 4
    for (;;) {
      if (signal.aborted) throw new AbortedError('getOrLoad', signal.reason, key) // every caller left
      let acquired: boolean
      try {
        acquired = (await this.acquireLock(lk, token)) !== 0
      } catch (err) {
        if (isReplyError(err)) {
          // Redis refused the script (OOM, ...): nothing was set, load without the lock
          return this.loadFrom(k, key, loader, options, stale, start, seen, signal)
        }
        // No reply (timeout, connection lost): the lock may have been set all the same. Act as its holder
        // (load, renew, then release it by token) so that it is never left to a holder that does not exist.
        acquired = true
      }
      if (acquired) {
        if (this.orphans.get(lk) === token) this.orphans.delete(lk)
        // somebody may have stored the value between our read and our lock
        const again = await this.readL2(k, key, false)
        return this.loadFrom(k, key, loader, options, stale, start, again, signal, { lk, token })
      }
      const local = this.loads.get(k)
      if (local) return this.awaitLoad(local, k, key, stale, start, signal)
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
        this.record('db', 'error', performance.now())
        throw new LoaderTimeoutError(key, this.hard)
      }
      if (waited >= this.waitTimeout) {
        return this.loadFrom(k, key, loader, options, stale, start, seen, signal)
      }
      if (this.closed) throw new ClosedError(this.resource)
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
   * unknown, and then the result is not stored in Redis. `keep`: the cache wants the result for itself (an
   * eager refresh), so callers' aborts never abort it.
   */
  private startLoad(
    k: string,
    key: string,
    loader: Loader<unknown>,
    options: LoadOptions | undefined,
    stale: Entry | undefined,
    token: string,
    keep: boolean,
  ): Load {
    const existing = this.loads.get(k)
    if (existing) {
      if (keep) existing.keep = true
      return existing
    }
    const controller = new AbortController()
    let ttlOverride: number | undefined
    let skip = false
    const ctx: LoaderContext<unknown> = {
      key,
      stale: stale?.v,
      signal: controller.signal,
      setTtl(ttl: number) {
        ttlOverride = checkTtl('ctx.setTtl', 'ttl', ttl)
      },
      skipCache() {
        skip = true
      },
    }
    const load: Load = {
      promise: Promise.resolve(),
      controller,
      invalidated: false,
      abandoned: false,
      waiters: 0,
      keep,
    }
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
          this.record('db', 'error', t0)
          throw err
        }
        this.record('db', 'hit', t0)
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
        if (stored === false && !load.abandoned) this.dropLease(k, token)
      }
    })()
    load.promise.catch(() => {})
    return load
  }

  /**
   * Waits for a load, applying the soft and hard timeouts and the fail-safe. `signal` (a flight's, or a
   * batch call's) makes this waiter leave: when it was the last one and the cache does not want the result
   * for itself, the load is abandoned (its `ctx.signal` aborts).
   */
  private awaitLoad(
    load: Load,
    k: string,
    key: string,
    stale: Entry | undefined,
    start: number,
    signal: Leaving | undefined,
  ): Promise<unknown> {
    const soft = stale !== undefined ? this.soft : undefined
    const hard = this.hard
    load.waiters++
    return new Promise((resolve, reject) => {
      let done = false
      let softTimer: NodeJS.Timeout | undefined
      let hardTimer: NodeJS.Timeout | undefined
      const finish = (fn: () => void, aborted = false): void => {
        if (done) return
        done = true
        if (softTimer) clearTimeout(softTimer)
        if (hardTimer) clearTimeout(hardTimer)
        signal?.removeEventListener('abort', onAbort)
        load.waiters--
        if (aborted && load.waiters === 0 && !load.keep) this.abandon(k, key, load, signal?.reason)
        fn()
      }
      const onAbort = (): void =>
        finish(() => reject(new AbortedError('getOrLoad', signal?.reason, key)), true)
      // served stale in the load's place: the load goes on and refreshes the entry, whoever aborts later
      const serveInstead = (): void => {
        load.keep = true
        resolve(this.serveStale(k, stale!, false))
      }
      if (signal !== undefined) {
        if (signal.aborted) {
          onAbort()
          return
        }
        signal.addEventListener('abort', onAbort, { once: true })
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
        softTimer = setTimeout(() => finish(serveInstead), Math.max(0, soft - elapsed))
      }
      if (hard !== undefined) {
        hardTimer = setTimeout(
          () =>
            finish(() => {
              if (stale !== undefined && Date.now() < stale.s) {
                serveInstead()
              } else {
                this.record('db', 'error', performance.now())
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
    this.record('db', 'stale', performance.now())
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
      const load = this.startLoad(k, key, loader, options, undefined, token, true)
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
    signal: Leaving | undefined,
  ): Promise<void> {
    const t0 = performance.now()
    // the batch's signal aborts once every key's load is aborted (all its callers left, or close())
    const controller = new AbortController()
    const staleValues = new Map<string, T>()
    for (const key of missing) {
      const e = stale.get(key)
      if (e !== undefined) staleValues.set(key, e.v as T)
    }
    const ctx: BatchLoaderContext<T> = { keys: missing, signal: controller.signal, stale: staleValues }
    const batch = (async () => Promise.resolve(loader(missing, ctx)))()
    const results = batch.then((res) => {
      const m = new Map<string, unknown>()
      if (res instanceof Map) {
        for (const key of missing) m.set(key, res.has(key) ? res.get(key) : null)
      } else if (Array.isArray(res) && res.length === missing.length) {
        missing.forEach((key, i) => {
          m.set(key, res[i])
        })
      } else {
        throw invalidArgument(
          'Cache.getOrLoadMany',
          "the loader's result",
          `a Map or an array of ${missing.length} values aligned with its keys`,
          res,
        )
      }
      return m
    })
    // every missing key gets a load entry so that concurrent getOrLoad calls join it (and evictions reach it)
    const perKey = missing.map((key) => {
      const k = this.prefix + key
      const look = found.get(key)!
      const load: Load = {
        promise: Promise.resolve(),
        controller: new AbortController(),
        invalidated: false,
        abandoned: false,
        waiters: 0,
        keep: false,
      }
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
          if (stored === false && !load.abandoned) this.dropLease(k, look.token)
        }
      })()
      load.promise.catch(() => {})
      return { key, k, load }
    })
    let live = perKey.length
    for (const { load } of perKey) {
      const s = load.controller.signal
      s.addEventListener(
        'abort',
        () => {
          if (--live === 0) controller.abort(s.reason)
        },
        { once: true },
      )
    }
    results.then(
      () => this.record('db', 'hit', t0),
      () => this.record('db', 'error', t0),
    )
    await Promise.all(
      perKey.map(({ key, k, load }) =>
        this.awaitLoad(load, k, key, stale.get(key), start, signal).then((v) => {
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
        throw err instanceof CorruptPayloadError
          ? err
          : new CorruptPayloadError('value does not decode', { cause: err })
      }
      return { v, f, r, s, t }
    } catch (err) {
      const error =
        err instanceof CorruptPayloadError ? err : new CorruptPayloadError('undecodable', { cause: err })
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
          ? new UnserializableValueError(err.path, err.reason, key, { cause: err })
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
    if (!write && !breaker.allow()) {
      return Promise.reject(new RedisUnavailableError(operation, this.keyOf(k), 'circuit breaker open'))
    }
    return new Promise<T>((resolve, reject) => {
      // monotonic, and read now: the coarse clock can be a reading from before an event-loop stall
      const pc: PendingCall = {
        deadline: performance.now() + this.redisTimeout,
        operation,
        k,
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
          const key = this.keyOf(k)
          if (isReplyError(err)) {
            breaker.success() // Redis answered: not an availability problem
            this.emit({ type: 'redis-error', operation, key, error: err })
            reject(err)
            return
          }
          breaker.failure()
          // a connection error: say which call on which key, and why
          const error = new RedisUnavailableError(operation, key, messageOf(err), err)
          this.emit({ type: 'redis-error', operation, key, error })
          reject(error)
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
      const key = this.keyOf(pc.k)
      const error = new RedisUnavailableError(pc.operation, key, `timed out after ${this.redisTimeout} ms`)
      pc.breaker.failure()
      this.emit({ type: 'redis-error', operation: pc.operation, key, error })
      pc.reject(error)
    }
  }

  /** The cache key of a Redis key of this cache (a value's or a lock's). */
  private keyOf(k: string): string | undefined {
    if (k.startsWith(this.prefix)) return k.slice(this.prefix.length)
    if (k.startsWith(this.lockPrefix)) return k.slice(this.lockPrefix.length)
    return undefined
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
