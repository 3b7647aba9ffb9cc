/**
 * The flights: the read path of `getOrLoad` past an L1 miss (Redis, then the lock, then the loader), one per
 * key in this process, shared by its callers. A caller with a signal leaves its flight at once when it
 * aborts; when every caller left, the flight stops where it is and leaves its load. With the distributed
 * lock, a flight either holds the key's lease while its load runs or follows the holder by polling Redis.
 */
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { AbortedError, ClosedError } from '@tierkit/contracts'
import { coarseNow } from './clock.js'
import type { Entry } from './entry.js'
import { LoaderTimeoutError } from './errors.js'
import { isReplyError, type L2 } from './l2.js'
import { Departure, type Leaving, leaveOnAbort } from './leaving.js'
import type { LoaderRunner } from './loader.js'
import type { DistributedLock, HeldLock } from './lock.js'
import type { Shared } from './shared.js'
import type { EntryStore, L2Read } from './store.js'
import type { Loader, LoadOptions } from './types.js'

/** The flight of a key: the whole read path of `getOrLoad` (Redis, lock, load), shared by its callers. */
export interface Flight {
  promise: Promise<unknown>
  /** the callers of this flight that have not aborted (a caller without a signal never leaves) */
  callers: number
  /** set off when every caller aborted: the flight stops where it is and leaves its load */
  departure: Departure
}

/** One key's loader and the call's options, as the read path carries them. */
interface Request {
  redisKey: string
  key: string
  loader: Loader<unknown>
  options: LoadOptions | undefined
}

/** The newer of two servable entries (by `freshUntil`). */
function newer(a: Entry | undefined, b: Entry): Entry {
  return a === undefined || b.freshUntil > a.freshUntil ? b : a
}

export class Flights {
  private readonly flights = new Map<string, Flight>()

  constructor(
    private readonly shared: Shared,
    private readonly l2: L2,
    private readonly store: EntryStore,
    private readonly runner: LoaderRunner,
    private readonly lock: DistributedLock,
  ) {}

  get(redisKey: string): Flight | undefined {
    return this.flights.get(redisKey)
  }

  has(redisKey: string): boolean {
    return this.flights.has(redisKey)
  }

  /** New callers of `redisKey` must not join the flight in the air (a write or an eviction). */
  delete(redisKey: string): void {
    this.flights.delete(redisKey)
  }

  clear(): void {
    this.flights.clear()
  }

  /** Starts the flight of a key: the whole read path, shared by the callers that join it. */
  start(
    redisKey: string,
    key: string,
    loader: Loader<unknown>,
    options: LoadOptions | undefined,
    l1Stale: Entry | undefined,
  ): Flight {
    const departure = new Departure()
    const request: Request = { redisKey, key, loader, options }
    const flight: Flight = { promise: this.resolve(request, l1Stale, departure), callers: 0, departure }
    this.flights.set(redisKey, flight)
    const clear = (): void => {
      if (this.flights.get(redisKey) === flight) this.flights.delete(redisKey)
    }
    flight.promise.then(clear, clear)
    return flight
  }

  /**
   * One caller's wait for a flight, with the caller's signal: the abort rejects this caller at once with
   * `AbortedError`. The flight goes on for its other callers; when the last one aborts, the flight is
   * abandoned (new callers start afresh) and leaves its load, which stops when nobody else waits for it.
   */
  follow(
    flight: Flight,
    redisKey: string,
    signal: Leaving,
    what: string,
    key: string | undefined,
  ): Promise<unknown> {
    return leaveOnAbort(flight.promise, signal, what, key, () => {
      if (--flight.callers === 0) {
        if (this.flights.get(redisKey) === flight) this.flights.delete(redisKey)
        flight.departure.abort(signal.reason)
      }
    })
  }

  private async resolve(request: Request, l1Stale: Entry | undefined, signal: Leaving): Promise<unknown> {
    const { redisKey, key, loader, options } = request
    const start = coarseNow()
    let stale = l1Stale
    const read = await this.store.read(redisKey, key, true)
    const inRedis = read.entry
    if (inRedis !== undefined) {
      const now = coarseNow()
      if (now < inRedis.freshUntil) {
        if (!read.evicted) {
          this.store.setL1(redisKey, inRedis)
          if (inRedis.refreshAt !== 0 && now >= inRedis.refreshAt) {
            this.runner.refresh(redisKey, key, loader, options, inRedis.token)
          }
        }
        return inRedis.value
      }
      stale = newer(stale, inRedis)
    } else if (read.tombstone) {
      stale = undefined // deleted: the L1's stale copy predates the delete
    }
    if (signal.aborted) throw new AbortedError('getOrLoad', signal.reason, key) // every caller left
    if (
      this.shared.settings.lock.distributed &&
      this.runner.running(redisKey) === undefined &&
      this.l2.healthy(redisKey)
    ) {
      return this.loadWithLock(request, stale, start, read, signal)
    }
    return this.loadFrom(request, stale, start, read, signal)
  }

  /**
   * Loads the key after the read `read`: joins the load of the key already running here, if any; otherwise
   * leases the key when the read found it empty (so that the fill has a token to expect), serves a fresh
   * value written meanwhile, or starts the loader. `held` is the distributed lock, renewed while the load runs
   * and released after it. `signal`: the flight's, aborted when every caller left.
   */
  private async loadFrom(
    request: Request,
    stale: Entry | undefined,
    start: number,
    read: L2Read,
    signal: Leaving,
    held?: HeldLock,
  ): Promise<unknown> {
    const { redisKey, key, loader, options } = request
    if (this.runner.running(redisKey) === undefined) read = await this.store.leaseIfEmpty(redisKey, key, read)
    const found = read.entry
    if (found !== undefined) {
      if (Date.now() < found.freshUntil) {
        if (held !== undefined) this.lock.release(held.lockKey, held.token)
        if (!read.evicted) this.store.setL1(redisKey, found)
        return found.value
      }
      stale = newer(stale, found)
    } else if (read.tombstone) {
      stale = undefined
    }
    if (signal.aborted) {
      // every caller left before the loader started: do not start it
      if (held !== undefined) this.lock.release(held.lockKey, held.token)
      throw new AbortedError('getOrLoad', signal.reason, key)
    }
    const load = this.runner.start(redisKey, key, loader, options, stale, read.token, false)
    if (held !== undefined) this.lock.hold(held, load.promise)
    return this.runner.wait(load, redisKey, key, stale, start, signal)
  }

  /**
   * The read path under the distributed lock: take the key's lease and load, or, while another process
   * holds it, poll Redis for its value (with the soft and hard timeouts on the stale value); a follower that
   * waited `lock.waitTimeout` loads by itself.
   */
  private async loadWithLock(
    request: Request,
    stale: Entry | undefined,
    start: number,
    seen: L2Read,
    signal: Leaving,
  ): Promise<unknown> {
    const { redisKey, key } = request
    const lockKey = this.lock.lockKey(key)
    const token = this.lock.tokenFor(lockKey)
    let delay = 4
    for (;;) {
      if (signal.aborted) throw new AbortedError('getOrLoad', signal.reason, key) // every caller left
      let acquired: boolean
      try {
        acquired = (await this.lock.acquire(lockKey, token)) !== 0
      } catch (err) {
        // Redis refused the script (OOM, ...): nothing was set, load without the lock
        if (isReplyError(err)) return this.loadFrom(request, stale, start, seen, signal)
        // No reply (timeout, connection lost): the lock may have been set all the same. Act as its holder
        // (load, renew, then release it by token) so that it is never left to a holder that does not exist.
        acquired = true
      }
      if (acquired) {
        this.lock.claimed(lockKey, token)
        // somebody may have stored the value between our read and our lock
        const again = await this.store.read(redisKey, key, false)
        return this.loadFrom(request, stale, start, again, signal, { lockKey, token })
      }
      const local = this.runner.running(redisKey)
      if (local) return this.runner.wait(local, redisKey, key, stale, start, signal)
      await sleep(delay)
      delay = Math.min(delay * 2, 50)
      const polled = await this.store.read(redisKey, key, false)
      seen = polled
      const found = polled.entry
      const now = Date.now()
      if (found !== undefined && now < found.freshUntil) {
        this.shared.record('l2', 'hit', performance.now())
        if (!polled.evicted) this.store.setL1(redisKey, found)
        return found.value
      }
      if (polled.tombstone) stale = undefined
      else if (found !== undefined) stale = newer(stale, found)
      const servable = stale !== undefined && now < stale.staleUntil
      const waited = now - start
      const { softTimeout, hardTimeout } = this.shared.settings
      if (servable && softTimeout !== undefined && waited >= softTimeout) {
        return this.runner.serveStale(redisKey, stale!, false)
      }
      if (hardTimeout !== undefined && waited >= hardTimeout) {
        if (servable) return this.runner.serveStale(redisKey, stale!, false)
        this.shared.record('db', 'error', performance.now())
        throw new LoaderTimeoutError(key, hardTimeout)
      }
      if (waited >= this.shared.settings.lock.waitTimeout) {
        return this.loadFrom(request, stale, start, seen, signal)
      }
      if (this.shared.closed) throw new ClosedError(this.shared.resource)
    }
  }
}
