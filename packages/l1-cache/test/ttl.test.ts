import { setTimeout as sleep } from 'node:timers/promises'
import type { LoaderContext } from '@tierkit/contracts'
import { afterEach, describe, expect, test, vi } from 'vitest'
import { type EvictionReason, L1Cache, type L1CacheEvent } from '../src/index.js'
import { allocatedSlots, checkInvariants, manualClock } from './helpers.js'

afterEach(() => {
  vi.useRealTimers()
})

describe.each(['lru', 'tinylfu'] as const)('TTL (%s)', (policy) => {
  test('an expired entry is never returned by get, peek, has, entries', () => {
    const clock = manualClock()
    const reasons: EvictionReason[] = []
    const c = new L1Cache<string, number>({
      max: 10,
      ttl: 100,
      policy,
      clock: clock.now,
      onEvent: (e) => e.type === 'evict' && reasons.push(e.reason),
    })
    c.set('a', 1)
    clock.advance(99)
    expect(c.get('a')).toBe(1)
    expect(c.remainingTtl('a')).toBe(1)
    clock.advance(1)
    expect(c.peek('a')).toBe(undefined)
    expect(c.has('a')).toBe(false)
    expect([...c.entries()]).toEqual([])
    expect(c.remainingTtl('a')).toBe(0)
    expect(c.get('a')).toBe(undefined)
    expect(reasons).toEqual(['expire'])
    expect(c.stats().expirations).toBe(1)
    expect(c.size).toBe(0)
    checkInvariants(c)
  })

  test('delete of an expired entry returns false and reports expire', () => {
    const clock = manualClock()
    const reasons: EvictionReason[] = []
    const c = new L1Cache<string, number>({
      max: 10,
      ttl: 10,
      policy,
      clock: clock.now,
      onEvent: (e) => e.type === 'evict' && reasons.push(e.reason),
    })
    c.set('a', 1)
    clock.advance(10)
    expect(c.size).toBe(1)
    expect(c.delete('a')).toBe(false)
    expect(reasons).toEqual(['expire'])
    expect(c.size).toBe(0)
    checkInvariants(c)
  })

  test('per-entry ttl overrides the default; ttl 0 never expires', () => {
    const clock = manualClock()
    const c = new L1Cache<string, number>({ max: 10, ttl: 100, policy, clock: clock.now })
    c.set('short', 1, { ttl: 10 })
    c.set('forever', 2, { ttl: 0 })
    c.set('default', 3)
    expect(c.remainingTtl('forever')).toBe(Number.POSITIVE_INFINITY)
    expect(c.remainingTtl('missing')).toBe(0)
    clock.advance(50)
    expect(c.get('short')).toBe(undefined)
    expect(c.get('default')).toBe(3)
    clock.advance(1e9)
    expect(c.get('forever')).toBe(2)
    expect(c.get('default')).toBe(undefined)
    checkInvariants(c)
  })

  test('set renews the deadline; set with ttl 0 removes it', () => {
    const clock = manualClock()
    const c = new L1Cache<string, number>({ max: 10, ttl: 100, policy, clock: clock.now })
    c.set('a', 1)
    clock.advance(80)
    c.set('a', 2)
    clock.advance(80)
    expect(c.get('a')).toBe(2)
    c.set('a', 3, { ttl: 0 })
    clock.advance(1000)
    expect(c.get('a')).toBe(3)
    checkInvariants(c)
  })

  test('purgeStale removes expired entries and shrinks the storage', () => {
    const clock = manualClock()
    const c = new L1Cache<number, number>({
      max: 10_000,
      ttl: 100,
      policy,
      clock: clock.now,
      sweepInterval: 0,
    })
    for (let i = 0; i < 5000; i++) c.set(i, i)
    for (let i = 0; i < 10; i++) c.set(-i - 1, i, { ttl: 0 })
    const big = allocatedSlots(c)
    expect(big).toBeGreaterThanOrEqual(5010)
    clock.advance(100)
    expect(c.purgeStale()).toBe(5000)
    expect(c.size).toBe(10)
    expect(allocatedSlots(c)).toBeLessThan(big / 8)
    for (let i = 0; i < 10; i++) expect(c.get(-i - 1)).toBe(i)
    expect(c.purgeStale()).toBe(0)
    checkInvariants(c)
  })

  test('idle memory falls back: one unref’d sweep timer reclaims expired entries with no access', () => {
    vi.useFakeTimers()
    const clock = manualClock()
    const c = new L1Cache<number, { blob: string }>({ max: 10_000, ttl: 1000, policy, clock: clock.now })
    for (let i = 0; i < 6000; i++) c.set(i, { blob: `value ${i}` })
    // a single timer for the whole cache, never one per entry
    expect(vi.getTimerCount()).toBe(1)
    const big = allocatedSlots(c)
    clock.advance(1001)
    vi.advanceTimersByTime(3000)
    expect(c.size).toBe(0)
    expect(c.stats().expirations).toBe(6000)
    expect(allocatedSlots(c)).toBeLessThan(big / 8)
    // nothing left to expire: the timer stops
    expect(vi.getTimerCount()).toBe(0)
    checkInvariants(c)
  })

  test('a few expired entries are reclaimed on every insert (amortised sweep)', () => {
    const clock = manualClock()
    const c = new L1Cache<string, number>({ max: 1000, ttl: 10, policy, clock: clock.now, sweepInterval: 0 })
    for (let i = 0; i < 100; i++) c.set(`old${i}`, i)
    clock.advance(20)
    for (let i = 0; i < 100; i++) c.set(`new${i}`, i, { ttl: 0 })
    expect(c.size).toBeLessThan(200)
    expect(c.stats().expirations).toBeGreaterThan(0)
    checkInvariants(c)
  })
})

describe('remainingTtl', () => {
  test('whole milliseconds, rounded up: > 0 exactly while the entry is live', () => {
    let t = 1000.25
    const c = new L1Cache<string, number>({ max: 10, clock: () => t })
    c.set('a', 1, { ttl: 100 }) // deadline 1100.25
    expect(c.remainingTtl('a')).toBe(100)
    t = 1000.75
    expect(c.remainingTtl('a')).toBe(100) // 99.5 left: rounded up
    t = 1099.9
    expect(c.remainingTtl('a')).toBe(1) // 0.35 left
    expect(c.has('a')).toBe(true)
    t = 1100.25
    expect(c.remainingTtl('a')).toBe(0)
    expect(c.has('a')).toBe(false)
    t = 5000
    expect(c.remainingTtl('a')).toBe(0)
  })

  test('with the default coarse clock, every reading is an integer', async () => {
    const c = new L1Cache<string, number>({ max: 10, ttl: 60_000 })
    c.set('a', 1)
    const readings: number[] = []
    for (let i = 0; i < 5; i++) {
      readings.push(c.remainingTtl('a'))
      await sleep(3)
    }
    expect(readings.every((r) => Number.isInteger(r) && r > 0 && r <= 60_000)).toBe(true)
    expect(readings).toHaveLength(5)
  })
})

describe('default clock', () => {
  test('entries expire with the real coarse clock', async () => {
    const c = new L1Cache<string, number>({ max: 10, ttl: 5 })
    c.set('a', 1)
    expect(c.get('a')).toBe(1)
    await sleep(30)
    expect(c.get('a')).toBe(undefined)
    expect(c.has('a')).toBe(false)
  })
})

describe('grace', () => {
  test('getOrLoad serves the stale value once and refreshes it with one background load', async () => {
    const clock = manualClock()
    const c = new L1Cache<string, number>({ max: 10, ttl: 100, grace: 50, clock: clock.now })
    expect(c.grace).toBe(50)
    c.set('a', 1)
    clock.advance(120)
    // get never returns a stale value, and does not drop it inside the grace
    expect(c.get('a')).toBe(undefined)
    let calls = 0
    let release: (v: number) => void = () => {}
    const contexts: LoaderContext<string, number>[] = []
    const loader = (ctx: LoaderContext<string, number>): Promise<number> => {
      calls++
      contexts.push(ctx)
      return new Promise<number>((r) => {
        release = r
      })
    }
    expect(await c.getOrLoad('a', loader)).toBe(1)
    expect(await c.getOrLoad('a', loader)).toBe(1)
    expect(calls).toBe(1)
    expect(contexts.map((ctx) => [ctx.key, ctx.stale, ctx.signal.aborted])).toEqual([['a', 1, false]])
    // outcomes: the get was a miss, the two stale serves are `stale`, not hits
    const s = c.stats()
    expect([s.hits, s.misses, s.stale]).toEqual([0, 1, 2])
    expect(s.hitRatio).toBeCloseTo(2 / 3, 10)
    release(2)
    await new Promise((r) => setImmediate(r))
    expect(c.get('a')).toBe(2)
    expect(c.remainingTtl('a')).toBe(100)
  })

  test('a failed background refresh keeps the stale value and is reported', async () => {
    const clock = manualClock()
    const events: L1CacheEvent<string, number>[] = []
    const c = new L1Cache<string, number>({
      max: 10,
      ttl: 100,
      grace: 50,
      clock: clock.now,
      onEvent: (e) => events.push(e),
    })
    c.set('a', 1)
    clock.advance(110)
    const boom = new Error('db down')
    expect(
      await c.getOrLoad('a', () => {
        throw boom
      }),
    ).toBe(1)
    await new Promise((r) => setImmediate(r))
    expect(events).toEqual([{ type: 'refresh-error', key: 'a', error: boom }])
    expect(c.stats().loadErrors).toBe(1)
    // the next call serves the stale value again and starts a new refresh, which succeeds
    expect(await c.getOrLoad('a', () => 5)).toBe(1)
    await new Promise((r) => setImmediate(r))
    expect(c.get('a')).toBe(5)
    // past ttl + grace: the entry is reclaimed and the loader is awaited
    clock.advance(200)
    expect(await c.getOrLoad('a', () => 7)).toBe(7)
  })

  test('a throwing refresh-error listener is ignored (no unhandled rejection, the stale value still served)', async () => {
    const clock = manualClock()
    let calls = 0
    const c = new L1Cache<string, number>({
      max: 10,
      ttl: 100,
      grace: 50,
      clock: clock.now,
      onEvent: (e) => {
        if (e.type === 'refresh-error') {
          calls++
          throw new Error('listener failed')
        }
      },
    })
    c.set('a', 1)
    clock.advance(110)
    expect(await c.getOrLoad('a', () => Promise.reject(new Error('db down')))).toBe(1)
    await new Promise((r) => setImmediate(r))
    expect(calls).toBe(1)
    expect(await c.getOrLoad('a', () => 3)).toBe(1)
    await new Promise((r) => setImmediate(r))
    expect(c.get('a')).toBe(3)
  })
})
