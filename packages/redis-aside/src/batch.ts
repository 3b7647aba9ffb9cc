/**
 * The batcher: `getMany` and `getOrLoadMany`. A batch reads the L1, then Redis in one MGET round trip (per
 * hash slot on a Cluster); the keys still missing join the flights and loads already in flight, and the rest
 * get a lease and go to ONE call of the batch loader, whose result is stored key by key (each key's load is
 * registered, so that a concurrent `getOrLoad` joins it and an eviction reaches it).
 */
import { performance } from 'node:perf_hooks'
import { AbortedError, invalidArgument } from '@tierkit/contracts'
import { type Entry, isMarker } from './entry.js'
import type { Flights } from './flight.js'
import type { L2 } from './l2.js'
import type { Leaving } from './leaving.js'
import type { Load, LoaderRunner } from './loader.js'
import type { Shared } from './shared.js'
import type { EntryStore, Fence, L2Read } from './store.js'
import type { BatchLoader, BatchLoaderContext, LoadOptions } from './types.js'

/** What `lookupMany` found for one key. */
export interface Look {
  entry: Entry | undefined
  fresh: boolean
  /** what Redis held (see `L2Read.token`) */
  token: string
  /** the MGET was answered */
  answered: boolean
}

/** One `getOrLoadMany` call on its way. */
interface BatchCall<T> {
  loader: BatchLoader<T>
  options: LoadOptions | undefined
  /** the call's own signal (aborted when its caller's aborts) */
  signal: Leaving | undefined
  start: number
  found: Map<string, Look>
  /** the answer so far, per key */
  values: Map<string, unknown>
  /** the stale entries (inside their grace) of the keys being loaded */
  stale: Map<string, Entry>
  /** the waits for flights and loads the call joined, and for its own batch */
  joins: Array<Promise<void>>
}

export class Batcher {
  constructor(
    private readonly shared: Shared,
    private readonly l2: L2,
    private readonly store: EntryStore,
    private readonly runner: LoaderRunner,
    private readonly flights: Flights,
  ) {}

  /** `getOrLoadMany` after the checks; `signal` is the call's own (aborted when its caller's aborts). */
  async loadMany<T>(
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
    const call: BatchCall<T> = {
      loader,
      options,
      signal,
      start,
      found,
      values: new Map(),
      stale: new Map(),
      joins: [],
    }
    const missing = this.joinInFlight(call)
    if (missing.length > 0 && !left()) {
      const toLoad = await this.leaseMissing(call, missing)
      if (toLoad.length > 0 && !left()) call.joins.push(this.loadBatch(call, toLoad))
    }
    if (left()) throw new AbortedError('getOrLoadMany', signal?.reason)
    await Promise.all(call.joins)
    return keys.map((key) => call.values.get(key) as T | null)
  }

  /**
   * Takes the fresh values found, and joins the flights and loads of the other keys already in flight;
   * returns the keys left to load.
   */
  private joinInFlight<T>(call: BatchCall<T>): string[] {
    const { values, stale, signal } = call
    const missing: string[] = []
    for (const [key, look] of call.found) {
      if (look.fresh) {
        values.set(key, look.entry!.value)
        continue
      }
      if (look.entry) stale.set(key, look.entry)
      const redisKey = this.shared.settings.valuePrefix + key
      const flight = this.flights.get(redisKey)
      const load = flight === undefined ? this.runner.running(redisKey) : undefined
      if (flight !== undefined) {
        // a getOrLoad of the key is on its way: this call is one more of its callers
        flight.callers++
        const p =
          signal === undefined
            ? flight.promise
            : this.flights.follow(flight, redisKey, signal, 'getOrLoadMany', undefined)
        call.joins.push(
          p.then(
            (v) => {
              values.set(key, v)
            },
            (err: unknown) => {
              if (!stale.has(key) || err instanceof AbortedError) throw err
              values.set(key, stale.get(key)!.value)
            },
          ),
        )
      } else if (load !== undefined) {
        // a load of the key (another batch, a refresh) runs: wait for it like its other callers
        call.joins.push(this.awaitInto(call, load, key))
      } else {
        missing.push(key)
      }
    }
    return missing
  }

  /**
   * The keys found empty get a lease first (see `leaseIfEmpty`); one may turn out to be written meanwhile
   * (served), or deleted (nothing stale). Returns the keys to load.
   */
  private async leaseMissing<T>(call: BatchCall<T>, missing: string[]): Promise<string[]> {
    const { found, values, stale } = call
    const prefix = this.shared.settings.valuePrefix
    const leased = await Promise.all(
      missing.map((key) => {
        const look = found.get(key)!
        const read: L2Read = {
          entry: undefined,
          token: look.token,
          answered: look.answered,
          tombstone: false,
          evicted: false,
        }
        return this.store.leaseIfEmpty(prefix + key, key, read)
      }),
    )
    const toLoad: string[] = []
    missing.forEach((key, i) => {
      const read = leased[i]!
      found.get(key)!.token = read.token
      if (read.entry !== undefined && Date.now() < read.entry.freshUntil) {
        if (!read.evicted) this.store.setL1(prefix + key, read.entry)
        values.set(key, read.entry.value)
        return
      }
      if (read.tombstone) stale.delete(key)
      else if (read.entry !== undefined && (stale.get(key)?.freshUntil ?? 0) < read.entry.freshUntil) {
        stale.set(key, read.entry)
      }
      // a getOrLoad of the key started its loader while the leases were taken (its lease is ours too): wait
      // for that load rather than load the key a second time in this process
      const running = this.runner.running(prefix + key)
      if (running !== undefined) call.joins.push(this.awaitInto(call, running, key))
      else toLoad.push(key)
    })
    return toLoad
  }

  /** ONE call of the batch loader for `toLoad`; each key's result is stored and served as its own load. */
  private async loadBatch<T>(call: BatchCall<T>, toLoad: string[]): Promise<void> {
    const t0 = performance.now()
    // the batch's signal aborts once every key's load is aborted (all its callers left, or close())
    const controller = new AbortController()
    const staleValues = new Map<string, T>()
    for (const key of toLoad) {
      const entry = call.stale.get(key)
      if (entry !== undefined) staleValues.set(key, entry.value as T)
    }
    const ctx: BatchLoaderContext<T> = { keys: toLoad, signal: controller.signal, stale: staleValues }
    const batch = (async () => Promise.resolve(call.loader(toLoad, ctx)))()
    const results = batch.then((res) => byKey(toLoad, res))
    const prefix = this.shared.settings.valuePrefix
    // every key gets a load entry so that concurrent getOrLoad calls join it (and evictions reach it)
    const loads = toLoad.map((key) =>
      this.runner.startShare(prefix + key, key, call.options, call.found.get(key)!.token, () =>
        results.then((m) => m.get(key)),
      ),
    )
    let live = loads.length
    for (const load of loads) {
      const signal = load.controller.signal
      signal.addEventListener(
        'abort',
        () => {
          if (--live === 0) controller.abort(signal.reason)
        },
        { once: true },
      )
    }
    results.then(
      () => this.shared.record('db', 'hit', t0),
      () => this.shared.record('db', 'error', t0),
    )
    await Promise.all(loads.map((load, i) => this.awaitInto(call, load, toLoad[i]!)))
  }

  /** Waits for the load of `key` (timeouts, fail-safe, the call's signal) and puts its value in the answer. */
  private awaitInto<T>(call: BatchCall<T>, load: Load, key: string): Promise<void> {
    const redisKey = this.shared.settings.valuePrefix + key
    return this.runner.wait(load, redisKey, key, call.stale.get(key), call.start, call.signal).then((v) => {
      call.values.set(key, v)
    })
  }

  /**
   * L1 then one MGET round trip (per hash slot on a Cluster); returns, per user key, the best entry found
   * (fresh, or stale as a fallback) and what Redis held (for the fills of the keys that get loaded).
   */
  async lookupMany(keys: readonly string[]): Promise<Map<string, Look>> {
    const found = new Map<string, Look>()
    const toRead = this.lookL1(keys, found)
    if (toRead.length === 0) return found
    const prefix = this.shared.settings.valuePrefix
    const redisKeys = toRead.map((key) => prefix + key)
    const fences = redisKeys.map((redisKey) => this.store.fence(redisKey))
    const t0 = this.shared.t0()
    try {
      const { values, failures } = await this.l2.readMany(redisKeys)
      for (let i = 0; i < failures; i++) this.shared.record('l2', 'error', t0)
      const after = Date.now()
      toRead.forEach((key, i) => {
        const raw = values.get(redisKeys[i]!)
        // not answered: look.answered stays false
        if (raw !== undefined) this.lookRaw(found.get(key)!, redisKeys[i]!, key, raw, after, t0, fences[i]!)
      })
    } finally {
      redisKeys.forEach((redisKey, i) => {
        this.store.unfence(redisKey, fences[i]!)
      })
    }
    return found
  }

  /** The L1 part of `lookupMany`: a look per key (first occurrence); returns the keys to read from Redis. */
  private lookL1(keys: readonly string[], found: Map<string, Look>): string[] {
    const { l1, valuePrefix } = this.shared.settings
    const toRead: string[] = []
    const now = Date.now()
    for (const key of keys) {
      if (found.has(key)) continue
      let entry: Entry | undefined
      if (l1 !== undefined) {
        const t0 = this.shared.t0()
        entry = l1.get(valuePrefix + key) as Entry | undefined
        if (entry !== undefined && now < entry.freshUntil) {
          this.shared.record('l1', 'hit', t0)
          found.set(key, { entry, fresh: true, token: entry.token, answered: true })
          continue
        }
        this.shared.record('l1', entry !== undefined && now < entry.staleUntil ? 'stale' : 'miss', t0)
      }
      found.set(key, {
        entry: entry !== undefined && now < entry.staleUntil ? entry : undefined,
        fresh: false,
        token: '',
        answered: false,
      })
      toRead.push(key)
    }
    return toRead
  }

  /** What the MGET answered for one key, into its look (a crossed `fence`: keep it out of the L1). */
  private lookRaw(
    look: Look,
    redisKey: string,
    key: string,
    raw: string | null,
    now: number,
    t0: number,
    fence: Fence,
  ): void {
    look.answered = true
    if (raw === null) {
      this.shared.record('l2', 'miss', t0)
      return
    }
    const decoded = this.store.decode(redisKey, key, raw, t0)
    if (isMarker(decoded)) {
      look.token = decoded.token
      // a tombstone: deleted, so the L1's stale copy (older than the delete) is not a fallback either
      if (decoded.tombstone) look.entry = undefined
      this.shared.record('l2', 'miss', t0)
      return
    }
    if (decoded === undefined) return
    look.token = decoded.token
    if (now >= decoded.staleUntil) return
    const fresh = now < decoded.freshUntil
    this.shared.record('l2', fresh ? 'hit' : 'stale', t0)
    if (fresh && !fence.invalid) this.store.setL1(redisKey, decoded)
    if (fresh || look.entry === undefined || decoded.freshUntil > look.entry.freshUntil) {
      look.entry = decoded
      look.fresh = fresh
    }
  }
}

/** The batch loader's result as a map over `keys` (a key a `Map` does not hold is `null`). */
function byKey(keys: string[], res: unknown): Map<string, unknown> {
  const m = new Map<string, unknown>()
  if (res instanceof Map) {
    for (const key of keys) m.set(key, res.has(key) ? res.get(key) : null)
  } else if (Array.isArray(res) && res.length === keys.length) {
    keys.forEach((key, i) => {
      m.set(key, res[i])
    })
  } else {
    throw invalidArgument(
      'Cache.getOrLoadMany',
      "the loader's result",
      `a Map or an array of ${keys.length} values aligned with its keys`,
      res,
    )
  }
  return m
}
