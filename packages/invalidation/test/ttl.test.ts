import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { InvalidArgumentError, jitterTtl, ttlFromValue } from '../src/index.js'

describe('jitterTtl', () => {
  it('stays within [ttl * (1 - jitter), ttl] and never below 1', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.001, max: 1e9, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 0.999999, noNaN: true }),
        (ttl, jitter, r) => {
          const t = jitterTtl(ttl, jitter, () => r)
          expect(Number.isInteger(t)).toBe(true)
          expect(t).toBeGreaterThanOrEqual(Math.max(1, Math.floor(ttl * (1 - jitter))))
          expect(t).toBeLessThanOrEqual(Math.max(1, Math.ceil(ttl)))
        },
      ),
    )
  })

  it('spreads the TTLs of entries written together', () => {
    const ttls = new Set(Array.from({ length: 200 }, () => jitterTtl(60_000, 0.2)))
    expect(ttls.size).toBeGreaterThan(50)
    for (const t of ttls) expect(t).toBeGreaterThanOrEqual(48_000)
    expect(jitterTtl(60_000, 0)).toBe(60_000)
  })

  it('refuses bad arguments with exact messages', () => {
    for (const ttl of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, '5' as unknown as number]) {
      expect(() => jitterTtl(ttl, 0.1)).toThrow(
        new InvalidArgumentError('jitterTtl: ttl must be a positive number'),
      )
    }
    for (const j of [-0.1, 1.1, Number.NaN]) {
      expect(() => jitterTtl(1000, j)).toThrow('jitterTtl: jitter must be a number between 0 and 1')
    }
  })
})

describe('ttlFromValue', () => {
  it('derives the TTL from the value, with a fallback', () => {
    const ttl = ttlFromValue((v: { maxAge?: number }) => v.maxAge, 1000)
    expect(ttl('a', { maxAge: 2500.2 })).toBe(2501)
    expect(ttl('b', {})).toBe(1000)
  })

  it('throws a typed error when the value gives no usable TTL', () => {
    const ttl = ttlFromValue((v: { maxAge?: number }) => v.maxAge)
    const err = (() => {
      try {
        ttl('k', { maxAge: -5 })
      } catch (e) {
        return e
      }
    })()
    expect(err).toBeInstanceOf(InvalidArgumentError)
    expect((err as InvalidArgumentError).code).toBe('E_INVALID_ARGUMENT')
    expect((err as Error).message).toBe('ttlFromValue: the TTL of "k" is not a positive number')
    expect(() => ttl('k', {})).toThrow('ttlFromValue: the TTL of "k" is not a positive number')
    expect(() => ttlFromValue(5 as never)).toThrow('ttlFromValue: pick must be a function')
    expect(() => ttlFromValue(() => 1, 0)).toThrow('ttlFromValue: fallback must be a positive number')
  })
})
