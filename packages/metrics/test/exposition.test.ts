import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { escapeLabelValue, formatBound } from '../src/format.js'
import { createCacheMetrics } from '../src/index.js'
import { parseExposition, promtoolCheck, type Sample } from './helpers.js'

function busyMetrics(layers: readonly string[]) {
  const metrics = createCacheMetrics({ layers })
  const { record } = metrics.observer
  layers.forEach((layer, i) => {
    for (let j = 0; j < 20; j++) record(layer, j % 3 === 0 ? 'miss' : 'hit', 0.01 * (i + 1) * (j + 1))
    record(layer, 'set', 2)
    record(layer, 'evict')
  })
  record('no such layer' as never, 'hit')
  return metrics
}

/** The most layers createCacheMetrics accepts. */
const MAX_LAYERS = 64

const le = (s: Sample): number => (s.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(s.labels.le))

/** Histogram invariants on parsed samples: cumulative buckets, +Inf == _count, one series per layer. */
function checkHistogram(samples: Sample[], layers: readonly string[]): void {
  for (const layer of layers) {
    const buckets = samples.filter(
      (s) => s.name === 'tierkit_cache_latency_seconds_bucket' && s.labels.layer === layer,
    )
    const count = samples.find(
      (s) => s.name === 'tierkit_cache_latency_seconds_count' && s.labels.layer === layer,
    )
    expect(buckets.length).toBeGreaterThan(1)
    for (let i = 1; i < buckets.length; i++) {
      expect(le(buckets[i]!)).toBeGreaterThan(le(buckets[i - 1]!))
      expect(buckets[i]!.value).toBeGreaterThanOrEqual(buckets[i - 1]!.value)
    }
    expect(buckets.at(-1)!.labels.le).toBe('+Inf')
    expect(buckets.at(-1)!.value).toBe(count!.value)
  }
}

describe('Prometheus text', () => {
  test('passes the real promtool check metrics with exit 0 and no lint finding', () => {
    const text = busyMetrics(['cdn', 'l1', 'l2', 'db']).toPrometheus()
    const result = promtoolCheck(text)
    expect(result.output).toBe('')
    expect(result.status).toBe(0)
    // The check can fail: an unescaped quote in a label value is a parse error.
    const broken = text.replace('layer="l1"', 'layer="l"1"')
    expect(promtoolCheck(broken).status).not.toBe(0)
  })

  test('names, types and label sets follow Prometheus naming', () => {
    const text = busyMetrics(['l1', 'db']).toPrometheus()
    const { comments, samples } = parseExposition(text)
    expect(comments.filter((c) => c.startsWith('# TYPE'))).toEqual([
      '# TYPE tierkit_cache_requests_total counter',
      '# TYPE tierkit_cache_latency_seconds histogram',
      '# TYPE tierkit_cache_hit_ratio gauge',
      '# TYPE tierkit_cache_invalid_records_total counter',
    ])
    const requests = samples.filter((s) => s.name === 'tierkit_cache_requests_total')
    expect(requests).toHaveLength(12)
    expect(Object.keys(requests[0]!.labels)).toEqual(['layer', 'outcome'])
    expect(requests.find((s) => s.labels.layer === 'l1' && s.labels.outcome === 'miss')!.value).toBe(7)
    expect(
      samples.find((s) => s.name === 'tierkit_cache_hit_ratio' && s.labels.layer === 'l1')!.value,
    ).toBeCloseTo(13 / 20, 12)
    const invalid = samples.filter((s) => s.name === 'tierkit_cache_invalid_records_total')
    expect(invalid.map((s) => [s.labels, s.value])).toEqual([
      [{ reason: 'unknown-layer' }, 1],
      [{ reason: 'unknown-outcome' }, 0],
      [{ reason: 'watched-layer' }, 0],
      [{ reason: 'invalid-duration' }, 0],
    ])
    checkHistogram(samples, ['l1', 'db'])
    const sum = samples.find(
      (s) => s.name === 'tierkit_cache_latency_seconds_sum' && s.labels.layer === 'l1',
    )!
    expect(sum.value).toBeCloseTo((0.01 * 210 + 2) / 1000, 12)
  })

  test('fuzzed label values: promtool accepts them and they read back exactly', () => {
    const special = fc.constantFrom(
      '"',
      '\\',
      '\n',
      '{',
      '}',
      ',',
      '=',
      '#',
      ' ',
      '\t',
      '\r',
      '\0',
      'é',
      '😀',
      '\\n',
    )
    const layerName = fc
      .array(fc.oneof(special, fc.string({ unit: 'grapheme', minLength: 1, maxLength: 3 })), {
        minLength: 1,
        maxLength: 8,
      })
      .map((parts) => parts.join(''))
    fc.assert(
      fc.property(fc.uniqueArray(layerName, { minLength: 1, maxLength: MAX_LAYERS }), (layers) => {
        const metrics = busyMetrics(layers)
        const text = metrics.toPrometheus()
        const result = promtoolCheck(text)
        expect(result.status, result.output).toBe(0)
        const { samples } = parseExposition(text)
        const seen = new Set(samples.filter((s) => 'layer' in s.labels).map((s) => s.labels.layer))
        expect([...seen].sort()).toEqual([...layers].sort())
        checkHistogram(samples, layers)
        const om = parseExposition(metrics.toOpenMetrics())
        expect(new Set(om.samples.filter((s) => 'layer' in s.labels).map((s) => s.labels.layer))).toEqual(
          seen,
        )
      }),
      { numRuns: 25, seed: 20261127 },
    )
  }, 60_000)

  test('label values escape backslash, quote and line feed only (escapeLabelValue, internal)', () => {
    expect(escapeLabelValue('a"b\\c\nd\te')).toBe('a\\"b\\\\c\\nd\te')
    expect(escapeLabelValue('plain')).toBe('plain')
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        const escaped = escapeLabelValue(s)
        expect(escaped).not.toContain('\n')
        expect(escaped.replace(/\\(["\\n])/g, '').includes('"')).toBe(false)
      }),
      { seed: 7 },
    )
  })

  test('bucket counts are exact: a duration on a bound counts in that bound', () => {
    const bounds = [0, 0.1, 0.25, 1, 1.0001, 12.3, 500, 1000] // ms; two bounds in one internal bucket
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.double({ min: 0, max: 2000, noNaN: true }),
            fc.constantFrom(...bounds),
            fc.constantFrom(...bounds.map((b) => b * (1 + Number.EPSILON))),
            fc.constantFrom(...bounds.map((b) => b * (1 - Number.EPSILON))),
          ),
          { maxLength: 200 },
        ),
        (durations) => {
          const metrics = createCacheMetrics({ layers: ['x'], buckets: bounds })
          for (const ms of durations) metrics.observer.record('x', 'hit', ms)
          const sample = metrics.collect().layers[0]!
          for (const bucket of sample.latencyBuckets) {
            expect(bucket.count).toBe(durations.filter((ms) => ms <= bucket.le).length)
          }
          expect(sample.latencyCount).toBe(durations.length)
        },
      ),
      { seed: 42, numRuns: 300 },
    )
  })
})

describe('OpenMetrics text', () => {
  test('follows the OpenMetrics 1.0 text format', () => {
    const text = busyMetrics(['cdn', 'l1', 'l2', 'db']).toOpenMetrics()
    expect(text.endsWith('\n# EOF\n')).toBe(true)
    expect(text).not.toContain('\r')
    const { comments, samples } = parseExposition(text)
    expect(comments.at(-1)).toBe('# EOF')
    const types = new Map<string, string>()
    const order: string[] = []
    for (const c of comments.slice(0, -1)) {
      const m = /^# (TYPE|UNIT|HELP) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(c)
      expect(m, c).not.toBeNull()
      if (m![1] === 'TYPE') types.set(m![2]!, m![3]!)
      if (m![1] === 'UNIT') expect(m![2]!.endsWith(`_${m![3]}`)).toBe(true)
      order.push(`${m![1]} ${m![2]}`)
    }
    expect([...types]).toEqual([
      ['tierkit_cache_requests', 'counter'],
      ['tierkit_cache_latency_seconds', 'histogram'],
      ['tierkit_cache_hit_ratio', 'gauge'],
      ['tierkit_cache_invalid_records', 'counter'],
    ])
    expect(order.slice(0, 6)).toEqual([
      'TYPE tierkit_cache_requests',
      'HELP tierkit_cache_requests',
      'TYPE tierkit_cache_latency_seconds',
      'UNIT tierkit_cache_latency_seconds',
      'HELP tierkit_cache_latency_seconds',
      'TYPE tierkit_cache_hit_ratio',
    ])
    // every sample belongs to a declared family with the suffix its type allows
    const suffixes: Record<string, string[]> = {
      counter: ['_total'],
      histogram: ['_bucket', '_count', '_sum'],
      gauge: [''],
    }
    for (const s of samples) {
      const family = [...types].find(([name, type]) => suffixes[type]!.some((x) => s.name === name + x))
      expect(family, s.name).toBeDefined()
    }
    expect(samples.filter((s) => types.get(s.name) === 'counter')).toEqual([])
    // families are not interleaved
    const familyOf = samples.map((s) => [...types.keys()].find((n) => s.name.startsWith(n)))
    const runs = familyOf.filter((f, i) => i === 0 || f !== familyOf[i - 1])
    expect(runs).toEqual([...types.keys()])
    checkHistogram(samples, ['cdn', 'l1', 'l2', 'db'])
    // le values are canonical numbers
    const les = samples
      .filter((s) => s.name.endsWith('_bucket') && s.labels.layer === 'l1')
      .map((s) => s.labels.le)
    expect(les).toEqual([
      '5e-05',
      '0.0001',
      '0.00025',
      '0.0005',
      '0.001',
      '0.0025',
      '0.005',
      '0.01',
      '0.025',
      '0.05',
      '0.1',
      '0.25',
      '0.5',
      '1.0',
      '2.5',
      '5.0',
      '10.0',
      '+Inf',
    ])
  })

  test('same counts as the Prometheus text', () => {
    const metrics = busyMetrics(['l1', 'l2'])
    const prom = parseExposition(metrics.toPrometheus()).samples
    const om = parseExposition(metrics.toOpenMetrics()).samples
    const key = (s: Sample) =>
      `${s.name}|${s.labels.layer}|${s.labels.outcome}|${s.labels.reason}|${s.labels.le === undefined ? '' : le(s)}`
    expect(new Map(om.map((s) => [key(s), s.value]))).toEqual(new Map(prom.map((s) => [key(s), s.value])))
    expect(new Set(prom.map(key)).size).toBe(prom.length) // every sample has its own key
  })

  test('le values are the spec canonical numbers (formatBound, internal)', () => {
    const values = [0, 0.001, 0.002, 0.01, 0.1, 0.9, 0.95, 0.99, 0.999, 1, 1.7, 10]
    expect(values.map((v) => formatBound(v, true))).toEqual([
      '0.0',
      '0.001',
      '0.002',
      '0.01',
      '0.1',
      '0.9',
      '0.95',
      '0.99',
      '0.999',
      '1.0',
      '1.7',
      '10.0',
    ])
    const powers = [1e-10, 1e-9, 1e-5, 1e-4, 0.1, 1, 1e5, 1e6, 1e10]
    expect(powers.map((v) => formatBound(v, true))).toEqual([
      '1e-10',
      '1e-09',
      '1e-05',
      '0.0001',
      '0.1',
      '1.0',
      '100000.0',
      '1e+06',
      '1e+10',
    ])
    expect(powers.map((v) => formatBound(v, false))).toEqual([
      '1e-10',
      '1e-09',
      '1e-05',
      '0.0001',
      '0.1',
      '1',
      '100000',
      '1e+06',
      '1e+10',
    ])
    expect(formatBound(1234567, false)).toBe('1.234567e+06')
    expect(formatBound(123.456, true)).toBe('123.456')
    expect(formatBound(Number.POSITIVE_INFINITY, true)).toBe('+Inf')
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (v) => {
        expect(Number(formatBound(v, true))).toBe(v === 0 ? 0 : v)
      }),
      { seed: 3 },
    )
  })
})
