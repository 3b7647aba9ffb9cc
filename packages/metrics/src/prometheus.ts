import {
  Counter,
  Gauge,
  register as globalRegistry,
  type Metric,
  type Registry,
  type RegistryContentType,
} from 'prom-client'
import { CacheMetricsError } from './errors.js'
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
import { CACHE_OUTCOMES, type CacheMetrics } from './metrics.js'

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
  readonly #metrics: CacheMetrics

  constructor(metrics: CacheMetrics) {
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
          labels: { layer: layer.layer, le: formatBound(bucket.le, false) },
          value: bucket.count,
          metricName: `${LATENCY_METRIC}_bucket`,
        })
      }
      values.push(
        {
          labels: { layer: layer.layer },
          value: layer.latencySumSeconds,
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
 * `tierkit_cache_hit_ratio{layer}` and `tierkit_cache_invalid_records_total`, with the same values as
 * `metrics.toPrometheus()`; both text formats of the registry work.
 *
 * @param metrics - the instance from `createCacheMetrics`
 * @param options - the registry
 * @returns the registered names and an `unregister` function
 * @throws TypeError `registerPrometheusCollectors(): metrics must come from createCacheMetrics()` or
 *   `registerPrometheusCollectors(): options.registry must be a prom-client Registry`
 * @throws CacheMetricsError `E_METRIC_REGISTERED` when the registry already has one of the names (nothing is
 *   left registered)
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
  metrics: CacheMetrics,
  options: PrometheusCollectorOptions = {},
): PrometheusRegistration {
  if (typeof metrics !== 'object' || metrics === null || typeof metrics.collect !== 'function') {
    throw new TypeError('registerPrometheusCollectors(): metrics must come from createCacheMetrics()')
  }
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('registerPrometheusCollectors(): options must be an object')
  }
  const registry = options.registry ?? globalRegistry
  if (
    typeof registry !== 'object' ||
    registry === null ||
    typeof registry.registerMetric !== 'function' ||
    typeof registry.getSingleMetric !== 'function' ||
    typeof registry.removeSingleMetric !== 'function'
  ) {
    throw new TypeError('registerPrometheusCollectors(): options.registry must be a prom-client Registry')
  }
  const names = [REQUESTS_METRIC, LATENCY_METRIC, HIT_RATIO_METRIC, INVALID_METRIC]
  for (const name of names) {
    if (registry.getSingleMetric(name) !== undefined) {
      throw new CacheMetricsError('E_METRIC_REGISTERED', `the registry already has a metric named ${name}`, {
        metric: name,
      })
    }
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
    registers: [registry],
    collect(this: Counter): void {
      this.reset()
      this.inc(metrics.collect().invalid)
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
