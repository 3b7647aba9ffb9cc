import {
  ClosedError,
  type CloseOptions,
  checkFunction,
  checkNumber,
  checkObject,
  checkSignal,
  checkTtl,
  closeTimeout,
} from '@tierkit/contracts'
import { refreshNow } from './clock.js'
import { EntryTooLargeError, InvalidSizeError } from './errors.js'
import { aborted, Loads, settle } from './loads.js'
import { MAX_COUNT, resolveOptions } from './options.js'
import type { EvictionPolicy } from './policy.js'
import type { SlotStore } from './slots.js'
import { Counters } from './stats.js'
import type { GetOrLoadOptions, L1CacheOptions, L1CacheStats, Loader, Policy, SetOptions } from './types.js'
import { EntryWriter } from './writer.js'

/** The default `close()` timeout: how long loads in flight may take to settle, in ms. */
const CLOSE_TIMEOUT = 5000

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
  /** The counters (src/stats.ts). */
  private readonly counters: Counters = new Counters()
  /** The write side (src/writer.ts): storage, eviction policy, expiry and events. */
  private readonly writer: EntryWriter<K, V>
  /** The storage and the policy, also held here for the lookups' hot paths. */
  private readonly store: SlotStore<K, V>
  private readonly evictor: EvictionPolicy<K>
  /** The single-flight loads of `getOrLoad` (src/loads.ts). */
  private readonly loads: Loads<K, V>
  private readonly weighted: boolean
  private readonly sizeOf: ((value: V, key: K) => number) | null
  private readonly clock: (() => number) | null
  /** The key a `get` just missed (`missValid`): a `set` of it right after can skip its own lookup. */
  private missKey: K | undefined = undefined
  private missValid = false
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
    const o = resolveOptions(options)
    this.max = o.max
    this.maxSize = o.maxSize
    this.ttl = o.ttl
    this.policy = o.policy
    this.grace = o.grace
    this.weighted = o.maxSize > 0
    this.sizeOf = o.sizeOf
    this.clock = o.clock
    this.writer = new EntryWriter<K, V>(o, this.counters, () => this.now())
    this.store = this.writer.store
    this.evictor = this.writer.evictor
    this.loads = new Loads<K, V>({
      counters: this.counters,
      store: (key, value, ttl) => this.storeLoaded(key, value, ttl),
      refreshFailed: (key, error) => this.writer.events.emit({ type: 'refresh-error', key, error }),
    })
  }

  /** Number of entries stored (expired entries count until they are reclaimed). Readable after `close()` (0). */
  get size(): number {
    return this.store.count
  }

  /** Total weight stored (the number of entries when no `maxSize` is set). Readable after `close()` (0). */
  get calculatedSize(): number {
    return this.weighted ? this.store.weight : this.store.count
  }

  /**
   * Returns the value under `key`, or `undefined` if absent or expired. Counts a hit or a miss and records
   * the access for the policy.
   * @throws ClosedError after `close()`
   */
  get(key: K): V | undefined {
    const store = this.store
    const slot = store.map.get(key)
    if (slot === undefined) {
      // a closed cache is empty: every lookup lands here, so the hit path pays nothing for the check
      if (this.closed) throw this.closedError()
      this.counters.misses++
      // remember the absent key: the usual next call is set(key), which can then skip its own lookup
      this.missKey = key
      this.missValid = true
      this.evictor.onMiss(key)
      return undefined
    }
    // kept small on purpose (inlining budget): the expired case lives in expiredGet()
    if (store.exp !== null) {
      const e = store.exp[slot]!
      // Fast path: the cached clock reading says "not expired" and is still fresh (it is re-read every 256
      // hits, and the shared timer zeroes nowValue after ~1 ms of event-loop time; an injected clock always
      // takes the slow path).
      if (e !== 0 && (e <= this.nowValue || (this.counters.hits & 255) === 0) && e <= this.readClock()) {
        return this.expiredGet(slot)
      }
    }
    this.counters.hits++
    this.evictor.onHit(slot)
    return store.valList[slot]
  }

  private expiredGet(slot: number): undefined {
    this.counters.misses++
    this.writer.expireFound(slot, this.store.exp![slot]!)
    return undefined
  }

  /**
   * Returns the value under `key` without counting or promoting it; `undefined` if absent or expired.
   * @throws ClosedError after `close()`
   */
  peek(key: K): V | undefined {
    const slot = this.store.map.get(key)
    if (slot === undefined) {
      if (this.closed) throw this.closedError()
      return undefined
    }
    return this.writer.isExpired(slot) ? undefined : this.store.valList[slot]
  }

  /**
   * True if `key` holds an unexpired value. Does not promote.
   * @throws ClosedError after `close()`
   */
  has(key: K): boolean {
    const slot = this.store.map.get(key)
    if (slot === undefined) {
      if (this.closed) throw this.closedError()
      return false
    }
    return !this.writer.isExpired(slot)
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
      this.counters.oversized++
      throw new EntryTooLargeError(key, size, this.maxSize)
    }
    this.loads.invalidate(key)
    this.counters.sets++
    // a get() that just missed this key, with no insert since, proves it absent: skip the second lookup
    const slot = this.missValid && key === this.missKey ? undefined : this.store.map.get(key)
    if (slot !== undefined) this.writer.update(slot, key, value, ttl, size)
    else this.insert(key, value, ttl, size)
    this.writer.flush()
    return this
  }

  /**
   * Removes `key` (an `evict` event with reason `delete`). @returns true if the key held a live entry
   * @throws ClosedError after `close()`
   */
  delete(key: K): boolean {
    if (this.closed) throw this.closedError()
    this.loads.invalidate(key)
    const slot = this.store.map.get(key)
    if (slot === undefined) return false
    const expired = this.writer.isExpired(slot)
    if (expired) this.counters.expirations++
    else this.counters.deletes++
    this.writer.remove(slot, expired ? 'expire' : 'delete')
    this.writer.flush()
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
    const slot = this.store.map.get(key)
    if (slot === undefined) return 0
    const e = this.store.exp === null ? 0 : this.store.exp[slot]!
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
    const store = this.store
    for (const slot of this.writer.order()) {
      if (store.valList[slot] !== undefined && !this.writer.isExpired(slot)) {
        yield [store.keyList[slot] as K, store.valList[slot] as V]
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
    if (this.store.ttlCount === 0) return 0
    const removed = this.writer.expiry.purge()
    this.writer.settle()
    return removed
  }

  /** A snapshot of the counters (also after `close()`). */
  stats(): L1CacheStats {
    return this.counters.snapshot(this.store.count, this.calculatedSize, this.evictor.windowRatio())
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
    const flights = this.loads.all()
    this.closed = true
    this.dropAll()
    return settle(flights, timeout, () => this.closedError())
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
    const store = this.store
    const slot = store.map.get(key)
    if (slot !== undefined) {
      const e = store.exp === null ? 0 : store.exp[slot]!
      if (e === 0 || e > this.now()) {
        this.counters.hits++
        this.evictor.onHit(slot)
        return store.valList[slot]
      }
      if (this.grace > 0 && e + this.grace > this.now()) {
        this.counters.staleServed++
        const stale = store.valList[slot]
        if (this.loads.get(key) === undefined) this.loads.start(key, loader, ttl, stale, true)
        return stale
      }
      this.counters.misses++
      this.writer.expireFound(slot, e)
    } else {
      this.counters.misses++
      this.evictor.onMiss(key)
    }
    const flight = this.loads.get(key) ?? this.loads.start(key, loader, ttl, undefined, false)
    return this.loads.wait(key, flight, signal)
  }

  // ---------------------------------------------------------------- internals

  /** A load's result: stored unless the cache closed meanwhile; one too large for `maxSize` is not stored. */
  private storeLoaded(key: K, value: V, ttl: number): void {
    if (this.closed) return
    try {
      this.set(key, value, { ttl })
    } catch (err) {
      if (!(err instanceof EntryTooLargeError)) throw err
    }
  }

  private closedError(): ClosedError {
    return new ClosedError('the L1Cache')
  }

  /** Drops every entry (reason `clear`), invalidates the loads in flight, releases the storage. */
  private dropAll(): void {
    this.loads.invalidateAll()
    this.missKey = undefined
    this.missValid = false
    this.writer.clear()
  }

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

  private insert(key: K, value: V, ttl: number, size: number): void {
    const fromMiss = this.missValid && key === this.missKey
    this.missValid = false
    this.missKey = undefined
    this.writer.insert(key, value, ttl, size, fromMiss)
  }
}

/** The `index`-th element of each pair of `pairs` (keys, values), lazily. */
function* project<T extends readonly unknown[], I extends 0 | 1>(
  pairs: Iterable<T>,
  index: I,
): Generator<T[I], void, undefined> {
  for (const p of pairs) yield p[index]
}
