/**
 * `createCache` and the cache itself: a thin facade over the rooms (see the README's "Inside"). It checks
 * each call's arguments, serves L1 hits, hands the rest to the flights (`getOrLoad`), the batcher
 * (`getMany`, `getOrLoadMany`) or the entry store (`set`, `delete`), invalidates what a write makes stale in
 * this process, and closes.
 */
import { performance } from 'node:perf_hooks'
import {
  AbortedError,
  ClosedError,
  type CloseOptions,
  checkFunction,
  checkString,
  checkStrings,
  closeTimeout,
  coarseNow,
  invalidArgument,
  type L1Store,
} from '@tierkit/contracts'
import { Batcher } from './batch.js'
import type { BreakerState } from './breaker.js'
import type { Entry } from './entry.js'
import { Flights } from './flight.js'
import type { ValueKeys } from './keys.js'
import { createL2, type L2 } from './l2.js'
import { Departure, leaveOnAbort } from './leaving.js'
import { LoaderRunner } from './loader.js'
import { DistributedLock } from './lock.js'
import { checkCallOptions, parseOptions } from './options.js'
import { Shared } from './shared.js'
import { EntryStore } from './store.js'
import type { BatchLoader, Cache, CacheOptions, Loader, LoadOptions, SetOptions } from './types.js'

/** How long `close()` waits for the loads in flight by default, in ms. */
const CLOSE_TIMEOUT = 2000

class RedisAsideCache implements Cache {
  readonly namespace: string
  private readonly shared: Shared
  private readonly l2: L2
  private readonly store: EntryStore
  private readonly lock: DistributedLock
  private readonly runner: LoaderRunner
  private readonly flights: Flights
  private readonly batcher: Batcher
  // read on every L1 hit: kept here rather than behind `shared.settings`
  private readonly valuePrefix: string
  private readonly valueKeys: ValueKeys
  private readonly l1: L1Store | undefined
  private readonly observed: boolean
  private closing: Promise<void> | undefined

  constructor(options: CacheOptions) {
    const settings = parseOptions(options)
    const shared = new Shared(settings)
    this.shared = shared
    this.namespace = settings.namespace
    this.valuePrefix = settings.valuePrefix
    this.valueKeys = shared.valueKeys
    this.l1 = settings.l1
    this.observed = settings.observer !== undefined
    this.l2 = createL2({
      redis: settings.redis,
      timeout: settings.redisTimeout,
      breakerThreshold: settings.breakerThreshold,
      breakerCooldown: settings.breakerCooldown,
      keyOf: (redisKey) => shared.keyOf(redisKey),
      onBreaker: (state, node) =>
        shared.emit(node === undefined ? { type: 'breaker', state } : { type: 'breaker', state, node }),
      onError: (operation, key, error) => shared.emit({ type: 'redis-error', operation, key, error }),
    })
    this.store = new EntryStore(shared, this.l2)
    this.lock = new DistributedLock(shared, this.l2)
    this.runner = new LoaderRunner(shared, this.store, this.lock)
    this.flights = new Flights(shared, this.l2, this.store, this.runner, this.lock)
    this.batcher = new Batcher(shared, this.l2, this.store, this.runner, this.flights)
  }

  get breakerState(): BreakerState {
    return this.l2.breakerState
  }

  getOrLoad<T>(key: string, loader: Loader<T>, options?: LoadOptions): Promise<T> {
    if (this.shared.closed) return Promise.reject(new ClosedError(this.shared.resource))
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
    const redisKey = this.valueKeys.of(key)
    let l1Stale: Entry | undefined
    if (this.l1 !== undefined) {
      const t0 = this.observed ? performance.now() : 0
      const inL1 = this.l1.get(redisKey) as Entry | undefined
      if (inL1 !== undefined) {
        this.valueKeys.hit()
        const now = coarseNow()
        if (now < inL1.freshUntil) {
          if (this.observed) this.shared.record('l1', 'hit', t0)
          if (inL1.refreshAt !== 0 && now >= inL1.refreshAt && !this.flights.has(redisKey)) {
            this.runner.refresh(redisKey, key, loader as Loader<unknown>, options, inL1.token)
          }
          return Promise.resolve(inL1.value as T)
        }
        if (now < inL1.staleUntil) l1Stale = inL1
      }
      if (this.observed) this.shared.record('l1', l1Stale ? 'stale' : 'miss', t0)
    }
    const flight =
      this.flights.get(redisKey) ??
      this.flights.start(redisKey, key, loader as Loader<unknown>, options, l1Stale)
    flight.callers++
    if (signal === undefined) return flight.promise as Promise<T>
    return this.flights.follow(flight, redisKey, signal, 'getOrLoad', key) as Promise<T>
  }

  async get<T = unknown>(key: string): Promise<T | null | undefined> {
    if (this.shared.closed) throw new ClosedError(this.shared.resource)
    checkString('Cache.get', 'key', key)
    const redisKey = this.valueKeys.of(key)
    if (this.l1 !== undefined) {
      const t0 = this.shared.t0()
      const inL1 = this.l1.get(redisKey) as Entry | undefined
      const now = Date.now()
      if (inL1 !== undefined && now < inL1.freshUntil) {
        this.shared.record('l1', 'hit', t0)
        return inL1.value as T | null
      }
      this.shared.record('l1', inL1 !== undefined && now < inL1.staleUntil ? 'stale' : 'miss', t0)
    }
    const { entry, evicted } = await this.store.read(redisKey, key, true)
    if (entry !== undefined && Date.now() < entry.freshUntil) {
      if (!evicted) this.store.setL1(redisKey, entry)
      return entry.value as T | null
    }
    return undefined
  }

  peekLocal<T = unknown>(key: string): T | null | undefined {
    if (this.shared.closed) throw new ClosedError(this.shared.resource)
    checkString('Cache.peekLocal', 'key', key)
    if (this.l1 === undefined) return undefined
    const t0 = this.observed ? performance.now() : 0
    const redisKey = this.valueKeys.of(key)
    const inL1 = this.l1.get(redisKey) as Entry | undefined
    if (inL1 === undefined || coarseNow() >= inL1.freshUntil) return undefined
    this.valueKeys.hit()
    if (this.observed) this.shared.record('l1', 'hit', t0)
    return inL1.value as T | null
  }

  async set(key: string, value: unknown, options?: SetOptions): Promise<void> {
    if (this.shared.closed) throw new ClosedError(this.shared.resource)
    checkString('Cache.set', 'key', key)
    if (value === undefined)
      throw invalidArgument('Cache.set', 'value', 'defined (use null for "no value")', value)
    if (options !== undefined) checkCallOptions('Cache.set', options, false)
    const redisKey = this.valuePrefix + key
    const ttl = this.shared.ttlFor(value, options?.ttl)
    // null with nullTtl 0 is not cached: the write still replaces what was there
    if (ttl === 0) return this.remove('set', [key])
    const grace = options?.grace ?? this.shared.settings.grace
    const encoded = this.store.encode(key, value, ttl, grace, true)!
    this.invalidate(redisKey) // an older load or read in this process must not overwrite this value
    await this.store.set(redisKey, key, encoded)
  }

  async delete(key: string): Promise<void> {
    if (this.shared.closed) throw new ClosedError(this.shared.resource)
    checkString('Cache.delete', 'key', key)
    await this.remove('delete', [key])
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    if (this.shared.closed) throw new ClosedError(this.shared.resource)
    checkStrings('Cache.deleteMany', 'keys', keys)
    await this.remove('deleteMany', keys)
  }

  async getMany<T = unknown>(keys: readonly string[]): Promise<Array<T | null | undefined>> {
    if (this.shared.closed) throw new ClosedError(this.shared.resource)
    checkStrings('Cache.getMany', 'keys', keys)
    const found = await this.batcher.lookupMany(keys)
    return keys.map((key) => {
      const look = found.get(key)!
      return look.fresh ? (look.entry!.value as T | null) : undefined
    })
  }

  getOrLoadMany<T>(
    keys: readonly string[],
    loader: BatchLoader<T>,
    options?: LoadOptions,
  ): Promise<Array<T | null>> {
    if (this.shared.closed) return Promise.reject(new ClosedError(this.shared.resource))
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
    if (signal === undefined) return this.batcher.loadMany(keys, loader, options, undefined)
    const outer = signal
    if (outer.aborted) return Promise.reject(new AbortedError('getOrLoadMany', outer.reason))
    // the call's own departure: its waits (for flights, loads, its batch) leave when the caller aborts
    const call = new Departure()
    const answer = this.batcher.loadMany(keys, loader, options, call)
    return leaveOnAbort(answer, outer, 'getOrLoadMany', undefined, () => call.abort(outer.reason))
  }

  evictLocal(keys?: string | readonly string[]): void {
    if (this.shared.closed) throw new ClosedError(this.shared.resource)
    if (keys === undefined) {
      this.invalidateAll()
      this.l1?.clear()
      return
    }
    if (typeof keys === 'string') {
      this.evictOne(keys)
      return
    }
    if (!Array.isArray(keys))
      throw invalidArgument('Cache.evictLocal', 'keys', 'a string or an array of strings', keys)
    checkStrings('Cache.evictLocal', 'keys', keys)
    for (const key of keys) this.evictOne(key)
  }

  close(options?: CloseOptions): Promise<void> {
    let timeout: number
    try {
      timeout = closeTimeout('Cache.close', options, CLOSE_TIMEOUT)
    } catch (e) {
      return Promise.reject(e)
    }
    if (this.closing !== undefined) return this.closing
    this.shared.closed = true
    this.closing = this.shutdown(timeout)
    return this.closing
  }

  private async shutdown(timeout: number): Promise<void> {
    this.lock.close()
    const pending = this.runner.close()
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

  private evictOne(key: string): void {
    const redisKey = this.valuePrefix + key
    this.invalidate(redisKey)
    this.l1?.delete(redisKey)
  }

  /** The keys removed by `set` (null with nullTtl 0), `delete` and `deleteMany`: a tombstone each. */
  private async remove(operation: string, keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return
    const unique = [...new Set(keys)]
    for (const key of unique) this.evictOne(key)
    await this.store.tombstone(
      operation,
      unique.map((key) => this.valuePrefix + key),
      unique,
    )
  }

  /**
   * A write or an eviction of `redisKey` in this process: loads and Redis reads of it in flight must not
   * cache what they get (it may predate the write), and later callers must not join them.
   */
  private invalidate(redisKey: string): void {
    this.runner.invalidate(redisKey)
    this.flights.delete(redisKey)
    this.store.invalidateReads(redisKey)
  }

  /** {@link invalidate} for every key: after an eviction of everything (a bus that missed messages). */
  private invalidateAll(): void {
    this.runner.invalidateAll()
    this.flights.clear()
    this.store.invalidateAllReads()
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
