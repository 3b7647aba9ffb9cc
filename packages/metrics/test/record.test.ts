import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import * as contracts from '@tierkit/contracts'
import { describe, expect, test } from 'vitest'
import { CACHE_LAYERS, CACHE_OUTCOMES, type CacheOutcome, createCacheMetrics } from '../src/index.js'

const layers = ['cdn', 'l1', 'l2', 'db'] as const

describe('observer.record', () => {
  test('counts each outcome per layer and times only the calls with a duration', () => {
    const metrics = createCacheMetrics({ layers })
    const { record } = metrics.observer // detached use works
    record('l1', 'hit', 0.2)
    record('l1', 'hit')
    record('l1', 'miss', 0.3)
    record('l2', 'stale', 1)
    record('l2', 'error', 2)
    record('l2', 'set', 3)
    record('l2', 'evict')
    record('db', 'hit', 15)
    const snap = metrics.snapshot()
    const l1 = snap.byLayer.l1
    expect([l1.hits, l1.misses, l1.stale, l1.errors, l1.sets, l1.evictions]).toEqual([2, 1, 0, 0, 0, 0])
    expect(l1.latency.count).toBe(2)
    expect(l1.latency.sum).toBeCloseTo(0.5, 12)
    const l2 = snap.byLayer.l2
    expect([l2.hits, l2.misses, l2.stale, l2.errors, l2.sets, l2.evictions]).toEqual([0, 0, 1, 1, 1, 1])
    expect(l2.latency.count).toBe(3)
    expect(snap.byLayer.cdn.latency).toEqual({
      count: 0,
      sum: 0,
      avg: null,
      min: null,
      p50: null,
      p95: null,
      p99: null,
      max: null,
    })
    expect(snap.invalid).toBe(0)
  })

  test('never throws on garbage; drops it, counts it in invalid, and leaves the counters intact', () => {
    const metrics = createCacheMetrics({ layers })
    const { record } = metrics.observer
    record('l1', 'hit', 1)
    const before = metrics.snapshot()
    const hostile = {
      toString() {
        throw new Error('boom')
      },
      valueOf() {
        throw new Error('boom')
      },
    }
    const garbage: [unknown, unknown, unknown][] = [
      ['nope', 'hit', 1], // unknown layer
      ['L1', 'hit', 1], // case matters
      ['l1', 'hits', 1], // unknown outcome
      ['l1', 'hit', -1], // negative
      ['l1', 'hit', -0.000001],
      ['l1', 'hit', Number.NaN],
      ['l1', 'hit', Number.POSITIVE_INFINITY],
      ['l1', 'hit', Number.NEGATIVE_INFINITY],
      ['l1', 'hit', '5'], // numeric string
      ['l1', 'hit', null],
      ['l1', 'hit', 5n],
      ['l1', 'hit', hostile],
      [hostile, 'hit', 1],
      ['l1', hostile, 1],
      [Symbol('l1'), 'hit', 1],
      [undefined, undefined, undefined],
      [null, null, null],
      [['l1'], 'hit', 1],
      [{ layer: 'l1' }, 'hit', 1],
      ['__proto__', 'hit', 1],
      ['toString', 'constructor', 1],
    ]
    for (const [layer, outcome, ms] of garbage) {
      expect(() => (record as (...args: unknown[]) => void)(layer, outcome, ms)).not.toThrow()
    }
    const after = metrics.snapshot()
    expect(after.invalid).toBe(garbage.length)
    expect(after.invalidByReason).toEqual({
      'unknown-layer': 10,
      'unknown-outcome': 2,
      'watched-layer': 0,
      'invalid-duration': 9,
    })
    expect({ ...after, invalid: 0, invalidByReason: null }).toEqual({
      ...before,
      invalid: 0,
      invalidByReason: null,
    })
    // still works afterwards
    record('l1', 'hit', 3)
    expect(metrics.snapshot().byLayer.l1.hits).toBe(2)
    const text = metrics.toPrometheus()
    expect(text).toContain('tierkit_cache_invalid_records_total{reason="unknown-layer"} 10\n')
    expect(text).toContain('tierkit_cache_invalid_records_total{reason="unknown-outcome"} 2\n')
    expect(text).toContain('tierkit_cache_invalid_records_total{reason="watched-layer"} 0\n')
    expect(text).toContain('tierkit_cache_invalid_records_total{reason="invalid-duration"} 9\n')
  })

  test('zero and sub-nanosecond durations are valid', () => {
    const metrics = createCacheMetrics({ layers })
    metrics.observer.record('l1', 'hit', 0)
    metrics.observer.record('l1', 'hit', 1e-12)
    metrics.observer.record('l1', 'hit', Number.MIN_VALUE)
    metrics.observer.record('l1', 'hit', -0)
    const l1 = metrics.snapshot().byLayer.l1
    expect(l1.latency.count).toBe(4)
    expect(Object.is(l1.latency.min, 0)).toBe(true)
    expect(metrics.snapshot().invalid).toBe(0)
    // -0 counts as 0 in the first exposition bucket, not as a huge value
    expect(metrics.collect().layers[1]!.latencyBuckets[0]!.count).toBe(4)
    expect(metrics.latencyQuantile('l1', 0.99)).toBeLessThan(1e-6)
  })

  test('finds layers past the first eight (Map lookup) as well as the first ones', () => {
    const many = Array.from({ length: 20 }, (_, i) => `layer-${i}`)
    const metrics = createCacheMetrics({ layers: many })
    const record = metrics.observer.record as (layer: string, outcome: CacheOutcome, ms?: number) => void
    for (const [i, layer] of many.entries()) {
      for (let j = 0; j <= i; j++) record(`layer-${i}`.slice(0), 'hit', j) // equal content, another string
      expect(layer).toBe(`layer-${i}`)
    }
    record('layer-20', 'hit')
    record('layer-1 ', 'hit')
    const snap = metrics.snapshot()
    expect(snap.layers.map((l) => l.hits)).toEqual(many.map((_, i) => i + 1))
    expect(snap.layers.map((l) => l.latency.max)).toEqual(many.map((_, i) => i))
    expect(snap.invalid).toBe(2)
    expect(snap.invalidByReason['unknown-layer']).toBe(2)
  })

  test('the layer and outcome sets are the family ones from @tierkit/contracts, the layers by default', () => {
    expect(CACHE_OUTCOMES).toBe(contracts.CACHE_OUTCOMES)
    expect(CACHE_LAYERS).toBe(contracts.CACHE_LAYERS)
    expect(CACHE_OUTCOMES).toEqual(['hit', 'miss', 'stale', 'error', 'set', 'evict'])
    expect(createCacheMetrics().layers).toEqual(['cdn', 'l1', 'l2', 'db'])
    expect(createCacheMetrics({}).layers).toEqual(CACHE_LAYERS)
    const metrics = createCacheMetrics({ layers: ['x'] })
    for (const outcome of CACHE_OUTCOMES) metrics.observer.record('x', outcome as CacheOutcome)
    const x = metrics.snapshot().layers[0]!
    expect([x.hits, x.misses, x.stale, x.errors, x.sets, x.evictions]).toEqual([1, 1, 1, 1, 1, 1])
  })
})

test('record allocates nothing in steady state (heap growth per call, slope over 5·10^5 and 10^6 calls), also with a watched layer and onEvent, while a 1-object control does', () => {
  const probe = fileURLToPath(new URL('../bench/alloc-probe.ts', import.meta.url))
  const run = spawnSync(
    process.execPath,
    [
      '--expose-gc',
      '--min-semi-space-size=64',
      '--max-semi-space-size=64',
      '--import',
      'tsx',
      probe,
      'record',
      'record-watched',
      'control',
    ],
    { encoding: 'utf8', timeout: 120_000 },
  )
  expect(run.status, run.stderr).toBe(0)
  const result = JSON.parse(run.stdout) as Record<string, { slope: number; slopes: number[] }>
  // A single 16-byte allocation per call would show as >= 16 bytes/call; the control proves the probe sees it.
  // The median slope: noise moves single rounds both ways (a minimum could hide a real allocation). Under one byte
  // per call: an allocation on every call is >= 16, one on every 16th call >= 1, while the rounds still warming up
  // leave up to ~0.1 in the median (0.102 seen once with the JIT late: slopes 2.3, 5.5, 0.10, 0, 0, 0).
  expect(result.control!.slope, JSON.stringify(result)).toBeGreaterThan(16)
  expect(Math.abs(result.record!.slope), JSON.stringify(result)).toBeLessThan(1)
  expect(Math.abs(result['record-watched']!.slope), JSON.stringify(result)).toBeLessThan(1)
}, 120_000)
