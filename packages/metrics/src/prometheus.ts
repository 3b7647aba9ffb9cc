import { CACHE_OUTCOMES, checkMethods, checkObject } from '@tierkit/contracts'
import {
  Counter,
  Gauge,
  register as globalRegistry,
  type Metric,
  type Registry,
  type RegistryContentType,
} from 'prom-client'
import { MetricRegisteredError } from './errors.js'
import {
  formatBound,
  HIT_RATIO_HELP,
  HIT_RATIO_METRIC,
  INVALID_HELP,
  INVALID_METRIC,
  LATENCY_HELP,
  LATENCY_METRIC,
  REQUESTS_HELP,
  REQUESTS_METRIC,
} from './format.js'
import { INVALID_RECORD_REASONS } from './invalid.js'
import type { CacheMetrics } from './types.js'

/** Options of {@link registerPrometheusCollectors}. */
export interface PrometheusCollectorOptions {
  /**
   * The prom-client registry to register on.
   *
   * @default prom-client's global `register`
   */
  registry?: Registry<RegistryContentType>
}

/** What {@link registerPrometheusCollectors} returns. */
export interface PrometheusRegistration {
  /** Names of the registered metrics. */
  readonly metrics: readonly string[]
  /** Removes the metrics from the registry (idempotent). */
  unregister(): void
}

interface HistogramValue {
  labels: Record<string, string>
  value: number
  metricName: string
}

/**
 * A prom-client metric that renders the latency histogram from our exposition buckets at scrape time. prom-client's
 * own `Histogram` can only be fed by `observe`, so this object implements the shape its `Registry` reads (`name`,
 * `help`, `type`, `aggregator`, `get()`, `reset()`).
 */
class LatencyHistogramCollector {
  readonly name: string = LATENCY_METRIC
  readonly help: string = LATENCY_HELP
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  readonly labelNames: readonly string[] = ['layer']
  readonly #metrics: CacheMetrics<string>

  constructor(metrics: CacheMetrics<string>) {
    this.#metrics = metrics
  }

  async get(): Promise<{
    name: string
    help: string
    type: string
    aggregator: string
    values: HistogramValue[]
  }> {
    const values: HistogramValue[] = []
    for (const layer of this.#metrics.collect().layers) {
      for (const bucket of layer.latencyBuckets) {
        values.push({
          labels: { layer: layer.layer, le: formatBound(bucket.le / 1000, false) },
          value: bucket.count,
          metricName: `${LATENCY_METRIC}_bucket`,
        })
      }
      values.push(
        {
          labels: { layer: layer.layer },
          value: layer.latencySum / 1000,
          metricName: `${LATENCY_METRIC}_sum`,
        },
        { labels: { layer: layer.layer }, value: layer.latencyCount, metricName: `${LATENCY_METRIC}_count` },
      )
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }

  reset(): void {
    // Nothing to reset: the values belong to the CacheMetrics instance.
  }
}

/**
 * Registers collectors for `metrics` on a prom-client registry. They read the counters when the registry is
 * scraped (`collect()` callbacks), so `record` does no extra work. Registers
 * `tierkit_cache_requests_total{layer,outcome}`, `tierkit_cache_latency_seconds{layer}` (histogram),
 * `tierkit_cache_hit_ratio{layer}` and `tierkit_cache_invalid_records_total{reason}`, with the same values as
 * `metrics.toPrometheus()`; both text formats of the registry work.
 *
 * @param metrics - the instance from `createCacheMetrics`
 * @param options - the registry
 * @returns the registered names and an `unregister` function
 * @throws TierkitTypeError when `metrics` does not come from `createCacheMetrics`, or `options.registry` is
 *   not a prom-client `Registry`
 * @throws MetricRegisteredError `E_METRIC_REGISTERED` when the registry already has one of the names
 *   (nothing is left registered)
 * @example
 * ```ts
 * import { Registry } from 'prom-client'
 * import { registerPrometheusCollectors } from '@tierkit/metrics/prometheus'
 * const registry = new Registry()
 * registerPrometheusCollectors(metrics, { registry })
 * app.get('/metrics', async () => registry.metrics())
 * ```
 */
export function registerPrometheusCollectors(
  metrics: CacheMetrics<string>,
  options?: PrometheusCollectorOptions,
): PrometheusRegistration {
  const where = 'registerPrometheusCollectors'
  checkMethods(where, 'metrics', metrics, ['collect'], 'the result of createCacheMetrics()')
  checkObject(where, 'options', options, true)
  const registry = options?.registry ?? globalRegistry
  checkMethods(
    where,
    'options.registry',
    registry,
    ['registerMetric', 'getSingleMetric', 'removeSingleMetric'],
    'a prom-client Registry',
  )
  const names = [REQUESTS_METRIC, LATENCY_METRIC, HIT_RATIO_METRIC, INVALID_METRIC]
  for (const name of names) {
    if (registry.getSingleMetric(name) !== undefined) throw new MetricRegisteredError(name)
  }

  new Counter({
    name: REQUESTS_METRIC,
    help: REQUESTS_HELP,
    labelNames: ['layer', 'outcome'],
    registers: [registry],
    collect(this: Counter<'layer' | 'outcome'>): void {
      this.reset()
      for (const layer of metrics.collect().layers) {
        for (const outcome of CACHE_OUTCOMES)
          this.inc({ layer: layer.layer, outcome }, layer.outcomes[outcome])
      }
    },
  })
  registry.registerMetric(new LatencyHistogramCollector(metrics) as unknown as Metric)
  new Gauge({
    name: HIT_RATIO_METRIC,
    help: HIT_RATIO_HELP,
    labelNames: ['layer'],
    registers: [registry],
    collect(this: Gauge<'layer'>): void {
      this.reset()
      for (const layer of metrics.collect().layers) {
        const lookups = layer.outcomes.hit + layer.outcomes.miss
        if (lookups > 0) this.set({ layer: layer.layer }, layer.outcomes.hit / lookups)
      }
    },
  })
  new Counter({
    name: INVALID_METRIC,
    help: INVALID_HELP,
    labelNames: ['reason'],
    registers: [registry],
    collect(this: Counter<'reason'>): void {
      this.reset()
      const { invalidByReason } = metrics.collect()
      for (const reason of INVALID_RECORD_REASONS) this.inc({ reason }, invalidByReason[reason])
    },
  })

  let registered = true
  return Object.freeze({
    metrics: Object.freeze(names),
    unregister(): void {
      if (!registered) return
      registered = false
      for (const name of names) registry.removeSingleMetric(name)
    },
  })
}
