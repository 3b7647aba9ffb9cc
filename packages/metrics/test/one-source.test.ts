// One source per layer: a layer's counts come from the observer's records or from watched stats(), never both.
import { describe, expect, test } from 'vitest'
import {
  CacheMetricsError,
  type CacheMetricsEvent,
  type CacheStats,
  createCacheMetrics,
  errors,
  LayerConflictError,
} from '../src/index.js'

/** An object of the shape of @tierkit/l1-cache's L1Cache: stats() with plain-number counters. */
class FakeL1 {
  counters = { hits: 0, misses: 0, sets: 0, evictions: 0 }
  stats(): CacheStats {
    return { ...this.counters }
  }
}

function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  throw new Error('expected a throw')
}

describe('one source per layer', () => {
  test('records first, then watch: watch throws LayerConflictError and watches nothing', () => {
    const metrics = createCacheMetrics()
    const l1 = new FakeL1()
    // what redis-aside does with its l1: records the L1 layer itself
    metrics.observer.record('l1', 'hit', 0.1)
    metrics.observer.record('l1', 'miss', 0.1)
    metrics.observer.record('l1', 'set')
    const error = thrown(() => metrics.watch('l1', l1))
    expect(error).toBeInstanceOf(LayerConflictError)
    expect(error).toBeInstanceOf(CacheMetricsError)
    expect(error).toMatchObject({
      name: 'LayerConflictError',
      code: 'E_LAYER_CONFLICT',
      layer: 'l1',
      records: 3,
      message:
        'CacheMetrics.watch: layer "l1" already has 3 records from an observer; a layer\'s counts come from one source (the observer or watched stats(), never both), so nothing was watched',
    })
    expect(errors.E_LAYER_CONFLICT).toBe(LayerConflictError)
    // nothing was watched: the source's counts are not added, records still count
    l1.counters.hits = 9
    l1.counters.misses = 1
    metrics.observer.record('l1', 'hit', 0.1)
    const snap = metrics.snapshot()
    expect([snap.byLayer.l1.hits, snap.byLayer.l1.misses]).toEqual([2, 1])
    expect(snap.invalid).toBe(0)
    // another layer can still be watched
    expect(metrics.watch('cdn', new FakeL1())).toBeTypeOf('function')
  })

  test('watch first, then records: the records are not counted, counted as invalid{reason="watched-layer"} and reported once', () => {
    const events: CacheMetricsEvent[] = []
    const metrics = createCacheMetrics({ onEvent: (event) => events.push(event) })
    const l1 = new FakeL1()
    metrics.watch('l1', l1)
    l1.counters.hits = 9
    l1.counters.misses = 1
    // what redis-aside would record for the same lookups
    for (let i = 0; i < 9; i++) metrics.observer.record('l1', 'hit', 0.1)
    metrics.observer.record('l1', 'miss', 0.2)
    metrics.observer.record('l2', 'hit', 1)
    const snap = metrics.snapshot()
    // the L1's own counts, once: 9 / 1, not 18 / 2
    expect([snap.byLayer.l1.hits, snap.byLayer.l1.misses]).toEqual([9, 1])
    expect(snap.byLayer.l1.latency.count).toBe(0)
    expect(snap.byLayer.l2.hits).toBe(1)
    expect(snap.invalid).toBe(10)
    expect(snap.invalidByReason).toEqual({
      'unknown-layer': 0,
      'unknown-outcome': 0,
      'watched-layer': 10,
      'invalid-duration': 0,
    })
    expect(metrics.toPrometheus()).toContain(
      'tierkit_cache_invalid_records_total{reason="watched-layer"} 10\n',
    )
    expect(events).toEqual([
      {
        type: 'invalid-record',
        reason: 'watched-layer',
        layer: 'l1',
        outcome: 'hit',
        duration: 0.1,
        message:
          'observer.record: layer "l1" is watched (metrics.watch reads its counts from a stats() source), so its records are not counted (tierkit_cache_invalid_records_total{reason="watched-layer"}): a layer\'s counts come from one source; stop recording this layer or stop watching it',
      },
    ])
  })

  test('once no source watches the layer any more, records count again (and watch then conflicts)', () => {
    const metrics = createCacheMetrics({ layers: ['l1', 'l2'] })
    const a = new FakeL1()
    const b = new FakeL1()
    const unwatchA = metrics.watch('l1', a)
    const unwatchB = metrics.watch('l1', b) // several sources of one kind may feed a layer
    a.counters.hits = 2
    b.counters.hits = 3
    metrics.observer.record('l1', 'hit')
    unwatchA()
    metrics.observer.record('l1', 'hit') // b still watches
    expect(metrics.snapshot().byLayer.l1.hits).toBe(5)
    expect(metrics.snapshot().invalidByReason['watched-layer']).toBe(2)
    unwatchB()
    metrics.observer.record('l1', 'hit')
    expect(metrics.snapshot().byLayer.l1.hits).toBe(6) // 5 read before unwatching, kept, plus 1 record
    expect(metrics.snapshot().invalidByReason['watched-layer']).toBe(2)
    expect(() => metrics.watch('l1', a)).toThrow(LayerConflictError)
  })

  test('the same holds past the first eight layers (the Map lookup)', () => {
    const layers = Array.from({ length: 12 }, (_, i) => `layer-${i}`)
    const metrics = createCacheMetrics({ layers })
    const source = new FakeL1()
    metrics.watch('layer-10', source)
    metrics.observer.record('layer-10', 'hit')
    metrics.observer.record('layer-11', 'hit')
    metrics.observer.record('layer-9', 'hit')
    expect(() => metrics.watch('layer-11', source)).toThrow(LayerConflictError)
    const snap = metrics.snapshot()
    expect(snap.layers.map((l) => l.hits)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1])
    expect(snap.invalidByReason['watched-layer']).toBe(1)
  })
})

describe('onEvent', () => {
  test('reports the first record of each reason and layer that is not counted, with a message saying why', () => {
    const events: CacheMetricsEvent<'l1' | 'l2' | 'db'>[] = []
    const metrics = createCacheMetrics({ layers: ['l1', 'l2', 'db'], onEvent: (e) => events.push(e) })
    const record = metrics.observer.record as (layer: unknown, outcome: unknown, duration?: unknown) => void
    record('loader', 'hit', 15) // the name redis-aside used before the family said 'db'
    record('loader', 'miss', 15)
    record('nope', 'hit')
    record('l2', 'hits')
    record('l2', 'hits')
    record('l1', 'hits')
    record('l2', 'hit', -1)
    record('l2', 'hit', Number.NaN)
    record('db', 'hit', '15')
    expect(events.map((e) => [e.reason, e.layer, e.outcome, e.duration])).toEqual([
      ['unknown-layer', 'loader', 'hit', 15],
      ['unknown-outcome', 'l2', 'hits', undefined],
      ['unknown-outcome', 'l1', 'hits', undefined],
      ['invalid-duration', 'l2', 'hit', -1],
      ['invalid-duration', 'db', 'hit', '15'],
    ])
    expect(events.map((e) => e.message)).toEqual([
      'observer.record: layer must be one of "l1", "l2", "db", got "loader"; not counted (tierkit_cache_invalid_records_total{reason="unknown-layer"})',
      'observer.record: outcome must be one of "hit", "miss", "stale", "error", "set", "evict", got "hits"; not counted (tierkit_cache_invalid_records_total{reason="unknown-outcome"})',
      'observer.record: outcome must be one of "hit", "miss", "stale", "error", "set", "evict", got "hits"; not counted (tierkit_cache_invalid_records_total{reason="unknown-outcome"})',
      'observer.record: duration must be a finite number of ms >= 0, got -1; not counted (tierkit_cache_invalid_records_total{reason="invalid-duration"})',
      'observer.record: duration must be a finite number of ms >= 0, got "15"; not counted (tierkit_cache_invalid_records_total{reason="invalid-duration"})',
    ])
    expect(metrics.snapshot().invalidByReason).toEqual({
      'unknown-layer': 3,
      'unknown-outcome': 3,
      'watched-layer': 0,
      'invalid-duration': 3,
    })
  })

  test('a listener that throws is ignored, record never throws; a listener may record', () => {
    let calls = 0
    const metrics = createCacheMetrics({
      onEvent: () => {
        calls++
        metrics.observer.record('cdn' as never, 'nope' as never) // re-entrant, and invalid again
        throw new Error('listener failed')
      },
    })
    const record = metrics.observer.record as (layer: unknown, outcome: unknown) => void
    expect(() => record('loader', 'hit')).not.toThrow()
    expect(() => record('loader', 'hit')).not.toThrow()
    metrics.observer.record('l2', 'hit')
    // the first event, then the re-entrant record's own first event ('unknown-outcome' on cdn)
    expect(calls).toBe(2)
    const snap = metrics.snapshot()
    expect(snap.byLayer.l2.hits).toBe(1)
    expect(snap.invalidByReason['unknown-layer']).toBe(2)
    expect(snap.invalidByReason['unknown-outcome']).toBe(2)
  })
})
