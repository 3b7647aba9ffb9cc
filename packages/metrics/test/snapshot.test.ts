import { describe, expect, test } from 'vitest'
import { type CacheStatsLike, createCacheMetrics, DEFAULT_LATENCY_BUCKETS, MAX_LAYERS } from '../src/index.js'

/** An object of the shape of @tierkit/l1-cache's L1Cache: stats() with plain-number counters. */
class FakeL1 {
  counters = { hits: 0, misses: 0, sets: 0, evictions: 0, expirations: 0, size: 0 }
  stats(): CacheStatsLike & { expirations: number; size: number } {
    return { ...this.counters }
  }
}

describe('snapshot', () => {
  test('hit rate, miss rate and latency reduction per layer, as in the design notes', () => {
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

  test('formatTable renders the notes table with measured numbers', () => {
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
      new TypeError('formatTable(): options.labels values must be strings'),
    )
    expect(() => metrics.formatTable(null as never)).toThrow(
      new TypeError('formatTable(): options must be an object'),
    )
  })
})

describe('watch', () => {
  test('reads an L1Cache-shaped stats() at snapshot time and adds it to the layer', () => {
    const metrics = createCacheMetrics({ layers: ['l1', 'db'] })
    const cache = new FakeL1()
    metrics.watch('l1', cache)
    metrics.observer.record('l1', 'hit', 0.1)
    cache.counters.hits = 9
    cache.counters.misses = 3
    cache.counters.sets = 3
    cache.counters.evictions = 1
    cache.counters.expirations = 5
    const l1 = metrics.snapshot().byLayer.l1!
    expect([l1.hits, l1.misses, l1.sets, l1.evictions, l1.stale, l1.errors]).toEqual([10, 3, 3, 1, 0, 0])
    expect(l1.hitRate).toBeCloseTo(10 / 13, 12)
    expect(metrics.toPrometheus()).toContain('tierkit_cache_requests_total{layer="l1",outcome="hit"} 10\n')
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
      stats(): CacheStatsLike {
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

  test('bad arguments are TypeErrors with exact messages and change nothing', () => {
    const metrics = createCacheMetrics({ layers: ['l1'] })
    const cache = new FakeL1()
    expect(() => metrics.watch('l2' as 'l1', cache)).toThrow(new TypeError('watch(): unknown layer "l2"'))
    expect(() => metrics.watch('l1', {} as never)).toThrow(
      new TypeError('watch(): source must have a stats() method'),
    )
    expect(() => metrics.watch('l1', null as never)).toThrow(
      new TypeError('watch(): source must have a stats() method'),
    )
    metrics.watch('l1', cache)
    expect(() => metrics.watch('l1', cache)).toThrow(
      new TypeError('watch(): this source is already watched for layer "l1"'),
    )
    cache.counters.hits = 1
    expect(metrics.snapshot().layers[0]!.hits).toBe(1)
  })
})

describe('createCacheMetrics', () => {
  test('rejects bad options with exact TypeErrors', () => {
    const cases: [unknown, string][] = [
      [undefined, 'createCacheMetrics(): options must be an object'],
      [null, 'createCacheMetrics(): options must be an object'],
      [{}, 'createCacheMetrics(): options.layers must be a non-empty array of layer names'],
      [{ layers: [] }, 'createCacheMetrics(): options.layers must be a non-empty array of layer names'],
      [{ layers: 'l1' }, 'createCacheMetrics(): options.layers must be a non-empty array of layer names'],
      [{ layers: [''] }, 'createCacheMetrics(): layer names must be non-empty, well-formed strings, got ""'],
      [{ layers: [1] }, 'createCacheMetrics(): layer names must be non-empty, well-formed strings, got 1'],
      [
        { layers: ['a\uD800'] },
        'createCacheMetrics(): layer names must be non-empty, well-formed strings, got "a\\ud800"',
      ],
      [{ layers: ['a', 'a'] }, 'createCacheMetrics(): duplicate layer "a"'],
      [
        { layers: Array.from({ length: MAX_LAYERS + 1 }, (_, i) => `l${i}`) },
        `createCacheMetrics(): at most ${MAX_LAYERS} layers, got ${MAX_LAYERS + 1}`,
      ],
      [
        { layers: ['a'], baseline: 'b' },
        'createCacheMetrics(): options.baseline must be one of the layers, got "b"',
      ],
    ]
    const bucketMessage =
      'createCacheMetrics(): options.buckets must be an array of at most 64 finite, non-negative numbers in strictly increasing order'
    for (const buckets of [[1, 1], [2, 1], [-1], [Number.NaN], [Number.POSITIVE_INFINITY], ['1'], 'x']) {
      cases.push([{ layers: ['a'], buckets }, bucketMessage])
    }
    for (const [options, message] of cases) {
      expect(() => createCacheMetrics(options as never), message).toThrow(new TypeError(message))
    }
  })

  test('copies its inputs: mutating them later changes nothing', () => {
    const layers = ['a', 'b']
    const buckets = [0.001, 0.01]
    const metrics = createCacheMetrics({ layers, buckets })
    layers.push('c')
    buckets[0] = 5
    expect(metrics.layers).toEqual(['a', 'b'])
    expect(Object.isFrozen(metrics.layers)).toBe(true)
    metrics.observer.record('a', 'hit', 2)
    expect(metrics.collect().layers[0]!.latencyBuckets.map((b) => b.le)).toEqual([
      0.001,
      0.01,
      Number.POSITIVE_INFINITY,
    ])
    expect(DEFAULT_LATENCY_BUCKETS.length).toBeGreaterThan(10)
  })
})
