import { afterEach, describe, expect, test } from 'vitest'
import { L1Cache } from '../src/index.js'
import { type Miniature, MiniSim } from '../src/minisim.js'
import { TUNING } from '../src/tuning.js'

/** Miniatures that miss as told: `missing[i](h)` for the miniature of share `TUNING.shares[i]`. */
function scripted(missing: ((h: number) => number)[]) {
  let i = 0
  const made: { cap: number; share: number; period: number }[] = []
  const make = (cap: number, share: number, period: number): Miniature => {
    made.push({ cap, share, period })
    const f = missing[i++]!
    return { access: f }
  }
  return { make, made }
}

describe('MiniSim', () => {
  const defaults = { ...TUNING }
  afterEach(() => {
    Object.assign(TUNING, defaults)
  })

  test('samples 1 key in rate, a power of two, so that a miniature holds about miniSize entries', () => {
    TUNING.miniSize = 100
    const { make, made } = scripted(TUNING.shares.map(() => () => 0))
    const sim = new MiniSim(10_000, 1, 400_000, make)
    // 10000 / 64 = 156 >= 100 > 10000 / 128
    expect(sim.mask).toBe(63)
    expect(made.map((m) => m.share)).toEqual(TUNING.shares)
    expect(made.every((m) => m.cap === 157 && m.period === 6250)).toBe(true)
    let n = 0
    for (let h = 0; h < 64_000; h++) if (sim.sampled(Math.imul(h, 0x9e3779b1))) n++
    expect(n).toBeGreaterThan(800)
    expect(n).toBeLessThan(1200)
    // a small cache replays every key
    expect(new MiniSim(50, 1, 100, scripted(TUNING.shares.map(() => () => 0)).make).mask).toBe(0)
    expect(MiniSim.fits(0)).toBe(false)
    expect(MiniSim.fits(2 ** 40)).toBe(false)
  })

  test('follows the miniature with the fewest discounted misses, not for less than simMargin', () => {
    const last = TUNING.shares.length - 1
    // every miniature misses everything but the one of share 0.2, which hits every other access
    const target = TUNING.shares.indexOf(0.2)
    const { make } = scripted(TUNING.shares.map((_, i) => (i === target ? (h: number) => h & 1 : () => 1)))
    const sim = new MiniSim(50, 1, 100, make)
    expect(sim.leader).toBe(last)
    expect(sim.follow()).toBe(1)
    for (let h = 0; h < 1000; h++) sim.replay(h)
    expect(sim.follow()).toBe(0.2)
    expect(sim.leader).toBe(target)
  })

  test('a tie, or a lead under simMargin, keeps the current leader', () => {
    TUNING.simMargin = 0.5
    const { make } = scripted(
      TUNING.shares.map((_, i) => (i === 0 ? (h: number) => (h % 3 === 0 ? 0 : 1) : () => 1)),
    )
    const sim = new MiniSim(50, 0.5, 100, make)
    const start = sim.leader
    expect(TUNING.shares[start]).toBe(0.5)
    for (let h = 0; h < 1000; h++) sim.replay(h)
    // share 0.01 misses a third less: under the margin of a half
    expect(sim.follow()).toBe(0.5)
  })

  test('a cache bounded by weight, or with the miniatures off, starts at the initial window and uses the climber', () => {
    expect(new L1Cache({ max: 100 }).stats().windowRatio).toBe(TUNING.simStart)
    expect(new L1Cache({ maxSize: 100 }).stats().windowRatio).toBe(TUNING.initialWindow)
    TUNING.sim = false
    expect(new L1Cache({ max: 100 }).stats().windowRatio).toBe(TUNING.initialWindow)
  })
})
