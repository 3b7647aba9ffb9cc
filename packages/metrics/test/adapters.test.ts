import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics'
import { TierkitTypeError } from '@tierkit/contracts'
import { type OpenMetricsContentType, Registry } from 'prom-client'
import { afterEach, describe, expect, test } from 'vitest'
import {
  CACHE_OUTCOMES,
  CacheMetricsError,
  type CacheStats,
  createCacheMetrics,
  MetricRegisteredError,
} from '../src/index.js'
import { OTEL_ATTRIBUTES, OTEL_INSTRUMENTS, registerOpenTelemetryInstruments } from '../src/opentelemetry.js'
import { registerPrometheusCollectors } from '../src/prometheus.js'
import { parseExposition, promtoolCheck, seeded } from './helpers.js'

const LAYERS = ['cdn', 'l1', 'l2', 'db'] as const

/**
 * A seeded trace of 5,000 record calls (some invalid: an unknown layer, a bad duration, and the records for the
 * watched l1, which are refused) plus a watched L1Cache-shaped source.
 */
function tracedMetrics(seed: number) {
  const metrics = createCacheMetrics({ layers: LAYERS })
  const random = seeded(seed)
  let statsCalls = 0
  const l1 = {
    counters: { hits: 0, misses: 0, sets: 0, evictions: 0, expirations: 0 },
    stats(): CacheStats {
      statsCalls++
      return { ...this.counters }
    },
  }
  metrics.watch('l1', l1)
  const record = metrics.observer.record as (layer: string, outcome: string, ms?: number) => void
  const apply = () => {
    for (let i = 0; i < 5000; i++) {
      const layer = random() < 0.02 ? 'bogus' : LAYERS[Math.floor(random() * LAYERS.length)]!
      const outcome = CACHE_OUTCOMES[Math.floor(random() * CACHE_OUTCOMES.length)]!
      const r = random()
      record(layer, outcome, r < 0.1 ? undefined : r < 0.12 ? -1 : random() * 20)
    }
    l1.counters.hits += 40
    l1.counters.misses += 7
    l1.counters.evictions += 2
  }
  return { metrics, apply, statsCalls: () => statsCalls }
}

function otelSetup() {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 })
  const provider = new MeterProvider({ readers: [reader] })
  const read = async () => {
    exporter.reset()
    await reader.forceFlush()
    const metrics = exporter
      .getMetrics()
      .at(-1)!
      .scopeMetrics.flatMap((s) => s.metrics)
    return (name: string) => metrics.find((m) => m.descriptor.name === name)?.dataPoints ?? []
  }
  return { provider, meter: provider.getMeter('test'), read }
}

const providers: MeterProvider[] = []
afterEach(async () => {
  await Promise.all(providers.splice(0).map((p) => p.shutdown()))
})

describe('prom-client and OpenTelemetry adapters', () => {
  test('report identical counts to each other and to snapshot() for the same recorded trace', async () => {
    const { metrics, apply } = tracedMetrics(99)
    const registry = new Registry()
    registerPrometheusCollectors(metrics, { registry })
    const otel = otelSetup()
    providers.push(otel.provider)
    registerOpenTelemetryInstruments(metrics, { meter: otel.meter })

    for (let round = 0; round < 2; round++) {
      apply()
      const snap = metrics.snapshot()
      const fromSnapshot = new Map<string, number>()
      for (const l of snap.layers) {
        const byOutcome = [l.hits, l.misses, l.stale, l.errors, l.sets, l.evictions]
        CACHE_OUTCOMES.forEach((o, i) => {
          fromSnapshot.set(`${l.layer}/${o}`, byOutcome[i]!)
        })
        fromSnapshot.set(`${l.layer}/latency`, l.latency.count)
      }
      for (const [reason, n] of Object.entries(snap.invalidByReason)) fromSnapshot.set(`invalid/${reason}`, n)
      expect(snap.invalidByReason['unknown-layer']).toBeGreaterThan(0)
      expect(snap.invalidByReason['watched-layer']).toBeGreaterThan(0)
      expect(snap.invalidByReason['invalid-duration']).toBeGreaterThan(0)
      expect(snap.byLayer.l1!.evictions).toBeGreaterThan(0)

      const fromProm = new Map<string, number>()
      for (const m of await registry.getMetricsAsJSON()) {
        for (const v of m.values as {
          labels: Record<string, string>
          value: number
          metricName?: string
        }[]) {
          if (m.name === 'tierkit_cache_requests_total')
            fromProm.set(`${v.labels.layer}/${v.labels.outcome}`, v.value)
          if (v.metricName === 'tierkit_cache_latency_seconds_count')
            fromProm.set(`${v.labels.layer}/latency`, v.value)
          if (m.name === 'tierkit_cache_invalid_records_total')
            fromProm.set(`invalid/${v.labels.reason}`, v.value)
        }
      }

      const points = await otel.read()
      const fromOtel = new Map<string, number>()
      for (const p of points(OTEL_INSTRUMENTS.requests)) {
        fromOtel.set(
          `${p.attributes[OTEL_ATTRIBUTES.layer]}/${p.attributes[OTEL_ATTRIBUTES.outcome]}`,
          p.value as number,
        )
      }
      for (const p of points(OTEL_INSTRUMENTS.latencyCount)) {
        fromOtel.set(`${p.attributes[OTEL_ATTRIBUTES.layer]}/latency`, p.value as number)
      }
      for (const p of points(OTEL_INSTRUMENTS.invalid)) {
        fromOtel.set(`invalid/${p.attributes[OTEL_ATTRIBUTES.reason]}`, p.value as number)
      }

      expect(fromSnapshot.size).toBe(LAYERS.length * 7 + 4)
      expect(fromProm).toEqual(fromSnapshot)
      expect(fromOtel).toEqual(fromSnapshot)

      // hit ratios and latency sums agree too
      for (const l of snap.layers) {
        const ratio = points(OTEL_INSTRUMENTS.hitRatio).find(
          (p) => p.attributes[OTEL_ATTRIBUTES.layer] === l.layer,
        )
        expect(ratio?.value).toBe(l.hitRate)
        const sum = points(OTEL_INSTRUMENTS.latencySum).find(
          (p) => p.attributes[OTEL_ATTRIBUTES.layer] === l.layer,
        )
        expect(sum?.value).toBeCloseTo(l.latency.sum / 1000, 9)
        const p99 = points(OTEL_INSTRUMENTS.latency).find(
          (p) =>
            p.attributes[OTEL_ATTRIBUTES.layer] === l.layer &&
            p.attributes[OTEL_ATTRIBUTES.quantile] === 0.99,
        )
        // the watched l1 has no timings (its records are refused; stats() has none): no p99 point
        expect(p99?.value).toBe(l.latency.p99 === null ? undefined : l.latency.p99 / 1000)
      }
      expect(snap.layers.map((l) => l.latency.p99 === null)).toEqual([false, true, false, false])
    }
  })

  test('the prom-client registry renders exactly our Prometheus samples, and promtool accepts it', async () => {
    const { metrics, apply } = tracedMetrics(5)
    apply()
    const registry = new Registry()
    registerPrometheusCollectors(metrics, { registry })
    const text = await registry.metrics()
    expect(promtoolCheck(text)).toEqual({ status: 0, output: '' })
    const samples = (t: string) =>
      t
        .split('\n')
        .filter((line) => line !== '' && !line.startsWith('#'))
        .sort()
    expect(samples(text)).toEqual(samples(metrics.toPrometheus()))
    // prom-client separates families with a blank line; otherwise the HELP and TYPE lines are the same
    expect(parseExposition(text.replace(/\n\n/g, '\n')).comments).toEqual(
      parseExposition(metrics.toPrometheus()).comments,
    )
  })

  test('an OpenMetrics prom-client registry gets _total samples, family names without it, and # EOF', async () => {
    const { metrics, apply } = tracedMetrics(6)
    apply()
    const registry = new Registry<OpenMetricsContentType>()
    registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE)
    registerPrometheusCollectors(metrics, { registry })
    const text = await registry.metrics()
    expect(text.endsWith('# EOF\n')).toBe(true)
    expect(text).toContain('# TYPE tierkit_cache_requests counter\n')
    expect(text).toContain('tierkit_cache_requests_total{layer="l1",outcome="hit"} ')
    const ours = parseExposition(metrics.toOpenMetrics()).samples
    const theirs = parseExposition(text.replace(/# EOF\n$/, '')).samples
    const norm = (s: { name: string; labels: Record<string, string>; value: number }) =>
      `${s.name}${JSON.stringify({ ...s.labels, le: s.labels.le === undefined ? undefined : Number(s.labels.le.replace('+Inf', 'Infinity')) })} ${s.value}`
    expect(theirs.map(norm).sort()).toEqual(ours.map(norm).sort())
  })

  test('adapters add no work to record: the observer is unchanged and sources are read only at collection', async () => {
    const { metrics, apply, statsCalls } = tracedMetrics(7)
    const record = metrics.observer.record
    const registry = new Registry()
    const prom = registerPrometheusCollectors(metrics, { registry })
    const otel = otelSetup()
    providers.push(otel.provider)
    const reg = registerOpenTelemetryInstruments(metrics, { meter: otel.meter })
    expect(metrics.observer.record).toBe(record)
    const before = statsCalls()
    apply()
    expect(statsCalls()).toBe(before) // recording never touches the collectors or the sources
    await registry.metrics()
    expect(statsCalls()).toBeGreaterThan(before)
    const afterScrape = statsCalls()
    await otel.read()
    expect(statsCalls()).toBeGreaterThan(afterScrape)

    prom.unregister()
    prom.unregister()
    expect(await registry.getMetricsAsJSON()).toEqual([])
    reg.unregister()
    reg.unregister()
    // no more callbacks: the SDK keeps the last cumulative points, but nothing reads the source or new counts
    const unknownLayer = (
      read: (name: string) => { attributes: Record<string, unknown>; value: unknown }[],
    ) =>
      read(OTEL_INSTRUMENTS.invalid).find((p) => p.attributes[OTEL_ATTRIBUTES.reason] === 'unknown-layer')!
        .value as number
    const last = unknownLayer(await otel.read())
    const beforeRead = statsCalls()
    apply()
    const points = await otel.read()
    expect(statsCalls()).toBe(beforeRead)
    expect(unknownLayer(points)).toBe(last)
    expect(metrics.snapshot().invalidByReason['unknown-layer']).toBeGreaterThan(last)
  })

  test('registering twice is a MetricRegisteredError and leaves the registry as it was', async () => {
    const { metrics } = tracedMetrics(8)
    const registry = new Registry()
    const first = registerPrometheusCollectors(metrics, { registry })
    const before = await registry.metrics()
    let error: unknown
    try {
      registerPrometheusCollectors(metrics, { registry })
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(MetricRegisteredError)
    expect(error).toBeInstanceOf(CacheMetricsError)
    expect(error).toMatchObject({
      name: 'MetricRegisteredError',
      code: 'E_METRIC_REGISTERED',
      metric: 'tierkit_cache_requests_total',
      message:
        'registerPrometheusCollectors: the registry already has a metric named tierkit_cache_requests_total',
    })
    expect(await registry.metrics()).toBe(before)
    expect(first.metrics).toEqual([
      'tierkit_cache_requests_total',
      'tierkit_cache_latency_seconds',
      'tierkit_cache_hit_ratio',
      'tierkit_cache_invalid_records_total',
    ])
  })

  test('bad arguments are TierkitTypeErrors with exact messages', () => {
    const metrics = createCacheMetrics({ layers: ['a'] })
    expect(() => registerPrometheusCollectors({} as never)).toThrow(
      new TierkitTypeError(
        'registerPrometheusCollectors: metrics must be the result of createCacheMetrics(), got an object',
      ),
    )
    expect(() => registerPrometheusCollectors(metrics, { registry: {} as never })).toThrow(
      new TierkitTypeError(
        'registerPrometheusCollectors: options.registry must be a prom-client Registry, got an object',
      ),
    )
    expect(() => registerPrometheusCollectors(metrics, null as never)).toThrow(
      new TierkitTypeError('registerPrometheusCollectors: options must be an object, got null'),
    )
    expect(() => registerOpenTelemetryInstruments(null as never)).toThrow(
      new TierkitTypeError(
        'registerOpenTelemetryInstruments: metrics must be the result of createCacheMetrics(), got null',
      ),
    )
    expect(() => registerOpenTelemetryInstruments(metrics, { meter: {} as never })).toThrow(
      new TierkitTypeError(
        'registerOpenTelemetryInstruments: options.meter must be an OpenTelemetry Meter, got an object',
      ),
    )
    expect(() => registerOpenTelemetryInstruments(metrics, 1 as never)).toThrow(
      new TierkitTypeError('registerOpenTelemetryInstruments: options must be an object, got 1'),
    )
  })
})

test('the main entry never imports prom-client or OpenTelemetry', () => {
  const src = resolve(dirname(fileURLToPath(import.meta.url)), '../src')
  const seen = new Set<string>()
  const external: string[] = []
  const visit = (file: string) => {
    if (seen.has(file)) return
    seen.add(file)
    const code = readFileSync(file, 'utf8')
    for (const m of code.matchAll(/^(?:import|export)\s(?!type\b)[^'"]*?from\s+'([^']+)'/gm)) {
      const spec = m[1]!
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec.replace(/\.js$/, '.ts')))
      else external.push(spec)
    }
    for (const m of code.matchAll(/import\(\s*'([^']+)'/g)) external.push(m[1]!)
  }
  visit(resolve(src, 'index.ts'))
  expect(seen.size).toBeGreaterThanOrEqual(4)
  // only @tierkit/contracts, a dependency (the family's vocabulary, errors and checks)
  expect([...new Set(external)]).toEqual(['@tierkit/contracts'])
  // the subpaths do import their client (the scan can see an import)
  seen.clear()
  visit(resolve(src, 'prometheus.ts'))
  expect(external).toContain('prom-client')
})
