import { TierkitTypeError } from '@tierkit/contracts'
import { describe, expect, test } from 'vitest'
import { createCacheMetrics } from '../src/index.js'
import { exactQuantile, streams } from './helpers.js'

const N = 1_000_000
const QS = [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 0.9999]

describe.each(Object.keys(streams))('percentiles of 10^6 seeded %s samples', (name) => {
  test('are within 1 % of the exact nearest-rank quantile, min and max exact', () => {
    const next = streams[name]!(20261127)
    const values = new Float64Array(N)
    const metrics = createCacheMetrics({ layers: ['l1'] })
    const { record } = metrics.observer
    let sum = 0
    for (let i = 0; i < N; i++) {
      const v = next()
      values[i] = v
      sum += v
      record('l1', 'hit', v)
    }
    values.sort()
    let worst = 0
    for (const q of QS) {
      const exact = exactQuantile(values, q)
      const estimate = metrics.latencyQuantile('l1', q)!
      const error = Math.abs(estimate - exact) / exact
      worst = Math.max(worst, error)
      expect(error, `q=${q}: exact ${exact}, estimate ${estimate}`).toBeLessThanOrEqual(0.01)
    }
    // The log-linear buckets are at most 1/128 wide, so the midpoint is within 1/256 of the true value.
    expect(worst).toBeLessThanOrEqual(1 / 256 + 1e-12)

    const latency = metrics.snapshot().layers[0]!.latency
    expect(latency.count).toBe(N)
    expect(latency.min).toBe(values[0])
    expect(latency.max).toBe(values[N - 1])
    expect(metrics.latencyQuantile('l1', 0)).toBe(values[0])
    expect(metrics.latencyQuantile('l1', 1)).toBe(values[N - 1])
    expect(Math.abs(latency.avg! - sum / N) / (sum / N)).toBeLessThan(1e-9)
    for (const [q, key] of [
      [0.5, 'p50'],
      [0.95, 'p95'],
      [0.99, 'p99'],
    ] as const) {
      const exact = exactQuantile(values, q)
      expect(Math.abs(latency[key]! - exact) / exact).toBeLessThanOrEqual(0.01)
    }
  })
})

test('tiny, huge and zero durations stay ordered and clamp to the observed range', () => {
  const metrics = createCacheMetrics({ layers: ['x'] })
  for (const v of [0, 1e-9, 5e-7, 3e7, 1e12]) metrics.observer.record('x', 'hit', v)
  expect(metrics.latencyQuantile('x', 0)).toBe(0)
  expect(metrics.latencyQuantile('x', 1)).toBe(1e12)
  const p40 = metrics.latencyQuantile('x', 0.4)!
  expect(p40).toBeGreaterThanOrEqual(0)
  expect(p40).toBeLessThan(2 ** -20)
  const p80 = metrics.latencyQuantile('x', 0.8)!
  expect(p80).toBeGreaterThanOrEqual(3e7 * 0.99)
  expect(p80).toBeLessThanOrEqual(1e12)
})

test('latencyQuantile rejects bad arguments with exact messages', () => {
  const metrics = createCacheMetrics({ layers: ['x'] })
  expect(metrics.latencyQuantile('x', 0.5)).toBeNull()
  expect(() => metrics.latencyQuantile('y' as 'x', 0.5)).toThrow(
    new TierkitTypeError('CacheMetrics.latencyQuantile: layer must be one of "x", got "y"'),
  )
  for (const [q, shown] of [
    [-0.1, '-0.1'],
    [1.1, '1.1'],
    [Number.NaN, 'NaN'],
    ['0.5', '"0.5"'],
  ] as const) {
    expect(() => metrics.latencyQuantile('x', q as number)).toThrow(
      new TierkitTypeError(`CacheMetrics.latencyQuantile: q must be a number from 0 to 1, got ${shown}`),
    )
  }
})
