import {
  AbortedError,
  ClosedError,
  type CloseOptions,
  checkDuration,
  checkFunction,
  checkInteger,
  checkNumber,
  checkObject,
  checkOneOf,
  checkSignal,
  checkTtl,
  closeTimeout,
  type LoaderContext,
  refuseRenamed,
  TierkitTypeError,
} from '@tierkit/contracts'
import { refreshNow } from './clock.js'
import { EntryTooLargeError, InvalidSizeError } from './errors.js'
import { FrequencySketch, hashKey, hashString, nextPow2 } from './sketch.js'

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

interface Flight<V> {
  promise: Promise<V | undefined>
  controller: AbortController
  waiters: number
  background: boolean
  invalidated: boolean
}

const WIN = 0
const PROB = 1
const PROT = 2
const FIRST = 3
const Q_SHIFT = 4
const FREQ = 15
/** Policy byte bit: the entry was hit since it was inserted (only then is its count worth writing back). */
const TOUCH = 64
/** Mask of the policy byte's bits that moves between segments keep. */
const KEEP = FREQ | TOUCH
const INITIAL_SLOTS = 16
const SWEEP_CHUNK = 4096
// Hill climber (after Caffeine): restart the step when the hit ratio moves by this much, else decay it.
const ADMIT_DOS_THRESHOLD = 6

/** The default `close()` timeout: how long loads in flight may take to settle, in ms. */
const CLOSE_TIMEOUT = 5000
/** The bound of counts and weights (`max`, `maxSize`, `size`). */
const MAX_COUNT = Number.MAX_SAFE_INTEGER
/** Options of 0.1 that were renamed: a plain-JavaScript caller still passing one is told, not ignored. */
const RENAMED: Readonly<Record<string, string>> = {
  staleWhileRevalidate: 'renamed grace',
  onEvict: "replaced by onEvent, events of type 'evict'",
  onBackgroundError: "replaced by onEvent, events of type 'refresh-error'",
}
const POLICIES: readonly Policy[] = ['lru', 'tinylfu']

/**
 * A bounded in-process cache with per-entry TTL, an adaptive scan-resistant policy (or exact LRU), weights,
 * a grace period served stale while one background load refreshes, and single-flight loading. It is an
 * `L1Store` of `@tierkit/contracts` (`get`, `set(key, value, { ttl })`, `delete`, `clear`).
 *
 * @example
 * ```ts
 * const cache = new L1Cache<string, User>({ max: 10_000, ttl: 60_000 })
 * cache.set('u:1', user)
 * cache.get('u:1') // user
 * const u2 = await cache.getOrLoad('u:2', (ctx) => db.users.find(ctx.key, { signal: ctx.signal }))
 * ```
 */
export class L1Cache<K, V> {
  /** Maximum number of entries (0: unbounded count). */
  readonly max: number
  /** Maximum total weight (0: unbounded weight). */
  readonly maxSize: number
  /** Default TTL in ms (0: none). */
  readonly ttl: number
  /** The eviction policy in use. */
  readonly policy: Policy
  /** How long past its TTL an entry is served stale by `getOrLoad` while it is refreshed, in ms. */
  readonly grace: number

  /** @internal cached clock reading (`Infinity`: none; see the `clock` option); not in the published types */
  nowValue: number = Number.POSITIVE_INFINITY
  private nowReads = 0
  private map: Map<K, number> = new Map()
  private keyList: (K | undefined)[]
  private valList: (V | undefined)[]
  private next: Uint32Array
  private prev: Uint32Array
  private meta: Uint8Array | null
  private sizes: Float64Array | null = null
  private exp: Float64Array | null = null
  private slotCap: number
  private maxSlots: number
  private top: number = FIRST
  private freeHead = 0
  private readonly lru: boolean
  private readonly maxCount: number
  private readonly maxWeight: number
  private readonly capUnits: number
  private readonly weighted: boolean
  private readonly sizeOf: ((value: V, key: K) => number) | null
  private readonly onEvent: ((event: L1CacheEvent<K, V>) => void) | null
  private readonly clock: (() => number) | null
  private readonly sweepInterval: number
  private count = 0
  private weight = 0
  private ttlCount = 0
  // W-TinyLFU state
  private sketch: FrequencySketch | null = null
  private windowWeight = 0
  private protectedWeight = 0
  // Fractional fields start with a fractional value: V8 then stores them as doubles from the start, instead of
  // changing every cache's hidden class (and dropping the optimized code) the first time one turns fractional.
  private windowMax = 0.5
  private protectedMax = 0.5
  private nextCheck: number
  private period: number
  private sample: number
  private sampleHits = 0
  private sampleOps = 0
  private prevHitRate = 0.5
  private stepSize = 0.5
  private filled = false
  private missKey: K | undefined = undefined
  private missValid = false
  private lastMissFreq = 0
  private rand = 0x2545f491
  private readonly fastEvict: boolean = TUNING.fastEvict
  // sweeping
  private hand: number = FIRST
  private sweepTimer: ReturnType<typeof setTimeout> | null = null
  // pending evict events
  private pendK: K[] = []
  private pendV: V[] = []
  private pendR: EvictionReason[] = []
  private flights: Map<K, Flight<V>> | null = null
  // counters (plain numbers)
  private hits = 0
  private misses = 0
  private sets = 0
  private deletes = 0
  private evictions = 0
  private expirations = 0
  private loads = 0
  private loadErrors = 0
  private staleServed = 0
  private oversized = 0
  // close()
  private closed = false
  private closing: Promise<void> | null = null

  /**
   * Creates a cache. Construction is O(1): storage grows with the content, up to `max`.
   * @param options - see {@link L1CacheOptions}
   * @throws TierkitTypeError (a `TypeError`, code `E_INVALID_ARGUMENT`) on a bad option, with the message
   *   `L1Cache: options.<name> must be <rule>, got <value>`: `max` an integer from 0, `maxSize` a number from
   *   0, `ttl` and `grace` durations in ms (integers from 0 to 315360000000), `sweepInterval` a duration from
   *   0 to 2147483647, `policy` `'lru'` or `'tinylfu'`, `sizeOf`, `onEvent`, `clock` functions; at least one
   *   of `max` and `maxSize` greater than 0.
   */
  constructor(options: L1CacheOptions<K, V>) {
    const where = 'L1Cache'
    checkObject(where, 'options', options)
    refuseRenamed(where, options, RENAMED, 'options.')
    const max = checkInteger(where, 'options.max', options.max ?? 0, 0, MAX_COUNT)
    const maxSize = checkNumber(where, 'options.maxSize', options.maxSize ?? 0, 0, MAX_COUNT)
    this.ttl = checkTtl(where, 'options.ttl', options.ttl ?? 0, 0)
    this.grace = checkTtl(where, 'options.grace', options.grace ?? 0, 0)
    this.sweepInterval = checkDuration(where, 'options.sweepInterval', options.sweepInterval ?? 1000)
    if (max === 0 && maxSize === 0)
      throw new TierkitTypeError(
        `${where}: options.max or options.maxSize must be greater than 0, got max 0 and maxSize 0`,
      )
    const policy = checkOneOf(where, 'options.policy', options.policy ?? 'tinylfu', POLICIES)
    checkFunction(where, 'options.sizeOf', options.sizeOf, true)
    checkFunction(where, 'options.onEvent', options.onEvent, true)
    checkFunction(where, 'options.clock', options.clock, true)
    this.sizeOf = options.sizeOf ?? null
    this.onEvent = options.onEvent ?? null
    this.clock = options.clock ?? null
    this.max = max
    this.maxSize = maxSize
    this.policy = policy
    this.lru = policy === 'lru'
    this.maxCount = max > 0 ? max : Number.POSITIVE_INFINITY
    this.maxWeight = maxSize > 0 ? maxSize : Number.POSITIVE_INFINITY
    this.weighted = maxSize > 0
    this.capUnits = maxSize > 0 ? maxSize : max
    this.maxSlots = max > 0 && max < 0x7ffffff0 ? max + FIRST + 1 : 0x7fffffff
    this.slotCap = Math.min(INITIAL_SLOTS + FIRST, this.maxSlots)
    this.keyList = filled(this.slotCap)
    this.valList = filled(this.slotCap)
    this.next = new Uint32Array(this.slotCap)
    this.prev = new Uint32Array(this.slotCap)
    this.meta = this.lru ? null : new Uint8Array(this.slotCap)
    // a small sketch from the start (constant size; replaced by a larger one as the storage grows)
    if (!this.lru) this.sketch = new FrequencySketch(TUNING.minCounters)
    if (this.weighted) this.sizes = new Float64Array(this.slotCap)
    for (let h = 0; h < FIRST; h++) {
      this.next[h] = h
      this.prev[h] = h
    }
    this.windowMax = this.lru ? Number.POSITIVE_INFINITY : Math.max(1, this.capUnits * 0.01)
    this.protectedMax = this.lru ? 0 : (this.capUnits - this.windowMax) * 0.8
    this.stepSize = -TUNING.step * this.capUnits
    this.prevHitRate = 0
    this.period = 0
    this.sample = 0
    this.setPeriods(max > 0 ? max : this.slotCap)
    this.nextCheck = Math.min(this.sample, this.period)
  }

  /** Number of entries stored (expired entries count until they are reclaimed). Readable after `close()` (0). */
  get size(): number {
    return this.count
  }

  /** Total weight stored (the number of entries when no `maxSize` is set). Readable after `close()` (0). */
  get calculatedSize(): number {
    return this.weighted ? this.weight : this.count
  }

  /**
   * Returns the value under `key`, or `undefined` if absent or expired. Counts a hit or a miss and records
   * the access for the policy.
   * @throws ClosedError after `close()`
   */
  get(key: K): V | undefined {
    const slot = this.map.get(key)
    if (slot === undefined) {
      // a closed cache is empty: every lookup lands here, so the hit path pays nothing for the check
      if (this.closed) throw this.closedError()
      this.misses++
      // remember the absent key: the usual next call is set(key), which can then skip its own lookup
      this.missKey = key
      this.missValid = true
      if (!this.lru) this.recordMiss(key)
      return undefined
    }
    // kept small on purpose (inlining budget): the expired case lives in expiredGet()
    if (this.exp !== null) {
      const e = this.exp[slot]!
      // Fast path: the cached clock reading says "not expired" and is still fresh (it is re-read every 256
      // hits, and the shared timer zeroes nowValue after ~1 ms of event-loop time; an injected clock always
      // takes the slow path).
      if (e !== 0 && (e <= this.nowValue || (this.hits & 255) === 0) && e <= this.readClock()) {
        return this.expiredGet(slot)
      }
    }
    this.hits++
    if (this.lru) this.toTail(WIN, slot)
    else this.hit(slot)
    return this.valList[slot]
  }

  private expiredGet(slot: number): undefined {
    this.misses++
    this.expireSlot(slot, this.exp![slot]!)
    return undefined
  }

  /**
   * Returns the value under `key` without counting or promoting it; `undefined` if absent or expired.
   * @throws ClosedError after `close()`
   */
  peek(key: K): V | undefined {
    const slot = this.map.get(key)
    if (slot === undefined) {
      if (this.closed) throw this.closedError()
      return undefined
    }
    return this.isExpired(slot) ? undefined : this.valList[slot]
  }

  /**
   * True if `key` holds an unexpired value. Does not promote.
   * @throws ClosedError after `close()`
   */
  has(key: K): boolean {
    const slot = this.map.get(key)
    if (slot === undefined) {
      if (this.closed) throw this.closedError()
      return false
    }
    return !this.isExpired(slot)
  }

  /**
   * Stores `value` under `key` (replacing any previous value). `set(key, undefined)` deletes the key.
   * @returns the cache
   * @throws TierkitTypeError `L1Cache.set: options.ttl must be a duration in ms, an integer from 0 to
   *   315360000000, got <value>`, `L1Cache.set: options.size must be a number from 0 to 9007199254740991, got
   *   <value>`, `L1Cache.set: options must be an object, got <value>`
   * @throws {@link InvalidSizeError} when `sizeOf` returns a non-finite or negative number (or throws)
   * @throws {@link EntryTooLargeError} when the entry's size exceeds `maxSize`
   * @throws ClosedError after `close()`
   * In every error case nothing is stored and the previous value under `key` is kept.
   */
  set(key: K, value: V, options?: SetOptions): this {
    if (this.closed) throw this.closedError()
    let ttl = this.ttl
    let size = 1
    let sizeGiven = false
    if (options !== undefined) {
      checkObject('L1Cache.set', 'options', options)
      if (options.ttl !== undefined) ttl = checkTtl('L1Cache.set', 'options.ttl', options.ttl, 0)
      if (options.size !== undefined) {
        size = checkNumber('L1Cache.set', 'options.size', options.size, 0, MAX_COUNT)
        sizeGiven = true
      }
    }
    if (value === undefined) {
      this.delete(key)
      return this
    }
    // sizes only matter with maxSize: without it every entry weighs 1 and sizeOf is not called
    if (!this.weighted) size = 1
    else if (!sizeGiven && this.sizeOf !== null) size = this.measure(value, key)
    if (this.weighted && size > this.maxSize) {
      this.oversized++
      throw new EntryTooLargeError(key, size, this.maxSize)
    }
    if (this.flights !== null) this.invalidateFlight(key)
    this.sets++
    // a get() that just missed this key, with no insert since, proves it absent: skip the second lookup
    const slot = this.missValid && key === this.missKey ? undefined : this.map.get(key)
    if (slot !== undefined) this.update(slot, key, value, ttl, size)
    else this.insert(key, value, ttl, size)
    if (this.pendK.length !== 0) this.flush()
    return this
  }

  /**
   * Removes `key` (an `evict` event with reason `delete`). @returns true if the key held a live entry
   * @throws ClosedError after `close()`
   */
  delete(key: K): boolean {
    if (this.closed) throw this.closedError()
    if (this.flights !== null) this.invalidateFlight(key)
    const slot = this.map.get(key)
    if (slot === undefined) return false
    const expired = this.isExpired(slot)
    if (expired) this.expirations++
    else this.deletes++
    this.removeSlot(slot, expired ? 'expire' : 'delete')
    if (this.pendK.length !== 0) this.flush()
    return !expired
  }

  /**
   * Removes every entry (an `evict` event with reason `clear` for each) and releases the storage.
   * Loads in flight still resolve for their callers but do not store their result.
   * @throws ClosedError after `close()`
   */
  clear(): void {
    if (this.closed) throw this.closedError()
    this.dropAll()
  }

  /**
   * Whole milliseconds until `key` expires, rounded up (so `remainingTtl(key) > 0` exactly when `has(key)` is
   * true): `Infinity` if it has no TTL, `0` if it is absent or expired (also inside its `grace`).
   * @throws ClosedError after `close()`
   */
  remainingTtl(key: K): number {
    if (this.closed) throw this.closedError()
    const slot = this.map.get(key)
    if (slot === undefined) return 0
    const e = this.exp === null ? 0 : this.exp[slot]!
    if (e === 0) return Number.POSITIVE_INFINITY
    return Math.max(0, Math.ceil(e - this.now()))
  }

  /**
   * `[key, value]` pairs of the unexpired entries. Never promotes and never counts. Order: most recently used
   * first for `lru`; for `tinylfu`, the protected, window and probation segments in turn, each most recent first.
   * The set of entries is taken when iteration starts; entries removed meanwhile are skipped.
   * @throws ClosedError after `close()`
   */
  entries(): Generator<[K, V], void, undefined> {
    if (this.closed) throw this.closedError()
    return this.liveEntries()
  }

  private *liveEntries(): Generator<[K, V], void, undefined> {
    for (const slot of this.slots()) {
      if (this.valList[slot] !== undefined && !this.isExpired(slot)) {
        yield [this.keyList[slot] as K, this.valList[slot] as V]
      }
    }
  }

  /** Keys of the unexpired entries, in the order of {@link L1Cache.entries}. @throws ClosedError after `close()` */
  keys(): Generator<K, void, undefined> {
    return project(this.entries(), 0)
  }

  /** Values of the unexpired entries, in the order of {@link L1Cache.entries}. @throws ClosedError after `close()` */
  values(): Generator<V, void, undefined> {
    return project(this.entries(), 1)
  }

  /** Same as {@link L1Cache.entries}. */
  [Symbol.iterator](): Generator<[K, V], void, undefined> {
    return this.entries()
  }

  /**
   * Calls `fn(value, key, cache)` for each unexpired entry, in the order of {@link L1Cache.entries}.
   * @throws TierkitTypeError `L1Cache.forEach: fn must be a function, got <value>`
   * @throws ClosedError after `close()`
   */
  forEach(fn: (value: V, key: K, cache: this) => void): void {
    checkFunction('L1Cache.forEach', 'fn', fn)
    for (const [k, v] of this.entries()) fn(v, k, this)
  }

  /**
   * Removes every expired entry now (entries inside their `grace` are kept) and shrinks the storage if it is
   * mostly empty. @returns the number of entries removed
   * @throws ClosedError after `close()`
   */
  purgeStale(): number {
    if (this.closed) throw this.closedError()
    if (this.ttlCount === 0 || this.exp === null) return 0
    const now = this.now()
    const grace = this.grace
    let removed = 0
    for (let s = FIRST; s < this.top; s++) {
      const e = this.exp[s]!
      if (e !== 0 && e + grace <= now && this.valList[s] !== undefined) {
        this.expirations++
        this.removeSlot(s, 'expire')
        removed++
      }
    }
    this.maybeShrink()
    if (this.pendK.length !== 0) this.flush()
    return removed
  }

  /** A snapshot of the counters (also after `close()`). */
  stats(): L1CacheStats {
    const lookups = this.hits + this.misses + this.staleServed
    return {
      hits: this.hits,
      misses: this.misses,
      stale: this.staleServed,
      sets: this.sets,
      deletes: this.deletes,
      evictions: this.evictions,
      expirations: this.expirations,
      loads: this.loads,
      loadErrors: this.loadErrors,
      oversized: this.oversized,
      size: this.count,
      calculatedSize: this.calculatedSize,
      hitRatio: lookups === 0 ? 0 : (this.hits + this.staleServed) / lookups,
      windowRatio: this.lru ? 1 : this.windowMax / this.capUnits,
    }
  }

  /**
   * Closes the cache: every later call (but `close()`, `stats()`, `size`, `calculatedSize`) throws, or for
   * `getOrLoad` rejects, with `ClosedError` (`E_CLOSED`). The entries are dropped at once (an `evict` event
   * with reason `clear` for each) and the sweep timer is stopped. Loads in flight, background refreshes
   * included, are given `timeout` ms to settle (their callers get their result, nothing is stored); then their
   * `ctx.signal` is aborted with a `ClosedError` and the promise resolves. Idempotent: a second call returns
   * the first call's promise.
   * @param options - `timeout`: ms to wait for loads in flight, an integer from 0 to 2147483647 (default 5000)
   * @throws TierkitTypeError (as a rejection) `L1Cache.close: options.timeout must be a duration in ms, an
   *   integer from 0 to 2147483647, got <value>`
   */
  close(options?: CloseOptions): Promise<void> {
    let timeout: number
    try {
      timeout = closeTimeout('L1Cache.close', options, CLOSE_TIMEOUT)
    } catch (err) {
      return Promise.reject(err)
    }
    if (this.closing === null) this.closing = this.shutdown(timeout)
    return this.closing
  }

  private shutdown(timeout: number): Promise<void> {
    const flights = this.flights === null ? [] : [...this.flights.values()]
    this.closed = true
    this.dropAll()
    if (flights.length === 0) return Promise.resolve()
    return new Promise<void>((resolve) => {
      let left = flights.length
      let timer: ReturnType<typeof setTimeout> | undefined
      const abortAll = (): void => {
        const reason = this.closedError()
        for (const f of flights) f.controller.abort(reason)
        resolve()
      }
      const settled = (): void => {
        if (--left !== 0) return
        if (timer !== undefined) clearTimeout(timer)
        resolve()
      }
      for (const f of flights) f.promise.then(settled, settled)
      if (timeout === 0) abortAll()
      else timer = setTimeout(abortAll, timeout)
    })
  }

  /**
   * Returns the cached value, or calls `loader(ctx)` once per key at a time (`ctx.key`, `ctx.signal`,
   * `ctx.stale`): concurrent callers for the same key share that load. A loader error rejects every waiter and
   * caches nothing; an aborted `signal` rejects that caller only, at once, with `AbortedError` (`E_ABORTED`),
   * and the last waiter's abort aborts `ctx.signal`. A loaded `undefined` is returned but not cached. Inside
   * an entry's `grace`, its stale value is returned at once and refreshed in the background by a single load
   * (`ctx.stale` holds it; a failure is a `refresh-error` event).
   * @throws TierkitTypeError `L1Cache.getOrLoad: loader must be a function, got <value>`,
   *   `L1Cache.getOrLoad: options.signal must be an AbortSignal, got <value>`, `L1Cache.getOrLoad: options.ttl
   *   must be a duration in ms, an integer from 0 to 315360000000, got <value>`, `L1Cache.getOrLoad: options
   *   must be an object, got <value>` (as rejections)
   * @throws {@link InvalidSizeError} if `sizeOf` rejects the loaded value (every waiter gets it)
   * @throws ClosedError after `close()`
   * An entry larger than `maxSize` is returned to the callers, not stored, and counted in `stats().oversized`.
   */
  async getOrLoad(key: K, loader: Loader<K, V>, options?: GetOrLoadOptions): Promise<V | undefined> {
    const where = 'L1Cache.getOrLoad'
    checkFunction(where, 'loader', loader)
    let ttl = this.ttl
    let signal: AbortSignal | undefined
    if (options !== undefined) {
      checkObject(where, 'options', options)
      if (options.ttl !== undefined) ttl = checkTtl(where, 'options.ttl', options.ttl, 0)
      signal = checkSignal(where, 'options.signal', options.signal)
    }
    if (this.closed) throw this.closedError()
    if (signal?.aborted) throw aborted(key, signal.reason)
    const slot = this.map.get(key)
    if (slot !== undefined) {
      const e = this.exp === null ? 0 : this.exp[slot]!
      if (e === 0 || e > this.now()) {
        this.hits++
        if (this.lru) this.toTail(WIN, slot)
        else this.hit(slot)
        return this.valList[slot]
      }
      if (this.grace > 0 && e + this.grace > this.now()) {
        this.staleServed++
        const stale = this.valList[slot]
        if (this.flights === null || !this.flights.has(key)) this.startLoad(key, loader, ttl, stale, true)
        return stale
      }
      this.misses++
      this.expireSlot(slot, e)
    } else {
      this.misses++
      if (!this.lru) this.recordMiss(key)
    }
    let flight = this.flights === null ? undefined : this.flights.get(key)
    if (flight === undefined) flight = this.startLoad(key, loader, ttl, undefined, false)
    return this.wait(key, flight, signal)
  }

  // ---------------------------------------------------------------- internals: loads

  private startLoad(
    key: K,
    loader: Loader<K, V>,
    ttl: number,
    stale: V | undefined,
    background: boolean,
  ): Flight<V> {
    if (this.flights === null) this.flights = new Map()
    const controller = new AbortController()
    this.loads++
    let raw: V | undefined | PromiseLike<V | undefined>
    try {
      raw = loader({ key, signal: controller.signal, stale })
    } catch (err) {
      raw = Promise.reject(err)
    }
    const flight: Flight<V> = {
      promise: undefined as unknown as Promise<V | undefined>,
      controller,
      waiters: 0,
      background,
      invalidated: false,
    }
    const flights = this.flights
    flight.promise = Promise.resolve(raw).then(
      (value) => {
        if (flights.get(key) === flight) flights.delete(key)
        if (value !== undefined && !flight.invalidated && !this.closed) {
          try {
            this.set(key, value, { ttl })
          } catch (err) {
            if (!(err instanceof EntryTooLargeError)) throw err
          }
        }
        return value
      },
      (err: unknown) => {
        if (flights.get(key) === flight) flights.delete(key)
        this.loadErrors++
        throw err
      },
    )
    if (background) {
      // always handled (no unhandled rejection), reported as an event
      flight.promise.catch((error: unknown) => this.emit({ type: 'refresh-error', key, error }))
    }
    flights.set(key, flight)
    return flight
  }

  private wait(key: K, flight: Flight<V>, signal: AbortSignal | undefined): Promise<V | undefined> {
    flight.waiters++
    if (signal === undefined) return flight.promise
    return new Promise<V | undefined>((resolve, reject) => {
      let done = false
      const onAbort = (): void => {
        if (done) return
        done = true
        flight.waiters--
        if (flight.waiters === 0 && !flight.background) flight.controller.abort(signal.reason)
        reject(aborted(key, signal.reason))
      }
      signal.addEventListener('abort', onAbort, { once: true })
      flight.promise.then(
        (v) => {
          if (done) return
          done = true
          flight.waiters--
          signal.removeEventListener('abort', onAbort)
          resolve(v)
        },
        (err: unknown) => {
          if (done) return
          done = true
          flight.waiters--
          signal.removeEventListener('abort', onAbort)
          reject(err)
        },
      )
    })
  }

  private invalidateFlight(key: K): void {
    const f = this.flights!.get(key)
    if (f !== undefined) {
      f.invalidated = true
      this.flights!.delete(key)
    }
  }

  // ---------------------------------------------------------------- internals: events, closing

  private closedError(): ClosedError {
    return new ClosedError('the L1Cache')
  }

  /** Delivers one event; a listener that throws is ignored. */
  private emit(event: L1CacheEvent<K, V>): void {
    const onEvent = this.onEvent
    if (onEvent === null) return
    try {
      onEvent(event)
    } catch {
      // ignored: a listener cannot break the cache's operation
    }
  }

  /** Drops every entry (reason `clear`), invalidates the loads in flight, releases the storage. */
  private dropAll(): void {
    if (this.flights !== null) for (const f of this.flights.values()) f.invalidated = true
    const listening = this.onEvent !== null
    const ks: K[] = []
    const vs: V[] = []
    if (listening) {
      for (const [k, s] of this.map) {
        ks.push(k)
        vs.push(this.valList[s]!)
      }
    }
    this.reset()
    if (listening) {
      for (let i = 0; i < ks.length; i++) {
        this.pendK.push(ks[i]!)
        this.pendV.push(vs[i]!)
        this.pendR.push('clear')
      }
      this.flush()
    }
  }

  // ---------------------------------------------------------------- internals: storage

  /** Clock reading for writes and checks off the hot path (cached reading reused for up to 256 reads). */
  private now(): number {
    if (this.clock !== null) return this.clock()
    if (this.nowValue !== Number.POSITIVE_INFINITY && (++this.nowReads & 255) !== 0) return this.nowValue
    return refreshNow(this)
  }

  /** A fresh clock reading. */
  private readClock(): number {
    return this.clock !== null ? this.clock() : refreshNow(this)
  }

  private isExpired(slot: number): boolean {
    if (this.exp === null) return false
    const e = this.exp[slot]!
    return e !== 0 && e <= this.now()
  }

  private measure(value: V, key: K): number {
    let size: unknown
    try {
      size = this.sizeOf!(value, key)
    } catch (err) {
      throw new InvalidSizeError(key, undefined, { cause: err })
    }
    if (typeof size !== 'number' || !Number.isFinite(size) || size < 0) throw new InvalidSizeError(key, size)
    return size
  }

  /** An expired slot was found on access: reclaim it unless its grace keeps it. */
  private expireSlot(slot: number, e: number): void {
    if (this.grace > 0 && e + this.grace > this.now()) return
    this.expirations++
    this.removeSlot(slot, 'expire')
    if (this.pendK.length !== 0) this.flush()
  }

  private toTail(head: number, i: number): void {
    const next = this.next
    const prev = this.prev
    const t = prev[head]!
    if (t === i) return
    const n = next[i]!
    const p = prev[i]!
    next[p] = n
    prev[n] = p
    next[t] = i
    prev[i] = t
    next[i] = head
    prev[head] = i
  }

  /** Moves slot `i` to the most recent end of segment `q` (tinylfu), keeping its frequency and touch bits. */
  private moveTo(q: number, i: number): void {
    this.unlink(i)
    this.append(q, i)
    const meta = this.meta!
    meta[i] = (meta[i]! & KEEP) | (q << Q_SHIFT)
  }

  private unlink(i: number): void {
    const n = this.next[i]!
    const p = this.prev[i]!
    this.next[p] = n
    this.prev[n] = p
  }

  private append(head: number, i: number): void {
    const t = this.prev[head]!
    this.next[t] = i
    this.prev[i] = t
    this.next[i] = head
    this.prev[head] = i
  }

  private allocSlot(): number {
    let s = this.freeHead
    if (s !== 0) {
      this.freeHead = this.next[s]!
      return s
    }
    if (this.top === this.slotCap) this.grow()
    s = this.top++
    return s
  }

  private grow(): void {
    const cap = Math.min(this.slotCap * 2, this.maxSlots)
    this.resize(cap)
  }

  private resize(cap: number): void {
    // grow the plain arrays to exactly `cap` (concat allocates the exact length; push would over-allocate)
    this.keyList = this.keyList.concat(filled(cap - this.keyList.length))
    this.valList = this.valList.concat(filled(cap - this.valList.length))
    const used = this.slotCap
    this.next = resized(this.next, cap, used)
    this.prev = resized(this.prev, cap, used)
    if (this.meta !== null) {
      this.meta = resized(this.meta, cap, used)
      // weight-bounded caches learn their entry capacity as they grow
      if (this.max === 0) this.setPeriods(cap)
      const slots = nextPow2(cap)
      const want = Math.max(
        TUNING.minCounters,
        Math.min(TUNING.floorCounters, slots * TUNING.smallPerSlot),
        slots * TUNING.countersPerSlot,
      )
      if (this.sketch === null || this.sketch.table.length * 8 < want) this.sketch = new FrequencySketch(want)
    }
    if (this.sizes !== null) this.sizes = resized(this.sizes, cap, used)
    if (this.exp !== null) this.exp = resized(this.exp, cap, used)
    this.slotCap = cap
  }

  private insert(key: K, value: V, ttl: number, size: number): void {
    const fromMiss = this.missValid && key === this.missKey
    this.missValid = false
    this.missKey = undefined
    if (this.lru) {
      while (this.count >= this.maxCount || this.weight + size > this.maxWeight) {
        const victim = this.next[WIN]!
        if (victim === WIN) break
        this.evictions++
        this.removeSlot(victim, 'evict')
      }
    }
    const slot = this.allocSlot()
    this.map.set(key, slot)
    this.keyList[slot] = key
    this.valList[slot] = value
    this.count++
    this.weight += size
    if (this.sizes !== null) this.sizes[slot] = size
    if (ttl > 0) this.setExpiry(slot, ttl)
    else if (this.exp !== null) this.exp[slot] = 0
    if (this.lru) {
      this.append(WIN, slot)
    } else {
      let f: number
      if (this.sketch === null) f = 1
      else if (fromMiss && this.lastMissFreq > 0) f = this.lastMissFreq
      else f = this.sketch.increment(hashKey(key))
      this.meta![slot] = f
      this.append(WIN, slot)
      this.windowWeight += size
      this.evictTinyLfu()
      if (!this.filled && this.count >= this.maxCount) this.filled = true
      if (!this.filled && this.weight >= this.maxWeight * 0.95) this.filled = true
    }
    // amortised sweep: 32 slots every 16th insert (2 per insert, one clock read per 16 inserts)
    if (this.ttlCount !== 0 && (this.sets & 15) === 0) this.sweepSome(32)
  }

  private setExpiry(slot: number, ttl: number): void {
    if (this.exp === null) this.exp = new Float64Array(this.slotCap)
    const was = this.exp[slot]!
    this.exp[slot] = this.now() + ttl
    if (was === 0) {
      this.ttlCount++
      if (this.sweepTimer === null && this.sweepInterval > 0) this.armSweep()
    }
  }

  private update(slot: number, key: K, value: V, ttl: number, size: number): void {
    const old = this.valList[slot]!
    this.valList[slot] = value
    if (this.exp !== null && this.exp[slot] !== 0) {
      if (ttl > 0) this.exp[slot] = this.now() + ttl
      else {
        this.exp[slot] = 0
        this.ttlCount--
      }
    } else if (ttl > 0) this.setExpiry(slot, ttl)
    if (this.sizes !== null) {
      const delta = size - this.sizes[slot]!
      this.sizes[slot] = size
      this.weight += delta
      if (!this.lru) {
        const q = (this.meta![slot]! >>> Q_SHIFT) & 3
        if (q === WIN) this.windowWeight += delta
        else if (q === PROT) this.protectedWeight += delta
      }
    }
    if (this.lru) {
      this.toTail(WIN, slot)
      while (this.weight > this.maxWeight) {
        const victim = this.next[WIN]!
        if (victim === slot) break
        this.evictions++
        this.removeSlot(victim, 'evict')
      }
    } else {
      this.hit(slot)
      this.evictTinyLfu()
    }
    if (old !== value && this.onEvent !== null) {
      this.pendK.push(key)
      this.pendV.push(old)
      this.pendR.push('set')
    }
  }

  private weightOf(slot: number): number {
    return this.sizes === null ? 1 : this.sizes[slot]!
  }

  /** Removes a slot from every structure and queues its evict event. */
  private removeSlot(slot: number, reason: EvictionReason): void {
    const key = this.keyList[slot] as K
    const value = this.valList[slot] as V
    this.unlink(slot)
    this.map.delete(key)
    const w = this.weightOf(slot)
    this.count--
    this.weight -= w
    if (this.meta !== null) {
      const m = this.meta[slot]!
      const q = (m >>> Q_SHIFT) & 3
      if (q === WIN) this.windowWeight -= w
      else if (q === PROT) this.protectedWeight -= w
      if (
        (m & TOUCH) !== 0 &&
        (m & FREQ) > 1 &&
        reason === 'evict' &&
        this.sketch !== null &&
        TUNING.writeBack
      ) {
        this.sketch.raiseTo(hashKey(key), m & FREQ)
      }
      this.meta[slot] = 0
    }
    if (this.exp !== null && this.exp[slot] !== 0) {
      this.exp[slot] = 0
      this.ttlCount--
    }
    this.keyList[slot] = undefined
    this.valList[slot] = undefined
    this.next[slot] = this.freeHead
    this.freeHead = slot
    if (this.onEvent !== null) {
      this.pendK.push(key)
      this.pendV.push(value)
      this.pendR.push(reason)
    }
  }

  private flush(): void {
    const ks = this.pendK
    const vs = this.pendV
    const rs = this.pendR
    this.pendK = []
    this.pendV = []
    this.pendR = []
    if (this.onEvent === null) return
    for (let i = 0; i < ks.length; i++)
      this.emit({ type: 'evict', key: ks[i]!, value: vs[i]!, reason: rs[i]! })
  }

  private reset(): void {
    this.map = new Map()
    this.slotCap = Math.min(INITIAL_SLOTS + FIRST, this.maxSlots)
    this.keyList = filled(this.slotCap)
    this.valList = filled(this.slotCap)
    this.next = new Uint32Array(this.slotCap)
    this.prev = new Uint32Array(this.slotCap)
    for (let h = 0; h < FIRST; h++) {
      this.next[h] = h
      this.prev[h] = h
    }
    if (this.meta !== null) this.meta = new Uint8Array(this.slotCap)
    if (this.sizes !== null) this.sizes = new Float64Array(this.slotCap)
    this.exp = null
    this.sketch = this.lru ? null : new FrequencySketch(TUNING.minCounters)
    this.top = FIRST
    this.freeHead = 0
    this.count = 0
    this.weight = 0
    this.ttlCount = 0
    this.windowWeight = 0
    this.protectedWeight = 0
    this.hand = FIRST
    this.missKey = undefined
    this.missValid = false
    if (this.sweepTimer !== null) {
      clearTimeout(this.sweepTimer)
      this.sweepTimer = null
    }
  }

  /** Slots in iteration order. */
  private slots(): number[] {
    const out: number[] = []
    const heads = this.lru ? [WIN] : [PROT, WIN, PROB]
    for (const h of heads) {
      for (let s = this.prev[h]!; s !== h; s = this.prev[s]!) out.push(s)
    }
    return out
  }

  // ---------------------------------------------------------------- internals: expiry sweeping

  private armSweep(): void {
    const t = setTimeout(() => {
      this.sweepTimer = null
      this.sweepSome(SWEEP_CHUNK)
      this.maybeShrink()
      if (this.pendK.length !== 0) this.flush()
      if (this.ttlCount > 0) this.armSweep()
    }, this.sweepInterval)
    if (typeof t === 'object' && typeof t.unref === 'function') t.unref()
    this.sweepTimer = t
  }

  /** Examines up to `n` slots at the sweep hand and reclaims the expired ones. */
  private sweepSome(n: number): void {
    const exp = this.exp
    if (exp === null) return
    const grace = this.grace
    let now = -1
    let s = this.hand
    for (let i = 0; i < n; i++) {
      if (s >= this.top) {
        s = FIRST
        break
      }
      const e = exp[s]!
      if (e !== 0) {
        if (now < 0) now = this.now()
        if (e + grace <= now) {
          this.expirations++
          this.removeSlot(s, 'expire')
        }
      }
      s++
    }
    this.hand = s
  }

  /** Compacts the storage when at most a quarter of it is in use. */
  private maybeShrink(): void {
    const used = this.count + FIRST
    if (this.slotCap <= INITIAL_SLOTS + FIRST || used * 4 > this.slotCap) return
    const cap = Math.min(Math.max(INITIAL_SLOTS + FIRST, nextPow2(used * 2)), this.maxSlots)
    const order = this.slots()
    const oldKeys = this.keyList
    const oldVals = this.valList
    const oldMeta = this.meta
    const oldSizes = this.sizes
    const oldExp = this.exp
    const heads = this.lru ? [WIN] : [PROT, WIN, PROB]
    // queue of each slot in order, to relink into the same segments
    const qOf: number[] = []
    for (const h of heads) for (let s = this.prev[h]!; s !== h; s = this.prev[s]!) qOf.push(h)
    this.keyList = filled(cap)
    this.valList = filled(cap)
    this.next = new Uint32Array(cap)
    this.prev = new Uint32Array(cap)
    for (let h = 0; h < FIRST; h++) {
      this.next[h] = h
      this.prev[h] = h
    }
    this.meta = oldMeta === null ? null : new Uint8Array(cap)
    this.sizes = oldSizes === null ? null : new Float64Array(cap)
    this.exp = oldExp === null ? null : new Float64Array(cap)
    this.slotCap = cap
    this.top = FIRST
    this.freeHead = 0
    this.hand = FIRST
    // order lists each segment most recent first: insert at the head to keep the order
    for (let i = 0; i < order.length; i++) {
      const old = order[i]!
      const s = this.top++
      const key = oldKeys[old] as K
      this.keyList[s] = key
      this.valList[s] = oldVals[old]
      this.map.set(key, s)
      if (this.meta !== null) this.meta[s] = oldMeta![old]!
      if (this.sizes !== null) this.sizes[s] = oldSizes![old]!
      if (this.exp !== null) this.exp[s] = oldExp![old]!
      const h = qOf[i]!
      // prepend (order is most recent first)
      const first = this.next[h]!
      this.prev[first] = s
      this.next[s] = first
      this.prev[s] = h
      this.next[h] = s
    }
  }

  // ---------------------------------------------------------------- internals: W-TinyLFU

  private recordMiss(key: K): void {
    const sk = this.sketch
    this.lastMissFreq =
      sk !== null ? sk.increment(typeof key === 'string' ? hashString(key) : hashKey(key)) : 0
    if (this.hits + this.misses >= this.nextCheck) this.periodic()
  }

  private hit(slot: number): void {
    const meta = this.meta!
    const m = meta[slot]!
    meta[slot] = ((m & FREQ) !== FREQ ? m + 1 : m) | TOUCH
    const q = (m >>> Q_SHIFT) & 3
    // a protected or window hit moves in place to its segment's most recent end
    if (q === PROB) this.promote(slot)
    else this.toTail(q, slot)
    if (this.hits + this.misses >= this.nextCheck) this.periodic()
  }

  /** Probation hit: move to protected, demoting protected's least recent entries past its share. */
  private promote(slot: number): void {
    this.moveTo(PROT, slot)
    this.protectedWeight += this.weightOf(slot)
    this.demoteProtected()
  }

  private demoteProtected(): void {
    while (this.protectedWeight > this.protectedMax) {
      const d = this.next[PROT]!
      if (d === PROT) break
      this.moveTo(PROB, d)
      this.protectedWeight -= this.weightOf(d)
    }
  }

  private evictTinyLfu(): void {
    const meta = this.meta!
    // Fast path, the steady state of a full count-bounded cache: the insert pushed exactly one entry out of the
    // window and exactly one entry must go. The window's oldest entry is judged against probation's oldest
    // before it moves, so a rejected newcomer leaves straight from the window (same decisions as below).
    if (
      this.fastEvict &&
      this.sizes === null &&
      this.count === this.maxCount + 1 &&
      this.windowWeight > this.windowMax &&
      this.windowWeight - 1 <= this.windowMax
    ) {
      const c = this.next[WIN]!
      const v = this.next[PROB]!
      if (c !== WIN && v !== PROB) {
        const cf = meta[c]! & FREQ
        const vf = meta[v]! & FREQ
        this.evictions++
        if (cf > vf || (cf >= ADMIT_DOS_THRESHOLD && (this.random() & 127) === 0)) {
          this.moveTo(PROB, c)
          this.windowWeight--
          this.removeSlot(v, 'evict')
        } else this.removeSlot(c, 'evict')
        return
      }
    }
    let candidates = 0
    while (this.windowWeight > this.windowMax) {
      const s = this.next[WIN]!
      if (s === WIN) break
      this.moveTo(PROB, s)
      this.windowWeight -= this.weightOf(s)
      candidates++
    }
    while (this.count > this.maxCount || this.weight > this.maxWeight) {
      let victim = this.next[PROB]!
      if (victim === PROB) {
        victim = this.next[PROT]!
        if (victim === PROT) victim = this.next[WIN]!
      }
      if (victim < FIRST) break
      let evict = victim
      if (candidates > 0) {
        candidates--
        const candidate = this.prev[PROB]!
        if (candidate !== victim && candidate >= FIRST) {
          const cf = meta[candidate]! & FREQ
          const vf = meta[victim]! & FREQ
          if (!(cf > vf || (cf >= ADMIT_DOS_THRESHOLD && (this.random() & 127) === 0))) evict = candidate
        }
      }
      this.evictions++
      this.removeSlot(evict, 'evict')
    }
  }

  private random(): number {
    let x = this.rand
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    this.rand = x
    return x
  }

  /** Every `period` lookups: age the frequencies; every sample: adjust the window by hill climbing. */
  private periodic(): void {
    const lookups = this.hits + this.misses
    this.nextCheck = lookups + Math.min(this.sample, this.period)
    if (this.sketch !== null && lookups - this.lastAge >= this.period) {
      this.lastAge = lookups
      this.sketch.halve()
      const meta = this.meta!
      for (let s = FIRST; s < this.top; s++) {
        const m = meta[s]!
        meta[s] = (m & ~FREQ) | ((m & FREQ) >>> 1)
      }
    }
    if (this.filled && TUNING.climb) this.climb()
    this.sampleHits = this.hits
    this.sampleOps = lookups
  }

  private lastAge = 0

  /** Ageing period and climber sample for an entry capacity of `entries`. */
  private setPeriods(entries: number): void {
    const n = Math.min(entries, 1 << 24)
    this.period = TUNING.periodFactor * Math.max(TUNING.ageMinCap, n)
    this.sample = Math.ceil(Math.max(64, 10 * n * TUNING.sampleFactor))
  }

  private climb(): void {
    const ops = this.hits + this.misses - this.sampleOps
    if (ops <= 0) return
    const hitRate = (this.hits - this.sampleHits) / ops
    const change = hitRate - this.prevHitRate
    let amount = change >= 0 ? this.stepSize : -this.stepSize
    if (TUNING.noise > 0) {
      // Scale the move by how far the change stands out of the sampling noise of two hit ratios.
      const sigma = Math.sqrt((Math.max(hitRate, 1e-3) * Math.max(1 - hitRate, 1e-3) * 2) / ops)
      amount *= Math.max(TUNING.noiseFloor, Math.min(1, Math.abs(change) / (TUNING.noise * sigma)))
    }
    const nextStep =
      Math.abs(change) >= TUNING.restart
        ? TUNING.step * this.capUnits * (amount >= 0 ? 1 : -1)
        : TUNING.decay * amount
    this.prevHitRate = hitRate
    const floor = TUNING.minStep * this.capUnits
    this.stepSize = Math.abs(nextStep) >= floor ? nextStep : nextStep < 0 ? -floor : floor
    this.adjustWindow(amount)
  }

  private adjustWindow(amount: number): void {
    const cap = this.capUnits
    const minWindow = Math.max(1, cap * 0.01)
    const target = Math.min(cap, Math.max(minWindow, this.windowMax + amount))
    if (target === this.windowMax) return
    this.windowMax = target
    this.protectedMax = (cap - target) * 0.8
    if (amount > 0) {
      // grow the window with the least recent main entries
      while (this.windowWeight < this.windowMax) {
        let s = this.next[PROB]!
        if (s === PROB) {
          s = this.next[PROT]!
          if (s === PROT) break
          this.protectedWeight -= this.weightOf(s)
        }
        this.moveTo(WIN, s)
        this.windowWeight += this.weightOf(s)
      }
    } else {
      while (this.windowWeight > this.windowMax) {
        const s = this.next[WIN]!
        if (s === WIN) break
        this.moveTo(PROB, s)
        this.windowWeight -= this.weightOf(s)
      }
    }
    this.demoteProtected()
  }
}

/**
 * @internal Tuning constants of the W-TinyLFU policy, exported (not from the package entry) for the policy
 * study in bench/; not part of the API.
 */
export const TUNING: {
  countersPerSlot: number
  minCounters: number
  floorCounters: number
  smallPerSlot: number
  ageMinCap: number
  sampleFactor: number
  climb: boolean
  periodFactor: number
  step: number
  restart: number
  decay: number
  minStep: number
  noise: number
  noiseFloor: number
  writeBack: boolean
  fastEvict: boolean
} = {
  countersPerSlot: 2,
  minCounters: 1024,
  floorCounters: 65536,
  smallPerSlot: 64,
  ageMinCap: 512,
  sampleFactor: 0.25,
  climb: true,
  periodFactor: 40,
  step: 0.125,
  restart: 0.05,
  decay: 0.98,
  minStep: 0.01,
  noise: 2,
  noiseFloor: 0,
  writeBack: true,
  // the steady-state eviction shortcut in evictTinyLfu (off only to test that it decides like the general path)
  fastEvict: true,
}

/** A typed array of length `cap` holding the first `min(cap, used)` elements of `a`. */
function resized<T extends Uint32Array | Uint8Array | Float64Array>(a: T, cap: number, used: number): T {
  const b = new (a.constructor as new (length: number) => T)(cap)
  b.set(a.subarray(0, Math.min(cap, used)))
  return b
}

/** A dense array of `n` undefined values, allocated at exactly that length. */
function filled<T>(n: number): (T | undefined)[] {
  if (n <= 0) return []
  if (n <= 50_000) return new Array<T | undefined>(n).fill(undefined)
  const out: (T | undefined)[] = []
  for (let i = 0; i < n; i++) out.push(undefined)
  return out
}

/** The `index`-th element of each pair of `pairs` (keys, values), lazily. */
function* project<T extends readonly unknown[], I extends 0 | 1>(
  pairs: Iterable<T>,
  index: I,
): Generator<T[I], void, undefined> {
  for (const p of pairs) yield p[index]
}

/** The rejection of a `getOrLoad` caller whose signal aborted. */
function aborted(key: unknown, reason: unknown): AbortedError {
  return new AbortedError('L1Cache.getOrLoad', reason, typeof key === 'string' ? key : undefined)
}
