import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { jitterTtl, TierkitTypeError, ttlFromValue } from '../src/index.js'

describe('jitterTtl', () => {
  it('stays within [ttl * (1 - jitter), ttl] and never below 1', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 315_360_000_000 }),
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
    // a TTL is an integer number of ms everywhere in the family (Redis takes only integer PX values)
    for (const [ttl, shown] of [
      [0, '0'],
      [-1, '-1'],
      [1.5, '1.5'],
      [Number.NaN, 'NaN'],
      [Number.POSITIVE_INFINITY, 'Infinity'],
      [315_360_000_001, '315360000001'],
      ['5', '"5"'],
    ] as const) {
      expect(() => jitterTtl(ttl as number, 0.1)).toThrowError(
        new TierkitTypeError(
          `jitterTtl: ttl must be a duration in ms, an integer from 1 to 315360000000, got ${shown}`,
        ),
      )
    }
    for (const j of [-0.1, 1.1, Number.NaN]) {
      expect(() => jitterTtl(1000, j)).toThrowError(
        new TierkitTypeError(`jitterTtl: jitter must be a number from 0 to 1, got ${j}`),
      )
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
    expect(err).toBeInstanceOf(TierkitTypeError)
    expect(err).toBeInstanceOf(TypeError)
    expect((err as TierkitTypeError).code).toBe('E_INVALID_ARGUMENT')
    expect((err as Error).message).toBe(
      'ttlFromValue: the TTL picked for "k" must be a positive number of ms, at most 315360000000, got -5',
    )
    expect(() => ttl('k', {})).toThrowError(
      new TierkitTypeError(
        'ttlFromValue: the TTL picked for "k" must be a positive number of ms, at most 315360000000, got undefined',
      ),
    )
    expect(() => ttl('k', { maxAge: 1e300 })).toThrowError(
      new TierkitTypeError(
        'ttlFromValue: the TTL picked for "k" must be a positive number of ms, at most 315360000000, got 1e+300',
      ),
    )
    expect(() => ttlFromValue(5 as never)).toThrowError(
      new TierkitTypeError('ttlFromValue: pick must be a function, got 5'),
    )
    expect(() => ttlFromValue(() => 1, 0)).toThrowError(
      new TierkitTypeError(
        'ttlFromValue: fallback must be a duration in ms, an integer from 1 to 315360000000, got 0',
      ),
    )
  })
})
