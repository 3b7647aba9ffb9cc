// Types tell the truth: every public signature, checked by `pnpm typecheck` (tsc over test/), next to the
// runtime call proving the runtime returns what the type says.
import { type Meter, metrics as otelMetrics } from '@opentelemetry/api'
import type {
  CacheObserver as ContractsObserver,
  CacheStats as ContractsStats,
  TierkitTypeError,
} from '@tierkit/contracts'
import { Registry } from 'prom-client'
import { describe, expect, expectTypeOf, test } from 'vitest'
import {
  CACHE_LAYERS,
  CACHE_OUTCOMES,
  type CacheLayer,
  type CacheMetrics,
  type CacheMetricsError,
  type CacheMetricsEvent,
  type CacheMetricsObserver,
  type CacheMetricsOptions,
  type CacheMetricsSample,
  type CacheMetricsSnapshot,
  type CacheObserver,
  type CacheOutcome,
  type CacheStats,
  createCacheMetrics,
  DEFAULT_LATENCY_BUCKETS,
  errors,
  HIT_RATIO_METRIC,
  INVALID_METRIC,
  type InvalidRecordReason,
  LATENCY_METRIC,
  type LatencyBucket,
  type LatencySummary,
  type LayerConflictError,
  type LayerSample,
  type LayerSnapshot,
  type MetricRegisteredError,
  type MetricsErrorCode,
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_CONTENT_TYPE,
  REQUESTS_METRIC,
  type StatsSource,
} from '../src/index.js'
import {
  type OpenTelemetryRegistration,
  OTEL_ATTRIBUTES,
  OTEL_INSTRUMENTS,
  registerOpenTelemetryInstruments,
} from '../src/opentelemetry.js'
import { type PrometheusRegistration, registerPrometheusCollectors } from '../src/prometheus.js'

describe('createCacheMetrics', () => {
  test('the default layers are the family layers, and the observer is a contracts CacheObserver', () => {
    const metrics = createCacheMetrics()
    expectTypeOf(metrics).toEqualTypeOf<CacheMetrics<CacheLayer>>()
    expectTypeOf(metrics).toEqualTypeOf<CacheMetrics>()
    expectTypeOf(metrics.layers).toEqualTypeOf<readonly CacheLayer[]>()
    expect(metrics.layers).toEqual(['cdn', 'l1', 'l2', 'db'])
    expect(metrics.layers).toEqual(CACHE_LAYERS)

    // `observer: metrics.observer` where the family takes a CacheObserver: no cast
    expectTypeOf(metrics.observer).toEqualTypeOf<CacheMetricsObserver>()
    expectTypeOf(metrics.observer).toExtend<ContractsObserver>()
    expectTypeOf<ContractsObserver>().toExtend<CacheMetricsObserver>()
    expectTypeOf<CacheObserver>().toEqualTypeOf<ContractsObserver>()
    const asFamily: ContractsObserver = metrics.observer
    expectTypeOf(metrics.observer.record).parameters.toEqualTypeOf<
      [layer: CacheLayer, outcome: CacheOutcome, duration?: number]
    >()
    expectTypeOf(metrics.observer.record).returns.toEqualTypeOf<void>()
    expect(asFamily.record('db', 'hit', 15)).toBeUndefined()
    expect(metrics.snapshot().byLayer.db.hits).toBe(1)
    // @ts-expect-error 'loader' is not a layer of the family
    metrics.observer.record('loader', 'hit')
    // @ts-expect-error nor is 'hits' an outcome
    metrics.observer.record('l1', 'hits')
    expect(metrics.snapshot().invalid).toBe(2)
  })

  test('custom layers are inferred; baseline and onEvent do not widen them', () => {
    const metrics = createCacheMetrics({ layers: ['l1', 'l2', 'db'], baseline: 'l2' })
    expectTypeOf(metrics).toEqualTypeOf<CacheMetrics<'l1' | 'l2' | 'db'>>()
    expectTypeOf(metrics.observer.record).parameter(0).toEqualTypeOf<'l1' | 'l2' | 'db'>()
    // a subset of the family layers is still a CacheObserver (records for 'cdn' would be invalid)
    const asFamily: ContractsObserver = metrics.observer
    asFamily.record('cdn', 'hit')
    expect(metrics.snapshot().invalidByReason['unknown-layer']).toBe(1)
    expect(metrics.snapshot().baseline).toBe('l2')
    // @ts-expect-error the baseline must be one of the layers
    expect(() => createCacheMetrics({ layers: ['l1'], baseline: 'db' })).toThrow(TypeError)
    // @ts-expect-error nor is baseline an inference site: without layers it is checked against CacheLayer
    expect(() => createCacheMetrics({ baseline: 'origin' })).toThrow(TypeError)

    const http = createCacheMetrics({ layers: ['http'] })
    expectTypeOf(http).toEqualTypeOf<CacheMetrics<'http'>>()
    expectTypeOf(http.observer).not.toExtend<ContractsObserver>()

    const wide = createCacheMetrics({ layers: ['a', 'b'] as string[] })
    expectTypeOf(wide).toEqualTypeOf<CacheMetrics<string>>()
  })

  test('options', () => {
    expectTypeOf<CacheMetricsOptions['layers']>().toEqualTypeOf<readonly CacheLayer[] | undefined>()
    expectTypeOf<CacheMetricsOptions['buckets']>().toEqualTypeOf<readonly number[] | undefined>()
    expectTypeOf(DEFAULT_LATENCY_BUCKETS).toEqualTypeOf<readonly number[]>()
    expect(DEFAULT_LATENCY_BUCKETS[0]).toBe(0.05) // ms
    const seen: CacheMetricsEvent<'a'>[] = []
    const metrics = createCacheMetrics({
      layers: ['a'],
      buckets: [1, 10],
      onEvent: (event) => {
        expectTypeOf(event).toEqualTypeOf<CacheMetricsEvent<'a'>>()
        seen.push(event)
      },
    })
    expectTypeOf(metrics).toEqualTypeOf<CacheMetrics<'a'>>()
    ;(metrics.observer.record as (layer: string, outcome: string) => void)('b', 'hit')
    expect(seen).toHaveLength(1)
    expect(seen[0]!.type).toBe('invalid-record')
  })
})

describe('events', () => {
  test('CacheMetricsEvent is a union discriminated by reason; the layer is known where the reason says so', () => {
    type E = CacheMetricsEvent<'l1'>
    expectTypeOf<E['type']>().toEqualTypeOf<'invalid-record'>()
    expectTypeOf<E['reason']>().toEqualTypeOf<InvalidRecordReason>()
    expectTypeOf<Extract<E, { reason: 'unknown-layer' }>['layer']>().toEqualTypeOf<unknown>()
    expectTypeOf<Extract<E, { reason: 'unknown-outcome' }>['layer']>().toEqualTypeOf<'l1'>()
    expectTypeOf<Extract<E, { reason: 'watched-layer' }>['outcome']>().toEqualTypeOf<CacheOutcome>()
    expectTypeOf<Extract<E, { reason: 'invalid-duration' }>['layer']>().toEqualTypeOf<'l1'>()
    expectTypeOf<Extract<E, { reason: 'unknown-outcome' }>['outcome']>().toEqualTypeOf<unknown>()
    expectTypeOf<InvalidRecordReason>().toEqualTypeOf<
      'unknown-layer' | 'unknown-outcome' | 'watched-layer' | 'invalid-duration'
    >()
    const events: E[] = []
    const metrics = createCacheMetrics({ layers: ['l1'], onEvent: (e) => events.push(e) })
    metrics.watch('l1', { stats: () => ({ hits: 1, misses: 0 }) })
    metrics.observer.record('l1', 'hit', 0.5)
    const event = events[0]!
    expect(event.reason).toBe('watched-layer')
    if (event.reason === 'watched-layer') {
      expectTypeOf(event.layer).toEqualTypeOf<'l1'>()
      expect(event.layer).toBe('l1')
      expect(event.outcome).toBe('hit')
    }
    expect(event.duration).toBe(0.5)
  })
})

describe('CacheMetrics methods', () => {
  const metrics = createCacheMetrics({ layers: ['l1', 'l2', 'db'] })
  type L = 'l1' | 'l2' | 'db'

  test('watch(layer, source): () => void', () => {
    expectTypeOf(metrics.watch).parameters.toEqualTypeOf<[layer: L, source: StatsSource]>()
    expectTypeOf(metrics.watch).returns.toEqualTypeOf<() => void>()
    expectTypeOf<StatsSource['stats']>().returns.toEqualTypeOf<CacheStats>()
    // one definition: what watch() reads is contracts' CacheStats, re-exported
    expectTypeOf<CacheStats>().toEqualTypeOf<ContractsStats>()
    // an object of L1Cache's shape (more fields) is a StatsSource
    const l1 = { stats: () => ({ hits: 9, misses: 1, sets: 1, evictions: 0, expirations: 2, size: 5 }) }
    const unwatch = metrics.watch('l1', l1)
    expect(unwatch()).toBeUndefined()
    expect(metrics.snapshot().byLayer.l1.hits).toBe(9)
  })

  test('snapshot(): every layer present, null rates and latencies where nothing was measured', () => {
    expectTypeOf(metrics.snapshot).returns.toEqualTypeOf<CacheMetricsSnapshot<L>>()
    const snap = metrics.snapshot()
    expectTypeOf(snap.byLayer).toEqualTypeOf<Readonly<Record<L, LayerSnapshot<L>>>>()
    expectTypeOf(snap.byLayer.l2).toEqualTypeOf<LayerSnapshot<L>>() // no `| undefined`: every layer is there
    expect(snap.byLayer.l2).toBeDefined()
    expectTypeOf(snap.baseline).toEqualTypeOf<L>()
    expect(snap.baseline).toBe('db')
    expectTypeOf(snap.byLayer.l2.hitRate).toEqualTypeOf<number | null>()
    expect(snap.byLayer.l2.hitRate).toBeNull()
    expectTypeOf(snap.byLayer.l2.missRate).toEqualTypeOf<number | null>()
    expect(snap.byLayer.l2.missRate).toBeNull()
    expectTypeOf(snap.byLayer.l2.latencyReduction).toEqualTypeOf<number | null>()
    expect(snap.byLayer.l2.latencyReduction).toBeNull()
    expectTypeOf(snap.byLayer.l2.latency).toEqualTypeOf<LatencySummary>()
    expectTypeOf(snap.byLayer.l2.latency.p99).toEqualTypeOf<number | null>()
    expect(snap.byLayer.l2.latency.p99).toBeNull()
    expectTypeOf(snap.byLayer.l2.latency.count).toEqualTypeOf<number>()
    expect(snap.byLayer.l2.latency.count).toBe(0)
    expectTypeOf(snap.invalidByReason).toEqualTypeOf<Readonly<Record<InvalidRecordReason, number>>>()
    expect(Object.keys(snap.invalidByReason).sort()).toEqual([
      'invalid-duration',
      'unknown-layer',
      'unknown-outcome',
      'watched-layer',
    ])
    expectTypeOf(snap.layers).toEqualTypeOf<readonly LayerSnapshot<L>[]>()
    expectTypeOf(snap.layers[0]!.layer).toEqualTypeOf<L>()
    expect(snap.layers.map((l) => l.layer)).toEqual(['l1', 'l2', 'db'])
    metrics.observer.record('l2', 'hit', 1.5)
    const after = metrics.snapshot().byLayer.l2
    expect(after.hitRate).toBe(1)
    expect(after.latency.p99).toBeCloseTo(1.5, 1)
  })

  test('latencyQuantile(layer, q): number | null', () => {
    expectTypeOf(metrics.latencyQuantile).parameters.toEqualTypeOf<[layer: L, q: number]>()
    expectTypeOf(metrics.latencyQuantile).returns.toEqualTypeOf<number | null>()
    expect(metrics.latencyQuantile('db', 0.5)).toBeNull()
    expect(metrics.latencyQuantile('l2', 1)).toBe(1.5)
  })

  test('collect(): raw counters in ms', () => {
    expectTypeOf(metrics.collect).returns.toEqualTypeOf<CacheMetricsSample<L>>()
    const sample = metrics.collect()
    expectTypeOf(sample.layers).toEqualTypeOf<readonly LayerSample<L>[]>()
    expectTypeOf(sample.layers[0]!.latencyBuckets).toEqualTypeOf<readonly LatencyBucket[]>()
    expectTypeOf(sample.layers[0]!.outcomes).toEqualTypeOf<Readonly<Record<CacheOutcome, number>>>()
    const l2 = sample.layers[1]!
    expect(l2.latencySum).toBe(1.5) // ms
    expect(l2.latencyBuckets.at(-1)).toEqual({ le: Number.POSITIVE_INFINITY, count: 1 })
    expect(Object.keys(l2.outcomes)).toEqual([...CACHE_OUTCOMES])
  })

  test('formatTable, toPrometheus, toOpenMetrics: strings', () => {
    expectTypeOf(metrics.formatTable).parameters.toEqualTypeOf<
      [options?: { labels?: Readonly<Record<string, string>> }]
    >()
    expectTypeOf(metrics.formatTable).returns.toEqualTypeOf<string>()
    expectTypeOf(metrics.toPrometheus).returns.toEqualTypeOf<string>()
    expectTypeOf(metrics.toOpenMetrics).returns.toEqualTypeOf<string>()
    expect(metrics.formatTable({ labels: { l2: 'L2 (Redis)' } })).toContain('| L2 (Redis) |')
    expect(metrics.toPrometheus()).toContain(`${REQUESTS_METRIC}{layer="l2",outcome="hit"} 1\n`)
    expect(metrics.toOpenMetrics().endsWith('# EOF\n')).toBe(true)
  })
})

describe('constants and errors', () => {
  test('names and content types are literal strings', () => {
    expectTypeOf<typeof REQUESTS_METRIC>().toEqualTypeOf<'tierkit_cache_requests_total'>()
    expectTypeOf<typeof LATENCY_METRIC>().toEqualTypeOf<'tierkit_cache_latency_seconds'>()
    expectTypeOf<typeof HIT_RATIO_METRIC>().toEqualTypeOf<'tierkit_cache_hit_ratio'>()
    expectTypeOf<typeof INVALID_METRIC>().toEqualTypeOf<'tierkit_cache_invalid_records_total'>()
    expectTypeOf<typeof PROMETHEUS_CONTENT_TYPE>().toEqualTypeOf<'text/plain; version=0.0.4; charset=utf-8'>()
    expectTypeOf<
      typeof OPENMETRICS_CONTENT_TYPE
    >().toEqualTypeOf<'application/openmetrics-text; version=1.0.0; charset=utf-8'>()
    expect([REQUESTS_METRIC, LATENCY_METRIC, HIT_RATIO_METRIC, INVALID_METRIC]).toEqual([
      'tierkit_cache_requests_total',
      'tierkit_cache_latency_seconds',
      'tierkit_cache_hit_ratio',
      'tierkit_cache_invalid_records_total',
    ])
    expect(PROMETHEUS_CONTENT_TYPE).toBe('text/plain; version=0.0.4; charset=utf-8')
    expect(OPENMETRICS_CONTENT_TYPE).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8')
    expectTypeOf(CACHE_LAYERS).toEqualTypeOf<readonly CacheLayer[]>()
    expectTypeOf(CACHE_OUTCOMES).toEqualTypeOf<readonly CacheOutcome[]>()
  })

  test('the errors map: code → class, keys are MetricsErrorCode', () => {
    expectTypeOf<keyof typeof errors>().toEqualTypeOf<MetricsErrorCode>()
    expectTypeOf(errors.E_INVALID_ARGUMENT).toEqualTypeOf<typeof TierkitTypeError>()
    expectTypeOf(errors.E_LAYER_CONFLICT).toEqualTypeOf<typeof LayerConflictError>()
    expectTypeOf(errors.E_METRIC_REGISTERED).toEqualTypeOf<typeof MetricRegisteredError>()
    expect(Object.keys(errors).sort()).toEqual([
      'E_INVALID_ARGUMENT',
      'E_LAYER_CONFLICT',
      'E_METRIC_REGISTERED',
    ])
    expectTypeOf<LayerConflictError['code']>().toEqualTypeOf<'E_LAYER_CONFLICT'>()
    expectTypeOf<LayerConflictError['layer']>().toEqualTypeOf<string>()
    expectTypeOf<LayerConflictError['records']>().toEqualTypeOf<number>()
    expectTypeOf<MetricRegisteredError['code']>().toEqualTypeOf<'E_METRIC_REGISTERED'>()
    expectTypeOf<MetricRegisteredError['metric']>().toEqualTypeOf<string>()
    expectTypeOf<CacheMetricsError['code']>().toEqualTypeOf<'E_LAYER_CONFLICT' | 'E_METRIC_REGISTERED'>()
    const metrics = createCacheMetrics()
    metrics.observer.record('l1', 'hit')
    let error: unknown
    try {
      metrics.watch('l1', { stats: () => ({ hits: 0, misses: 0 }) })
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(errors.E_LAYER_CONFLICT)
    expect((error as LayerConflictError).code).toBe('E_LAYER_CONFLICT')
    expect(() => metrics.watch('l9' as 'l1', { stats: () => ({ hits: 0, misses: 0 }) })).toThrow(
      errors.E_INVALID_ARGUMENT,
    )
  })
})

describe('adapters', () => {
  test('registerPrometheusCollectors(metrics, { registry? }): PrometheusRegistration, any layers', async () => {
    expectTypeOf(registerPrometheusCollectors).returns.toEqualTypeOf<PrometheusRegistration>()
    expectTypeOf<PrometheusRegistration['metrics']>().toEqualTypeOf<readonly string[]>()
    const registry = new Registry()
    const http = createCacheMetrics({ layers: ['http'] })
    const registration = registerPrometheusCollectors(http, { registry })
    http.observer.record('http', 'hit', 2)
    expect(await registry.metrics()).toContain('tierkit_cache_requests_total{layer="http",outcome="hit"} 1')
    expect(registration.unregister()).toBeUndefined()
  })

  test('registerOpenTelemetryInstruments(metrics, { meter? }): OpenTelemetryRegistration', () => {
    expectTypeOf(registerOpenTelemetryInstruments).returns.toEqualTypeOf<OpenTelemetryRegistration>()
    expectTypeOf(registerOpenTelemetryInstruments).parameter(1).toEqualTypeOf<{ meter?: Meter } | undefined>()
    expectTypeOf(OTEL_INSTRUMENTS.requests).toEqualTypeOf<'tierkit.cache.requests'>()
    expectTypeOf(OTEL_ATTRIBUTES.reason).toEqualTypeOf<'tierkit.cache.reason'>()
    const registration = registerOpenTelemetryInstruments(createCacheMetrics(), {
      meter: otelMetrics.getMeter('types-test'),
    })
    expect(registration.unregister()).toBeUndefined()
    expect(OTEL_ATTRIBUTES.reason).toBe('tierkit.cache.reason')
  })
})
