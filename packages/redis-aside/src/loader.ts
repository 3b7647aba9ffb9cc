/**
 * The loader runner: one load per key at a time in this process (single flight), its callers' waits with the
 * soft and hard timeouts and the fail-safe (serve the stale value while it is in its grace), per-caller
 * cancellation (the last waiter's abort aborts the load's `ctx.signal`), and the eager refresh of hot keys.
 * A load stores its result through the entry store (a fill against the token its read saw).
 */
import { performance } from 'node:perf_hooks'
import { AbortedError, ClosedError, checkTtl } from '@tierkit/contracts'
import type { Entry } from './entry.js'
import { LoaderError, LoaderTimeoutError } from './errors.js'
import { isReplyError } from './l2.js'
import type { Leaving } from './leaving.js'
import type { DistributedLock, HeldLock } from './lock.js'
import type { Shared } from './shared.js'
import type { EntryStore } from './store.js'
import type { Loader, LoaderContext, LoadOptions } from './types.js'

/** A load of one key in flight in this process. */
export interface Load {
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

/** What a load's loader asked for its result (`ctx.setTtl`, `ctx.skipCache`). */
interface ResultOptions {
  ttl?: number
  skip?: boolean
}

export class LoaderRunner {
  private readonly loads = new Map<string, Load>()
  /** Eager refreshes in flight: `close()` waits for them. */
  private readonly background = new Set<Promise<unknown>>()
  /** Abandoned loads still running (their loader ignores its signal): `close()` waits for them too. */
  private readonly abandoned = new Set<Promise<unknown>>()

  constructor(
    private readonly shared: Shared,
    private readonly store: EntryStore,
    private readonly lock: DistributedLock,
  ) {}

  /** The load of `redisKey` running in this process, if any. */
  running(redisKey: string): Load | undefined {
    return this.loads.get(redisKey)
  }

  /**
   * Starts the loader for `redisKey` unless it already runs; the returned load settles after the value is
   * stored. `token` is what Redis held before the loader ran: the fill expects it still there (see FILL); ''
   * when unknown, and then the result is not stored in Redis. `keep`: the cache wants the result for itself
   * (an eager refresh), so callers' aborts never abort it.
   */
  start(
    redisKey: string,
    key: string,
    loader: Loader<unknown>,
    options: LoadOptions | undefined,
    stale: Entry | undefined,
    token: string,
    keep: boolean,
  ): Load {
    const existing = this.loads.get(redisKey)
    if (existing) {
      if (keep) existing.keep = true
      return existing
    }
    const load = this.register(redisKey, keep)
    const asked: ResultOptions = {}
    const ctx: LoaderContext<unknown> = {
      key,
      stale: stale?.value,
      signal: load.controller.signal,
      setTtl(ttl: number) {
        asked.ttl = checkTtl('ctx.setTtl', 'ttl', ttl)
      },
      skipCache() {
        asked.skip = true
      },
    }
    const t0 = performance.now()
    const produce = async (): Promise<unknown> => {
      let value: unknown
      try {
        value = await loader(ctx)
      } catch (err) {
        this.shared.record('db', 'error', t0)
        throw err
      }
      this.shared.record('db', 'hit', t0)
      return value
    }
    this.run(redisKey, key, load, token, options, produce, asked)
    return load
  }

  /** The load of one key of a batch: its value is `produce`'s (the batch loader's result for the key). */
  startShare(
    redisKey: string,
    key: string,
    options: LoadOptions | undefined,
    token: string,
    produce: () => Promise<unknown>,
  ): Load {
    const load = this.register(redisKey, false)
    this.run(redisKey, key, load, token, options, produce, {})
    return load
  }

  /**
   * Registered before the loader runs: a loader that throws synchronously settles the load before `start`
   * returns, which used to leave a dead load registered for good.
   */
  private register(redisKey: string, keep: boolean): Load {
    const load: Load = {
      promise: Promise.resolve(),
      controller: new AbortController(),
      invalidated: false,
      abandoned: false,
      waiters: 0,
      keep,
    }
    this.loads.set(redisKey, load)
    return load
  }

  /** Runs `produce` as `load`, stores its value (unless skipped or invalidated), then unregisters it. */
  private run(
    redisKey: string,
    key: string,
    load: Load,
    token: string,
    options: LoadOptions | undefined,
    produce: () => Promise<unknown>,
    asked: ResultOptions,
  ): void {
    load.promise = (async () => {
      let stored: boolean | undefined = false
      try {
        const value = await produce()
        if (!asked.skip && value !== undefined && !load.invalidated) {
          stored = await this.store.fill(
            redisKey,
            key,
            value,
            this.shared.ttlFor(value, asked.ttl ?? options?.ttl),
            options?.grace ?? this.shared.settings.grace,
            token,
            load,
          )
        }
        return value
      } finally {
        if (this.loads.get(redisKey) === load) this.loads.delete(redisKey)
        if (stored === false && !load.abandoned) this.store.dropLease(redisKey, token)
      }
    })()
    load.promise.catch(() => {})
  }

  /**
   * Waits for a load, applying the soft and hard timeouts and the fail-safe. `signal` (a flight's, or a
   * batch call's) makes this waiter leave: when it was the last one and the cache does not want the result
   * for itself, the load is abandoned (its `ctx.signal` aborts).
   */
  wait(
    load: Load,
    redisKey: string,
    key: string,
    stale: Entry | undefined,
    start: number,
    signal: Leaving | undefined,
  ): Promise<unknown> {
    const { softTimeout, hardTimeout } = this.shared.settings
    const soft = stale !== undefined ? softTimeout : undefined
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
        if (aborted && load.waiters === 0 && !load.keep) this.abandon(redisKey, key, load, signal?.reason)
        fn()
      }
      const onAbort = (): void =>
        finish(() => reject(new AbortedError('getOrLoad', signal?.reason, key)), true)
      // served stale in the load's place: the load goes on and refreshes the entry, whoever aborts later
      const serveInstead = (): void => {
        load.keep = true
        resolve(this.serveStale(redisKey, stale!, false))
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
            if (stale !== undefined && Date.now() < stale.staleUntil) {
              this.shared.emit({ type: 'load-error', key, error: err, background: false })
              // after an eviction the stale copy must not go back into the L1
              resolve(this.serveStale(redisKey, stale, !load.invalidated))
            } else {
              reject(new LoaderError(key, err))
            }
          }),
      )
      const elapsed = Date.now() - start
      if (soft !== undefined) {
        softTimer = setTimeout(() => finish(serveInstead), Math.max(0, soft - elapsed))
      }
      if (hardTimeout !== undefined) {
        const onHard = (): void => {
          if (stale !== undefined && Date.now() < stale.staleUntil) {
            serveInstead()
            return
          }
          this.shared.record('db', 'error', performance.now())
          load.controller.abort(new LoaderTimeoutError(key, hardTimeout))
          reject(new LoaderTimeoutError(key, hardTimeout))
        }
        hardTimer = setTimeout(() => finish(onHard), Math.max(0, hardTimeout - elapsed))
      }
    })
  }

  /** Serves a stale value; after a loader failure, keeps serving it from L1 for `graceRetry` ms. */
  serveStale(redisKey: string, stale: Entry, failed: boolean): unknown {
    this.shared.record('db', 'stale', performance.now())
    const { l1, graceRetry } = this.shared.settings
    if (failed && l1 !== undefined && graceRetry > 0) {
      const now = Date.now()
      const freshUntil = Math.min(now + graceRetry, stale.staleUntil)
      if (freshUntil > now) {
        const retryLater: Entry = {
          value: stale.value,
          freshUntil,
          refreshAt: 0,
          staleUntil: stale.staleUntil,
          token: stale.token,
        }
        l1.set(redisKey, retryLater, { ttl: stale.staleUntil - now })
      }
    }
    return stale.value
  }

  /**
   * Nobody waits for `load` any more (every caller aborted) and the cache does not want its result for
   * itself: its `ctx.signal` aborts, new callers start a new load, and its result, if it still comes, is
   * cached nowhere.
   */
  private abandon(redisKey: string, key: string, load: Load, reason: unknown): void {
    load.invalidated = true
    load.abandoned = true
    if (this.loads.get(redisKey) === load) this.loads.delete(redisKey)
    const p = load.promise
    this.abandoned.add(p)
    const done = (): void => {
      this.abandoned.delete(p)
    }
    p.then(done, done)
    load.controller.abort(new AbortedError(`the load of ${JSON.stringify(key)}`, reason, key))
  }

  /**
   * The eager refresh of a hit past its `refreshAt`: a background load (under the distributed lock when it
   * is on; another process holding it refreshes instead) whose fill expects the entry it started from
   * (`token`), so that any write since then refuses it.
   */
  refresh(
    redisKey: string,
    key: string,
    loader: Loader<unknown>,
    options: LoadOptions | undefined,
    token: string,
  ): void {
    if (this.shared.closed || this.loads.has(redisKey)) return
    const run = async (): Promise<void> => {
      let held: HeldLock | undefined
      if (this.shared.settings.lock.distributed) {
        const lockKey = this.lock.lockKey(key)
        const lockToken = this.lock.tokenFor(lockKey)
        let got: number
        try {
          got = await this.lock.acquire(lockKey, lockToken)
        } catch (err) {
          // no reply: the lock may be ours, release it by token; either way keep serving what we have
          if (!isReplyError(err)) this.lock.release(lockKey, lockToken)
          return
        }
        if (got === 0) return // somebody else refreshes it
        this.lock.claimed(lockKey, lockToken)
        held = { lockKey, token: lockToken }
      }
      const load = this.start(redisKey, key, loader, options, undefined, token, true)
      if (held !== undefined) this.lock.hold(held, load.promise)
      await load.promise
    }
    const p = run().catch((error: unknown) =>
      this.shared.emit({ type: 'load-error', key, error, background: true }),
    )
    this.background.add(p)
    p.then(() => this.background.delete(p))
  }

  /** A write or an eviction of `redisKey` in this process: the load running must not cache what it gets. */
  invalidate(redisKey: string): void {
    const load = this.loads.get(redisKey)
    if (load !== undefined) {
      load.invalidated = true
      this.loads.delete(redisKey)
    }
  }

  invalidateAll(): void {
    for (const load of this.loads.values()) load.invalidated = true
    this.loads.clear()
  }

  /** At `close()`: aborts every load's signal; returns what `close()` waits for. */
  close(): Array<Promise<unknown>> {
    const loads = [...this.loads.values()]
    for (const load of loads) load.controller.abort(new ClosedError(this.shared.resource))
    return [...this.background, ...this.abandoned, ...loads.map((load) => load.promise)]
  }
}
