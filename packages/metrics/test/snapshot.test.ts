import { TierkitTypeError } from '@tierkit/contracts'
import { describe, expect, test } from 'vitest'
import { type CacheStats, createCacheMetrics, DEFAULT_LATENCY_BUCKETS } from '../src/index.js'

/** The most layers createCacheMetrics accepts. */
const MAX_LAYERS = 64

/** Runs `fn`, expecting it to throw; returns what it threw. */
function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  throw new Error('expected a throw')
}

/** An object of the shape of @tierkit/l1-cache's L1Cache: stats() with plain-number counters. */
class FakeL1 {
  counters = { hits: 0, misses: 0, sets: 0, evictions: 0, expirations: 0, size: 0 }
  stats(): CacheStats & { expirations: number; size: number } {
    return { ...this.counters }
  }
}

describe('snapshot', () => {
  test('hit rate, miss rate and latency reduction per layer (L1 0.2 ms, L2 1.5 ms, DB 15 ms)', () => {
    const metrics = createCacheMetrics({ layers: ['l1', 'l2', 'db'] })
    const { record } = metrics.observer
    for (let i = 0; i < 100; i++) record('l1', i < 92 ? 'hit' : 'miss', 0.2)
    for (let i = 0; i < 20; i++) record('l2', i < 17 ? 'hit' : 'miss', 1.5)
    for (let i = 0; i < 5; i++) record('db', 'set', 15)
    const snap = metrics.snapshot()
    expect(snap.baseline).toBe('db')
    expect(snap.layers.map((l) => l.layer)).toEqual(['l1', 'l2', 'db'])
    const [l1, l2, db] = snap.layers
    expect(l1!.hitRate).toBeCloseTo(0.92, 12)
    expect(l1!.missRate).toBeCloseTo(0.08, 12)
    expect(l1!.lookups).toBe(100)
    expect(l2!.hitRate).toBeCloseTo(0.85, 12)
    expect(db!.hitRate).toBeNull()
    expect(db!.missRate).toBeNull()
    expect(l1!.latency.avg).toBeCloseTo(0.2, 12)
    expect(l1!.latencyReduction).toBeCloseTo(1 - 0.2 / 15, 12)
    expect(l2!.latencyReduction).toBeCloseTo(1 - 1.5 / 15, 12)
    expect(db!.latencyReduction).toBe(0)
    expect(JSON.parse(JSON.stringify(snap)).byLayer.l2.hits).toBe(17)
  })

  test('baseline defaults to the last layer without a "db" layer, and can be chosen', () => {
    const a = createCacheMetrics({ layers: ['l1', 'origin'] })
    a.observer.record('l1', 'hit', 1)
    a.observer.record('origin', 'hit', 4)
    expect(a.snapshot().baseline).toBe('origin')
    expect(a.snapshot().layers[0]!.latencyReduction).toBe(0.75)
    const b = createCacheMetrics({ layers: ['l1', 'l2', 'db'], baseline: 'l2' })
    b.observer.record('l1', 'hit', 1)
    b.observer.record('l2', 'hit', 2)
    expect(b.snapshot().layers[0]!.latencyReduction).toBe(0.5)
    expect(b.snapshot().layers[2]!.latencyReduction).toBeNull() // db has no timings
  })

  test('formatTable renders the Layer | Hit Rate | Avg Latency table with measured numbers', () => {
    const metrics = createCacheMetrics({ layers: ['l1', 'l2', 'db'] })
    const { record } = metrics.observer
    for (let i = 0; i < 100; i++) record('l1', i < 92 ? 'hit' : 'miss', 0.2)
    for (let i = 0; i < 100; i++) record('l2', i < 85 ? 'hit' : 'miss', 1.5)
    record('db', 'hit', 15)
    const snap = metrics.snapshot()
    // DB is the source of truth: its hits and misses are not cache lookups, but the table still shows its rate.
    expect(metrics.formatTable({ labels: { l1: 'L1', l2: 'L2 (Redis)', db: 'DB' } })).toBe(
      [
        '| Layer      | Hit Rate | Avg Latency |',
        '| ---------- | -------: | ----------: |',
        '| L1         |    92.0% |      0.2 ms |',
        '| L2 (Redis) |    85.0% |      1.5 ms |',
        '| DB         |   100.0% |       15 ms |',
      ].join('\n'),
    )
    expect(snap.byLayer.l1!.hitRate).toBe(0.92)
    const empty = createCacheMetrics({ layers: ['a|b'] })
    expect(empty.formatTable()).toBe(
      [
        '| Layer | Hit Rate | Avg Latency |',
        '| ----- | -------: | ----------: |',
        '| a\\|b  |        — |           — |',
      ].join('\n'),
    )
    expect(() => metrics.formatTable({ labels: { l1: 1 as unknown as string } })).toThrow(
      new TierkitTypeError('CacheMetrics.formatTable: options.labels["l1"] must be a string, got 1'),
    )
    expect(() => metrics.formatTable(null as never)).toThrow(
      new TierkitTypeError('CacheMetrics.formatTable: options must be an object, got null'),
    )
    expect(() => metrics.formatTable({ labels: 'L1' as never })).toThrow(
      new TierkitTypeError('CacheMetrics.formatTable: options.labels must be an object, got "L1"'),
    )
    const error = thrown(() => metrics.formatTable(1 as never))
    expect(error).toBeInstanceOf(TierkitTypeError)
    expect(error).toBeInstanceOf(TypeError)
    expect((error as TierkitTypeError).code).toBe('E_INVALID_ARGUMENT')
  })
})

describe('watch', () => {
  test("reads an L1Cache-shaped stats() at snapshot time as the layer's counts", () => {
    const metrics = createCacheMetrics({ layers: ['l1', 'db'] })
    const cache = new FakeL1()
    metrics.watch('l1', cache)
    metrics.observer.record('db', 'hit', 15)
    cache.counters.hits = 9
    cache.counters.misses = 3
    cache.counters.sets = 3
    cache.counters.evictions = 1
    cache.counters.expirations = 5
    const snap = metrics.snapshot()
    const l1 = snap.byLayer.l1
    expect([l1.hits, l1.misses, l1.sets, l1.evictions, l1.stale, l1.errors]).toEqual([9, 3, 3, 1, 0, 0])
    expect(l1.hitRate).toBeCloseTo(9 / 12, 12)
    expect(snap.byLayer.db.hits).toBe(1)
    expect(snap.invalid).toBe(0)
    expect(metrics.toPrometheus()).toContain('tierkit_cache_requests_total{layer="l1",outcome="hit"} 9\n')
  })

  test('a counter that goes down is a reset: exported counts keep rising', () => {
    const metrics = createCacheMetrics({ layers: ['l1'] })
    const cache = new FakeL1()
    metrics.watch('l1', cache)
    cache.counters.hits = 10
    expect(metrics.snapshot().layers[0]!.hits).toBe(10)
    cache.counters.hits = 2 // the cache was cleared and its stats restarted
    expect(metrics.snapshot().layers[0]!.hits).toBe(12)
    cache.counters.hits = 5
    expect(metrics.snapshot().layers[0]!.hits).toBe(15)
  })

  test('unwatch stops reading but keeps what was read; several sources add up', () => {
    const metrics = createCacheMetrics({ layers: ['l1'] })
    const a = new FakeL1()
    const b = new FakeL1()
    const unwatchA = metrics.watch('l1', a)
    metrics.watch('l1', b)
    a.counters.hits = 4
    b.counters.hits = 6
    expect(metrics.snapshot().layers[0]!.hits).toBe(10)
    a.counters.hits = 5
    unwatchA()
    unwatchA() // idempotent
    a.counters.hits = 100
    expect(metrics.snapshot().layers[0]!.hits).toBe(11)
  })

  test('a throwing or malformed source is counted in sourceErrors, never crashes a scrape', () => {
    const metrics = createCacheMetrics({ layers: ['l1'] })
    let mode = 'ok'
    const source = {
      stats(): CacheStats {
        if (mode === 'throw') throw new Error('stats failed')
        if (mode === 'null') return null as never
        if (mode === 'garbage')
          return { hits: Number.NaN, misses: -1, sets: '7' as never, evictions: Infinity }
        return { hits: 3, misses: 1 }
      },
    }
    metrics.watch('l1', source)
    expect(metrics.snapshot().layers[0]!.hits).toBe(3)
    mode = 'throw'
    expect(metrics.snapshot().layers[0]!.hits).toBe(3)
    mode = 'null'
    expect(metrics.toPrometheus()).toContain('outcome="hit"} 3\n')
    expect(metrics.snapshot().sourceErrors).toBe(3)
    mode = 'garbage'
    const l1 = metrics.snapshot().layers[0]!
    expect([l1.hits, l1.misses, l1.sets, l1.evictions]).toEqual([3, 1, 0, 0])
  })

  test('bad arguments are TierkitTypeErrors with exact messages and change nothing', () => {
    const metrics = createCacheMetrics({ layers: ['l1'] })
    const cache = new FakeL1()
    expect(() => metrics.watch('l2' as 'l1', cache)).toThrow(
      new TierkitTypeError('CacheMetrics.watch: layer must be one of "l1", got "l2"'),
    )
    expect(() => metrics.watch(1 as never, cache)).toThrow(
      new TierkitTypeError('CacheMetrics.watch: layer must be one of "l1", got 1'),
    )
    expect(() => metrics.watch('l1', {} as never)).toThrow(
      new TierkitTypeError(
        'CacheMetrics.watch: source must be an object with a stats() method, got an object',
      ),
    )
    expect(() => metrics.watch('l1', null as never)).toThrow(
      new TierkitTypeError('CacheMetrics.watch: source must be an object with a stats() method, got null'),
    )
    metrics.watch('l1', cache)
    const error = thrown(() => metrics.watch('l1', cache))
    expect(error).toEqual(
      new TierkitTypeError(
        'CacheMetrics.watch: source must be a source not yet watched for layer "l1", got an instance of FakeL1',
      ),
    )
    expect(error).toBeInstanceOf(TierkitTypeError)
    expect((error as TierkitTypeError).code).toBe('E_INVALID_ARGUMENT')
    cache.counters.hits = 1
    expect(metrics.snapshot().layers[0]!.hits).toBe(1)
  })
})

describe('createCacheMetrics', () => {
  test('rejects bad options with exact TierkitTypeErrors', () => {
    const cases: [unknown, string][] = [
      [null, 'createCacheMetrics: options must be an object, got null'],
      ['l1', 'createCacheMetrics: options must be an object, got "l1"'],
      [{ layers: [] }, 'createCacheMetrics: options.layers.length must be an integer from 1 to 64, got 0'],
      [{ layers: 'l1' }, 'createCacheMetrics: options.layers must be an array of layer names, got "l1"'],
      [{ layers: null }, 'createCacheMetrics: options.layers must be an array of layer names, got null'],
      [
        { layers: [''] },
        'createCacheMetrics: options.layers[0] must be a non-empty, well-formed string, got ""',
      ],
      [
        { layers: ['a', 1] },
        'createCacheMetrics: options.layers[1] must be a non-empty, well-formed string, got 1',
      ],
      [
        { layers: ['a\uD800'] },
        'createCacheMetrics: options.layers[0] must be a non-empty, well-formed string, got "a\\ud800"',
      ],
      [{ layers: ['a', 'a'] }, 'createCacheMetrics: options.layers[1] must be unique, got "a"'],
      [
        { layers: Array.from({ length: MAX_LAYERS + 1 }, (_, i) => `l${i}`) },
        `createCacheMetrics: options.layers.length must be an integer from 1 to ${MAX_LAYERS}, got ${MAX_LAYERS + 1}`,
      ],
      [{ layers: ['a'], baseline: 'b' }, 'createCacheMetrics: options.baseline must be one of "a", got "b"'],
      [
        { baseline: 'origin' },
        'createCacheMetrics: options.baseline must be one of "cdn", "l1", "l2", "db", got "origin"',
      ],
      [
        { layers: Array.from({ length: 9 }, (_, i) => `l${i}`), baseline: 'x' },
        'createCacheMetrics: options.baseline must be one of "l0", "l1", "l2", "l3", "l4", "l5", "l6", "l7", ..., got "x"',
      ],
      [{ onEvent: 'log' }, 'createCacheMetrics: options.onEvent must be a function, got "log"'],
      [{ buckets: 'x' }, 'createCacheMetrics: options.buckets must be an array of bounds in ms, got "x"'],
      [
        { buckets: Array.from({ length: 65 }, (_, i) => i) },
        'createCacheMetrics: options.buckets.length must be an integer from 0 to 64, got 65',
      ],
      [
        { buckets: [1, 1] },
        'createCacheMetrics: options.buckets[1] must be greater than options.buckets[0] (1), got 1',
      ],
      [
        { buckets: [2, 1] },
        'createCacheMetrics: options.buckets[1] must be greater than options.buckets[0] (2), got 1',
      ],
      [
        { buckets: [-1] },
        'createCacheMetrics: options.buckets[0] must be a finite number of ms >= 0, got -1',
      ],
      [
        { buckets: [Number.NaN] },
        'createCacheMetrics: options.buckets[0] must be a finite number of ms >= 0, got NaN',
      ],
      [
        { buckets: [1, Number.POSITIVE_INFINITY] },
        'createCacheMetrics: options.buckets[1] must be a finite number of ms >= 0, got Infinity',
      ],
      [
        { buckets: ['1'] },
        'createCacheMetrics: options.buckets[0] must be a finite number of ms >= 0, got "1"',
      ],
    ]
    for (const [options, message] of cases) {
      const error = thrown(() => createCacheMetrics(options as never))
      expect(error, message).toEqual(new TierkitTypeError(message))
      expect(error, message).toBeInstanceOf(TierkitTypeError)
    }
    // no options, empty options and an empty bucket list are fine
    expect(createCacheMetrics().layers).toHaveLength(4)
    expect(createCacheMetrics(undefined).layers).toHaveLength(4)
    expect(createCacheMetrics({ buckets: [] }).collect().layers[0]!.latencyBuckets).toEqual([
      { le: Number.POSITIVE_INFINITY, count: 0 },
    ])
  })

  test('copies its inputs: mutating them later changes nothing', () => {
    const layers = ['a', 'b']
    const buckets = [1, 10]
    const metrics = createCacheMetrics({ layers, buckets })
    layers.push('c')
    buckets[0] = 5000
    expect(metrics.layers).toEqual(['a', 'b'])
    expect(Object.isFrozen(metrics.layers)).toBe(true)
    metrics.observer.record('a', 'hit', 2)
    expect(metrics.collect().layers[0]!.latencyBuckets).toEqual([
      { le: 1, count: 0 },
      { le: 10, count: 1 },
      { le: Number.POSITIVE_INFINITY, count: 1 },
    ])
    expect(DEFAULT_LATENCY_BUCKETS).toEqual([
      0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000,
    ])
  })
})
