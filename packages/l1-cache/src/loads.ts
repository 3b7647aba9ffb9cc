/**
 * Internal: single-flight loads of `L1Cache.getOrLoad`. One load a key at a time, shared by its callers; each
 * caller may stop waiting (its `signal`), the last one's abort aborts the loader's `ctx.signal`; a background
 * load refreshes a stale entry and reports its failure as an event. A `set`, `delete` or `clear` of the key
 * meanwhile invalidates the load: its result is still returned, but not stored.
 * @internal
 */
import { AbortedError, type ClosedError } from '@tierkit/contracts'
import type { Counters } from './stats.js'
import type { Loader } from './types.js'

/** One load in flight. */
export interface Flight<V> {
  promise: Promise<V | undefined>
  controller: AbortController
  waiters: number
  background: boolean
  invalidated: boolean
}

/** What the loads need from their cache. */
export interface LoadsHost<K, V> {
  readonly counters: Counters
  /** Stores a loaded value (unless the cache is closed; a value too large for it is not stored). */
  store(key: K, value: V, ttl: number): void
  /** A background refresh failed. */
  refreshFailed(key: K, error: unknown): void
}

export class Loads<K, V> {
  private flights: Map<K, Flight<V>> | null = null

  constructor(private readonly host: LoadsHost<K, V>) {}

  /** The load in flight for `key`, if any. */
  get(key: K): Flight<V> | undefined {
    return this.flights === null ? undefined : this.flights.get(key)
  }

  /** Every load in flight. */
  all(): Flight<V>[] {
    return this.flights === null ? [] : [...this.flights.values()]
  }

  /** Starts a load of `key`: `stale` is the value a background refresh replaces. */
  start(key: K, loader: Loader<K, V>, ttl: number, stale: V | undefined, background: boolean): Flight<V> {
    if (this.flights === null) this.flights = new Map()
    const controller = new AbortController()
    this.host.counters.loads++
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
        if (value !== undefined && !flight.invalidated) this.host.store(key, value, ttl)
        return value
      },
      (err: unknown) => {
        if (flights.get(key) === flight) flights.delete(key)
        this.host.counters.loadErrors++
        throw err
      },
    )
    if (background) {
      // always handled (no unhandled rejection), reported as an event
      flight.promise.catch((error: unknown) => this.host.refreshFailed(key, error))
    }
    flights.set(key, flight)
    return flight
  }

  /** One caller's wait for `flight`; its `signal` rejects it alone, at once. */
  wait(key: K, flight: Flight<V>, signal: AbortSignal | undefined): Promise<V | undefined> {
    flight.waiters++
    if (signal === undefined) return flight.promise
    return new Promise<V | undefined>((resolve, reject) => {
      let done = false
      const finish = (): boolean => {
        if (done) return false
        done = true
        flight.waiters--
        signal.removeEventListener('abort', onAbort)
        return true
      }
      const onAbort = (): void => {
        if (!finish()) return
        if (flight.waiters === 0 && !flight.background) flight.controller.abort(signal.reason)
        reject(aborted(key, signal.reason))
      }
      signal.addEventListener('abort', onAbort, { once: true })
      flight.promise.then(
        (v) => finish() && resolve(v),
        (err: unknown) => finish() && reject(err),
      )
    })
  }

  /** A write of `key`: the load in flight, if any, will not store its result. */
  invalidate(key: K): void {
    if (this.flights === null) return
    const f = this.flights.get(key)
    if (f !== undefined) {
      f.invalidated = true
      this.flights.delete(key)
    }
  }

  /** The cache was emptied: no load in flight stores its result. */
  invalidateAll(): void {
    if (this.flights !== null) for (const f of this.flights.values()) f.invalidated = true
  }
}

/**
 * Waits up to `timeout` ms for `flights` to settle, then aborts the `ctx.signal` of those still running with
 * `reason()`. Resolves either way.
 */
export function settle<V>(flights: Flight<V>[], timeout: number, reason: () => ClosedError): Promise<void> {
  if (flights.length === 0) return Promise.resolve()
  return new Promise<void>((resolve) => {
    let left = flights.length
    let timer: ReturnType<typeof setTimeout> | undefined
    const abortAll = (): void => {
      const r = reason()
      for (const f of flights) f.controller.abort(r)
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

/** The rejection of a `getOrLoad` caller whose signal aborted. */
export function aborted(key: unknown, reason: unknown): AbortedError {
  return new AbortedError('L1Cache.getOrLoad', reason, typeof key === 'string' ? key : undefined)
}
