/**
 * One source per layer: the watched `stats()` sources (`metrics.watch`), read at snapshot or scrape time, their
 * resets absorbed so counters never go down, and the refusal of a second source for a layer that has records.
 *
 * @module
 */
import { type CacheStats, checkMethods, invalidArgument } from '@tierkit/contracts'
import { type LayerCounters, OUTCOMES } from './counters.js'
import { LayerConflictError } from './errors.js'
import type { StatsSource } from './types.js'

/** The `CacheStats` field of each outcome, in `CACHE_OUTCOMES` order. */
const STAT_FIELDS = [
  'hits',
  'misses',
  'stale',
  'errors',
  'sets',
  'evictions',
] as const satisfies readonly (keyof CacheStats)[]

interface Watch {
  readonly layer: number
  readonly source: StatsSource
  /** Last good reading per outcome. */
  readonly last: Float64Array
  /** Sum of readings before each detected reset. */
  readonly base: Float64Array
}

/** The watched sources of one instance. @internal */
export class WatchedSources {
  /** Failed `stats()` reads. */
  errors = 0
  readonly #counters: LayerCounters
  readonly #watches: Watch[] = []
  /** Counts of sources no longer watched, kept so counters never go down. */
  readonly #retired: Float64Array

  constructor(counters: LayerCounters) {
    this.#counters = counters
    this.#retired = new Float64Array(counters.counts.length)
  }

  /**
   * Watches `source` for layer `li` (named `layer` in messages); returns the function that stops watching.
   * @throws TierkitTypeError for a source without `stats()` or already watched for the layer
   * @throws LayerConflictError when the layer has records from the observer
   */
  watch(where: string, layer: string, li: number, source: StatsSource): () => void {
    checkMethods(where, 'source', source, ['stats'], 'an object with a stats() method')
    if (this.#watches.some((w) => w.layer === li && w.source === source)) {
      throw invalidArgument(
        where,
        'source',
        `a source not yet watched for layer ${JSON.stringify(layer)}`,
        source,
      )
    }
    const counts = this.#counters.counts
    let records = 0
    for (let o = 0; o < OUTCOMES; o++) records += counts[li * OUTCOMES + o]!
    if (records > 0) throw new LayerConflictError(layer, records)
    const entry: Watch = {
      layer: li,
      source,
      last: new Float64Array(OUTCOMES),
      base: new Float64Array(OUTCOMES),
    }
    this.#watches.push(entry)
    this.#counters.watched[li] = 1
    this.#read(entry)
    return () => this.#unwatch(entry)
  }

  #unwatch(entry: Watch): void {
    const at = this.#watches.indexOf(entry)
    if (at < 0) return
    this.#read(entry)
    this.#watches.splice(at, 1)
    for (let o = 0; o < OUTCOMES; o++) {
      this.#retired[entry.layer * OUTCOMES + o]! += entry.base[o]! + entry.last[o]!
    }
    if (!this.#watches.some((w) => w.layer === entry.layer)) this.#counters.watched[entry.layer] = 0
  }

  #read(entry: Watch): void {
    let stats: unknown
    try {
      stats = entry.source.stats()
    } catch {
      this.errors++
      return
    }
    if (typeof stats !== 'object' || stats === null) {
      this.errors++
      return
    }
    for (let o = 0; o < OUTCOMES; o++) {
      let v: unknown
      try {
        v = (stats as Record<string, unknown>)[STAT_FIELDS[o]!]
      } catch {
        continue
      }
      if (typeof v !== 'number' || !(v >= 0) || v === Number.POSITIVE_INFINITY) continue
      if (v < entry.last[o]!) entry.base[o]! += entry.last[o]!
      entry.last[o] = v
    }
  }

  /** Reads every watched source; returns recorded + watched + retired counts, layer-major (a new array). */
  totals(): Float64Array {
    for (const w of this.#watches) this.#read(w)
    const totals = Float64Array.from(this.#counters.counts)
    for (let i = 0; i < totals.length; i++) totals[i]! += this.#retired[i]!
    for (const w of this.#watches) {
      for (let o = 0; o < OUTCOMES; o++) totals[w.layer * OUTCOMES + o]! += w.base[o]! + w.last[o]!
    }
    return totals
  }
}
