import { describe, expect, test } from 'vitest'
import { loopOver, phaseChanges, recencyHeavy, zipfWithScans } from '../bench/workloads.js'
import { WindowClimber } from '../src/climber.js'
import { L1Cache, type Policy } from '../src/index.js'
import { TUNING } from '../src/tuning.js'
import { checkInvariants } from './helpers.js'

/** Hits of the policy study's get-then-set-on-miss loop for a fresh cache of `max` entries. */
function hits(stream: ArrayLike<number>, max: number, policy: Policy): number {
  const c = new L1Cache<number, number>({ max, policy })
  let n = 0
  for (let i = 0; i < stream.length; i++) {
    const k = stream[i]!
    if (c.get(k) !== undefined) n++
    else c.set(k, k)
  }
  checkInvariants(c)
  return n
}

/** Sweeps up and down over `n` keys, `sweeps` times (the LIRS zigzag pattern: LRU is optimal). */
function zigzag(n: number, sweeps: number): number[] {
  const out: number[] = []
  for (let s = 0; s < sweeps; s++) for (let i = 0; i < n; i++) out.push(s % 2 === 0 ? i : n - 1 - i)
  return out
}

/** Points of hit ratio (percent) between two hit counts of a stream of `refs` references. */
const points = (a: number, b: number, refs: number): number => (100 * (a - b)) / refs

describe('the adaptive window: never far below LRU where recency wins, far above it where frequency does', () => {
  // each case: hit counts are deterministic (seeded streams, no clock), so the bounds hold exactly
  test.each([
    ['zigzag 2000 keys, cap 400 (LRU optimal; 0.2 lost 13.9 points)', zigzag(2000, 26), 400],
    ['zigzag 2000 keys, cap 100 (0.2 lost 1.1 points)', zigzag(2000, 26), 100],
    ['recency-heavy, depth 40, cap 100 (0.2 lost 0.61 points)', recencyHeavy(200_000, 40, 0.2), 100],
    ['recency-heavy, depth 300, cap 1000', recencyHeavy(500_000, 300, 0.1), 1000],
  ] as const)('%s: at most 0.5 point below LRU', (_name, stream, max) => {
    const lru = hits(stream, max, 'lru')
    const ours = hits(stream, max, 'tinylfu')
    expect(lru).toBeGreaterThan(stream.length / 200)
    expect(points(ours, lru, stream.length)).toBeGreaterThanOrEqual(-0.5)
  })

  test.each([
    ['zigzag 2000 keys, cap 400', zigzag(2000, 26), 400],
    ['zigzag 2000 keys, cap 100', zigzag(2000, 26), 100],
    ['zigzag 2000 keys, cap 20', zigzag(2000, 26), 20],
  ] as const)(
    '%s: the miniatures keep LRU, hit for hit (the density climber lost 0.1-0.4 point)',
    (_name, stream, max) => {
      expect(hits(stream, max, 'tinylfu')).toBe(hits(stream, max, 'lru'))
    },
  )

  test.each([
    ['a loop over 1.5 x the capacity: 50', loopOver(1500, 300_000), 1000, 50],
    [
      'Zipf 0.9 over 5000 keys, a 3000-key scan every 10k accesses: 3',
      zipfWithScans(5000, 0.9, 500_000, 10_000, 3000),
      1000,
      3,
    ],
    ['phase changes (recency, loop, Zipf over fresh keys): 5', phaseChanges(9, 100_000, 1500), 1000, 5],
  ] as const)('scan resistance, %s points above LRU at least', (_name, stream, max, margin) => {
    const lru = hits(stream, max, 'lru')
    const ours = hits(stream, max, 'tinylfu')
    expect(points(ours, lru, stream.length)).toBeGreaterThanOrEqual(margin)
  })
})

describe('WindowClimber', () => {
  const CAP = 1000
  /** Feeds one sample of `ops` lookups with `h` hits, `wh` of them in the window; returns the move. */
  function sampler(c: WindowClimber) {
    let hits = 0
    let windowHits = 0
    let ops = 0
    return (h: number, wh: number, n: number, windowMax: number): number => {
      hits += h
      windowHits += wh
      ops += n
      const m = c.move(hits, windowHits, windowHits, ops, windowMax, windowMax, CAP - windowMax)
      c.startSample(hits, windowHits, windowHits, ops)
      return m
    }
  }

  test('moves towards the denser region, by at most maxMove of the capacity', () => {
    const feed = sampler(new WindowClimber(CAP, 10))
    // the window (100 units) earns 2000 hits, the main space (900 units) 1: grow, by the cap
    expect(feed(2001, 2000, 2500, 100)).toBe(TUNING.maxMove * CAP)
    // a smaller difference, a smaller move
    const some = feed(600, 500, 2500, 100)
    expect(some).toBeGreaterThan(0)
    expect(some).toBeLessThan(TUNING.maxMove * CAP)
    // the main space is denser: shrink
    expect(feed(600, 10, 2500, 500)).toBeLessThan(0)
    // equal densities: the bias shrinks the window a little (frequency wins ties)
    const tie = feed(1000, 500, 2500, 500)
    expect(tie).toBeLessThan(0)
    expect(tie).toBeCloseTo(-TUNING.bias * TUNING.gain * CAP, 6)
    // no lookup since the last sample, or no hit: no move
    expect(feed(0, 0, 0, 500)).toBe(0)
    expect(feed(0, 0, 2500, 500)).toBe(0)
  })

  test('a starved floor is probed; a probe that does not pay is undone and the next waits twice as long', () => {
    const feed = sampler(new WindowClimber(CAP, 10))
    // window at its floor (10 units) earning nothing while the main space earns: starved
    let m = 0
    let samples = 0
    while (m <= 0 && samples++ < 100) m = feed(500, 0, 2500, 10)
    expect(samples).toBe(Math.max(TUNING.horizon, TUNING.probeWait))
    expect(m).toBe(TUNING.probeSize * CAP)
    const at = 10 + TUNING.probeSize * CAP
    // the probe earns less than before: after its samples it moves back exactly to the floor
    const during: number[] = []
    for (let i = 0; i < TUNING.probeSettle + TUNING.probeLen; i++) during.push(feed(300, 100, 2500, at))
    expect(during.slice(0, -1)).toEqual(during.slice(0, -1).map(() => 0))
    expect(during.at(-1)).toBe(10 - at)
    // the next probe comes only after twice the wait (and a full horizon of samples again)
    m = 0
    samples = 0
    while (m <= 0 && samples++ < 100) m = feed(500, 0, 2500, 10)
    expect(samples).toBe(Math.max(TUNING.horizon, 2 * TUNING.probeWait))
    expect(m).toBe(TUNING.probeSize * CAP)
  })

  test('a probe that pays is kept', () => {
    const feed = sampler(new WindowClimber(CAP, 10))
    let m = 0
    let n = 0
    while (m <= 0 && n++ < 100) m = feed(200, 0, 2500, 10)
    expect(m).toBe(TUNING.probeSize * CAP)
    const at = 10 + m
    const during: number[] = []
    for (let i = 0; i < TUNING.probeSettle + TUNING.probeLen; i++) during.push(feed(1500, 1400, 2500, at))
    expect(during).toEqual(during.map(() => 0))
    // and density steering resumes from there
    expect(feed(1500, 1400, 2500, at)).toBeGreaterThan(0)
  })

  test('a window at 100% is probed only after the hit ratio collapsed', () => {
    const feed = sampler(new WindowClimber(CAP, 10))
    // LRU (window 100%) doing well: no probe, whatever the main space (empty) earns
    for (let i = 0; i < 4 * TUNING.horizon; i++) expect(feed(1000, 1000, 2500, CAP)).toBeGreaterThanOrEqual(0)
    // the hit ratio collapses (a loop larger than the cache): after a horizon a probe moves the window down
    const moves: number[] = []
    for (let i = 0; i < 2 * TUNING.horizon; i++) moves.push(feed(0, 0, 2500, CAP))
    expect(moves.filter((x) => x < 0)).toEqual([-TUNING.probeSizeTop * CAP])
  })
})
