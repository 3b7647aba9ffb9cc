import { type BatchObservableResult, type Meter, metrics as otelMetrics, ValueType } from '@opentelemetry/api'
import { CACHE_OUTCOMES, checkMethods, checkObject } from '@tierkit/contracts'
import { INVALID_RECORD_REASONS } from './invalid.js'
import type { CacheMetrics } from './types.js'

/** Instrument names registered by {@link registerOpenTelemetryInstruments}. */
export const OTEL_INSTRUMENTS: {
  readonly requests: 'tierkit.cache.requests'
  readonly latencyCount: 'tierkit.cache.latency.count'
  readonly latencySum: 'tierkit.cache.latency.sum'
  readonly latency: 'tierkit.cache.latency'
  readonly hitRatio: 'tierkit.cache.hit_ratio'
  readonly invalid: 'tierkit.cache.invalid_records'
} = Object.freeze({
  requests: 'tierkit.cache.requests',
  latencyCount: 'tierkit.cache.latency.count',
  latencySum: 'tierkit.cache.latency.sum',
  latency: 'tierkit.cache.latency',
  hitRatio: 'tierkit.cache.hit_ratio',
  invalid: 'tierkit.cache.invalid_records',
} as const)

/** Attribute names used on the instruments (there is no OpenTelemetry semantic convention for caches yet). */
export const OTEL_ATTRIBUTES: {
  readonly layer: 'tierkit.cache.layer'
  readonly outcome: 'tierkit.cache.outcome'
  readonly quantile: 'tierkit.cache.quantile'
  readonly reason: 'tierkit.cache.reason'
} = Object.freeze({
  layer: 'tierkit.cache.layer',
  outcome: 'tierkit.cache.outcome',
  quantile: 'tierkit.cache.quantile',
  reason: 'tierkit.cache.reason',
} as const)

/** Options of {@link registerOpenTelemetryInstruments}. */
export interface OpenTelemetryInstrumentOptions {
  /**
   * The meter to create the instruments on.
   *
   * @default `metrics.getMeter('@tierkit/metrics')` from `@opentelemetry/api` (the global MeterProvider)
   */
  meter?: Meter
}

/** What {@link registerOpenTelemetryInstruments} returns. */
export interface OpenTelemetryRegistration {
  /** Stops observing (idempotent). The instruments stay on the meter but report nothing more. */
  unregister(): void
}

const QUANTILES: readonly [number, 'p50' | 'p95' | 'p99' | 'max'][] = [
  [0.5, 'p50'],
  [0.95, 'p95'],
  [0.99, 'p99'],
  [1, 'max'],
]

/**
 * Creates observable (asynchronous) instruments for `metrics` through `@opentelemetry/api`; one batch callback
 * reads the counters when the SDK collects, so `record` does no extra work.
 *
 * - `tierkit.cache.requests` (ObservableCounter, `{operation}`): attributes `tierkit.cache.layer`,
 *   `tierkit.cache.outcome`
 * - `tierkit.cache.latency.count` (ObservableCounter, `{operation}`) and `tierkit.cache.latency.sum`
 *   (ObservableCounter, `s`): per layer
 * - `tierkit.cache.latency` (ObservableGauge, `s`): percentiles per layer, attribute `tierkit.cache.quantile`
 *   0.5, 0.95, 0.99 and 1 (the maximum); the API has no asynchronous histogram
 * - `tierkit.cache.hit_ratio` (ObservableGauge, `1`): per layer with lookups
 * - `tierkit.cache.invalid_records` (ObservableCounter, `{call}`): attribute `tierkit.cache.reason`
 *
 * @param metrics - the instance from `createCacheMetrics`
 * @param options - the meter
 * @returns an `unregister` function
 * @throws TierkitTypeError when `metrics` does not come from `createCacheMetrics`, or `options.meter` is not
 *   an OpenTelemetry `Meter`
 * @example
 * ```ts
 * import { metrics as otel } from '@opentelemetry/api'
 * import { registerOpenTelemetryInstruments } from '@tierkit/metrics/opentelemetry'
 * registerOpenTelemetryInstruments(metrics, { meter: otel.getMeter('my-service') })
 * ```
 */
export function registerOpenTelemetryInstruments(
  metrics: CacheMetrics<string>,
  options?: OpenTelemetryInstrumentOptions,
): OpenTelemetryRegistration {
  const where = 'registerOpenTelemetryInstruments'
  checkMethods(where, 'metrics', metrics, ['snapshot'], 'the result of createCacheMetrics()')
  checkObject(where, 'options', options, true)
  const meter = options?.meter ?? otelMetrics.getMeter('@tierkit/metrics')
  checkMethods(
    where,
    'options.meter',
    meter,
    ['createObservableCounter', 'createObservableGauge', 'addBatchObservableCallback'],
    'an OpenTelemetry Meter',
  )
  const requests = meter.createObservableCounter(OTEL_INSTRUMENTS.requests, {
    description: 'Cache operations by layer and outcome (hit, miss, stale, error, set, evict).',
    unit: '{operation}',
    valueType: ValueType.INT,
  })
  const latencyCount = meter.createObservableCounter(OTEL_INSTRUMENTS.latencyCount, {
    description: 'Timed cache operations by layer.',
    unit: '{operation}',
    valueType: ValueType.INT,
  })
  const latencySum = meter.createObservableCounter(OTEL_INSTRUMENTS.latencySum, {
    description: 'Total latency of cache operations by layer.',
    unit: 's',
    valueType: ValueType.DOUBLE,
  })
  const latency = meter.createObservableGauge(OTEL_INSTRUMENTS.latency, {
    description: 'Latency percentiles of cache operations by layer (quantile 1 is the maximum).',
    unit: 's',
    valueType: ValueType.DOUBLE,
  })
  const hitRatio = meter.createObservableGauge(OTEL_INSTRUMENTS.hitRatio, {
    description: 'Hits / (hits + misses) per layer since start.',
    unit: '1',
    valueType: ValueType.DOUBLE,
  })
  const invalid = meter.createObservableCounter(OTEL_INSTRUMENTS.invalid, {
    description:
      'Calls to record() not counted, by reason (unknown-layer, unknown-outcome, watched-layer, invalid-duration).',
    unit: '{call}',
    valueType: ValueType.INT,
  })
  const observables = [requests, latencyCount, latencySum, latency, hitRatio, invalid]

  const callback = (result: BatchObservableResult): void => {
    const snapshot = metrics.snapshot()
    for (const l of snapshot.layers) {
      const layer = { [OTEL_ATTRIBUTES.layer]: l.layer }
      const byOutcome = [l.hits, l.misses, l.stale, l.errors, l.sets, l.evictions]
      CACHE_OUTCOMES.forEach((outcome, o) => {
        result.observe(requests, byOutcome[o]!, { ...layer, [OTEL_ATTRIBUTES.outcome]: outcome })
      })
      result.observe(latencyCount, l.latency.count, layer)
      result.observe(latencySum, l.latency.sum / 1000, layer)
      for (const [q, key] of QUANTILES) {
        const ms = l.latency[key]
        if (ms !== null) result.observe(latency, ms / 1000, { ...layer, [OTEL_ATTRIBUTES.quantile]: q })
      }
      if (l.hitRate !== null) result.observe(hitRatio, l.hitRate, layer)
    }
    for (const reason of INVALID_RECORD_REASONS) {
      result.observe(invalid, snapshot.invalidByReason[reason], { [OTEL_ATTRIBUTES.reason]: reason })
    }
  }
  meter.addBatchObservableCallback(callback, observables)

  let registered = true
  return Object.freeze({
    unregister(): void {
      if (!registered) return
      registered = false
      meter.removeBatchObservableCallback(callback, observables)
    },
  })
}
