/**
 * The flights: the read path of `getOrLoad` past an L1 miss (Redis, then the lock, then the loader), one per
 * key in this process, shared by its callers. A caller with a signal leaves its flight at once when it
 * aborts; when every caller left, the flight stops where it is and leaves its load. With the distributed
 * lock, a flight either holds the key's lease while its load runs or follows the holder by polling Redis.
 */
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { AbortedError, ClosedError, coarseNow } from '@tierkit/contracts'
import type { Entry } from './entry.js'
import { LoaderTimeoutError } from './errors.js'
import { isReplyError, type L2 } from './l2.js'
import { Departure, type Leaving, leaveOnAbort } from './leaving.js'
import type { LoaderRunner } from './loader.js'
import type { DistributedLock, HeldLock } from './lock.js'
import type { Shared } from './shared.js'
import type { EntryStore, L2Read, ReadDone } from './store.js'
import type { Loader, LoadOptions } from './types.js'

/**
 * The flight of a key: the whole read path of `getOrLoad` (Redis, lock, load), shared by its callers. It is
 * its own {@link Departure} (set off when every caller aborted: the flight stops where it is and leaves its
 * load), its own request (the key, its loader, the call's options) and the sink of its first Redis read: one
 * object per L1 miss.
 */
export class Flight extends Departure implements ReadDone {
  readonly promise: Promise<unknown>
  /** the callers of this flight that have not aborted (a caller without a signal never leaves) */
  callers = 0
  /** when the flight started (for the soft and hard timeouts) */
  readonly start: number = coarseNow()
  private resolveFlight!: (value: unknown) => void
  private rejectFlight!: (error: unknown) => void

  constructor(
    private readonly flights: Flights,
    readonly redisKey: string,
    readonly key: string,
    readonly loader: Loader<unknown>,
    readonly options: LoadOptions | undefined,
    /** the L1's copy, past its freshness and inside its grace */
    readonly l1Stale: Entry | undefined,
  ) {
    super()
    this.promise = new Promise((resolve, reject) => {
      this.resolveFlight = resolve
      this.rejectFlight = reject
    })
  }

  /** The flight's first Redis read answered. */
  readDone(read: L2Read): void {
    this.flights.afterRead(this, read)
  }

  /** The flight lands: new callers no longer join it. */
  settle(value: unknown, error: unknown, failed: boolean): void {
    this.flights.landed(this)
    if (failed) this.rejectFlight(error)
    else this.resolveFlight(value)
  }
}

/** One key's loader and the call's options, as the read path carries them (a {@link Flight}). */
interface Request {
  readonly redisKey: string
  readonly key: string
  readonly loader: Loader<unknown>
  readonly options: LoadOptions | undefined
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
    const flight = new Flight(this, redisKey, key, loader, options, l1Stale)
    this.flights.set(redisKey, flight)
    this.store.readTo(redisKey, key, true, flight)
    return flight
  }

  /** A flight landed: it leaves the table unless a write or an eviction replaced it already. */
  landed(flight: Flight): void {
    if (this.flights.get(flight.redisKey) === flight) this.flights.delete(flight.redisKey)
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
        flight.abort(signal.reason)
      }
    })
  }

  /**
   * The first Redis read of a flight answered: a fresh entry lands the flight at once (the L2 hit of an L1
   * miss, with no further promise); anything else goes on to the lock and the loader.
   */
  afterRead(flight: Flight, read: L2Read): void {
    try {
      const inRedis = read.entry
      if (inRedis !== undefined) {
        const now = coarseNow()
        if (now < inRedis.freshUntil) {
          if (!read.evicted) {
            this.store.setL1(flight.redisKey, inRedis)
            if (inRedis.refreshAt !== 0 && now >= inRedis.refreshAt) {
              this.runner.refresh(flight.redisKey, flight.key, flight.loader, flight.options, inRedis.token)
            }
          }
          flight.settle(inRedis.value, undefined, false)
          return
        }
      }
      this.resolve(flight, read).then(
        (value) => flight.settle(value, undefined, false),
        (error: unknown) => flight.settle(undefined, error, true),
      )
    } catch (error) {
      flight.settle(undefined, error, true)
    }
  }

  /** After a first read that found no fresh entry: the lock (when on) and the loader. */
  private async resolve(flight: Flight, read: L2Read): Promise<unknown> {
    const { redisKey, key, start } = flight
    let stale = flight.l1Stale
    if (read.entry !== undefined) stale = newer(stale, read.entry)
    else if (read.tombstone) stale = undefined // deleted: the L1's stale copy predates the delete
    if (flight.aborted) throw new AbortedError('getOrLoad', flight.reason, key) // every caller left
    if (
      this.shared.settings.lock.distributed &&
      this.runner.running(redisKey) === undefined &&
      this.l2.healthy(redisKey)
    ) {
      return this.loadWithLock(flight, stale, start, read, flight)
    }
    return this.loadFrom(flight, stale, start, read, flight)
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
