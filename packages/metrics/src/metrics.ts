/**
 * `createCacheMetrics` and the instance it returns: the wiring of the rooms (options in `options.ts`, the
 * counters and the hot-path `record` in `counters.ts`, the watched sources in `sources.ts`, the reads in
 * `snapshot.ts`, the table in `table.ts`, the text expositions in `exposition.ts`).
 *
 * @module
 */
import { type CacheLayer, type CacheOutcome, checkNumber, checkOneOf } from '@tierkit/contracts'
import { createCounters, createRecorder, type LayerCounters } from './counters.js'
import { render } from './exposition.js'
import { escapeLabelValue } from './format.js'
import { resolveOptions } from './options.js'
import { collectSample, latencyQuantile, takeSnapshot } from './snapshot.js'
import { WatchedSources } from './sources.js'
import { renderTable, tableLabels } from './table.js'
import type {
  CacheMetrics,
  CacheMetricsEvent,
  CacheMetricsObserver,
  CacheMetricsOptions,
  CacheMetricsSample,
  CacheMetricsSnapshot,
  FormatTableOptions,
  StatsSource,
} from './types.js'

/**
 * Creates per-layer cache metrics: a hot-path observer, snapshots with percentiles, the
 * `Layer | Hit Rate | Avg Latency` table and Prometheus / OpenMetrics text.
 *
 * @param options - the layers (default `['cdn', 'l1', 'l2', 'db']`), baseline, exposition buckets, `onEvent`
 * @returns the metrics instance
 * @throws TierkitTypeError for a bad option (see README, Errors)
 * @example
 * ```ts
 * const metrics = createCacheMetrics()
 * metrics.observer.record('l2', 'hit', 1.4)
 * console.log(metrics.formatTable({ labels: { l1: 'L1', l2: 'L2 (Redis)', db: 'DB' } }))
 * ```
 */
export function createCacheMetrics<const L extends string = CacheLayer>(
  options?: CacheMetricsOptions<L>,
): CacheMetrics<L> {
  const o = resolveOptions(options)
  return new Metrics<L>(o.layers, o.baseline, o.bounds, o.onEvent)
}

class Metrics<L extends string> implements CacheMetrics<L> {
  readonly layers: readonly L[]
  readonly observer: CacheMetricsObserver<L>
  readonly #baseline: L
  /** The layers' label values, escaped for the expositions. */
  readonly #escaped: readonly string[]
  readonly #counters: LayerCounters
  readonly #sources: WatchedSources

  constructor(
    layers: L[],
    baseline: L,
    bounds: number[],
    onEvent: ((event: CacheMetricsEvent<L>) => void) | undefined,
  ) {
    this.layers = Object.freeze(layers)
    this.#baseline = baseline
    this.#escaped = layers.map(escapeLabelValue)
    this.#counters = createCounters(layers.length, Object.freeze(bounds))
    this.#sources = new WatchedSources(this.#counters)
    const record: (layer: L, outcome: CacheOutcome, duration?: number) => void = createRecorder(
      layers,
      this.#counters,
      onEvent,
    )
    this.observer = Object.freeze({ record })
  }

  #layerIndex(where: string, layer: unknown): number {
    return this.layers.indexOf(checkOneOf(where, 'layer', layer, this.layers))
  }

  watch(layer: L, source: StatsSource): () => void {
    const where = 'CacheMetrics.watch'
    return this.#sources.watch(where, layer, this.#layerIndex(where, layer), source)
  }

  collect(): CacheMetricsSample<L> {
    const totals = this.#sources.totals()
    return collectSample(this.layers, this.#counters, totals, this.#sources.errors)
  }

  latencyQuantile(layer: L, q: number): number | null {
    const where = 'CacheMetrics.latencyQuantile'
    const li = this.#layerIndex(where, layer)
    checkNumber(where, 'q', q, 0, 1)
    return latencyQuantile(this.#counters, li, q)
  }

  snapshot(): CacheMetricsSnapshot<L> {
    const totals = this.#sources.totals()
    return takeSnapshot(this.layers, this.#counters, totals, this.#baseline, this.#sources.errors)
  }

  formatTable(options?: FormatTableOptions): string {
    const labels = tableLabels(options)
    return renderTable(this.snapshot(), labels)
  }

  toPrometheus(): string {
    return render(this.collect(), this.#escaped, false)
  }

  toOpenMetrics(): string {
    return render(this.collect(), this.#escaped, true)
  }
}
