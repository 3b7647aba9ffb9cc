import { describe, expect, test } from 'vitest'
import { seeded, zipf } from '../src/random.js'

describe('seeded randomness', () => {
  test('seeded: the same seed gives the same stream, another seed another one, all in [0, 1)', () => {
    const a = Array.from({ length: 1000 }, seeded(7))
    const b = Array.from({ length: 1000 }, seeded(7))
    const c = Array.from({ length: 1000 }, seeded(8))
    expect(a).toEqual(b)
    expect(a).not.toEqual(c)
    for (const x of a) expect(x >= 0 && x < 1).toBe(true)
    expect(new Set(a).size).toBeGreaterThan(990)
  })

  test('zipf: ranks 1..n, rank k about 1/k^s as often as rank 1', () => {
    const draw = zipf(100, 1, seeded(3))
    const counts = new Array<number>(101).fill(0)
    for (let i = 0; i < 200_000; i++) {
      const k = draw()
      expect(Number.isInteger(k) && k >= 1 && k <= 100).toBe(true)
      counts[k]!++
    }
    expect(counts[0]).toBe(0)
    // P(1)/P(2) = 2 and P(1)/P(10) = 10 for s = 1, within sampling noise
    expect(counts[1]! / counts[2]!).toBeGreaterThan(1.85)
    expect(counts[1]! / counts[2]!).toBeLessThan(2.15)
    expect(counts[1]! / counts[10]!).toBeGreaterThan(8.5)
    expect(counts[1]! / counts[10]!).toBeLessThan(11.5)
  })

  test('zipf: bad arguments are a TypeError naming the argument', () => {
    expect(() => zipf(0, 1)).toThrow(new TypeError('zipf: n must be a positive integer'))
    expect(() => zipf(2.5, 1)).toThrow(new TypeError('zipf: n must be a positive integer'))
    expect(() => zipf(10, 0)).toThrow(new TypeError('zipf: s must be a positive finite number'))
    expect(() => zipf(10, Number.NaN)).toThrow(new TypeError('zipf: s must be a positive finite number'))
    expect(() => zipf(10, Number.POSITIVE_INFINITY)).toThrow(TypeError)
  })
})
