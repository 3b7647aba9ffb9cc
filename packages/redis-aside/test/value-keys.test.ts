import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { keyPrefix, ValueKeys } from '../src/keys.js'

/** The two generations inside a ValueKeys. */
const inside = (memo: ValueKeys) =>
  memo as unknown as { young: Map<string, string>; old: Map<string, string> }
const remembered = (memo: ValueKeys, key: string) => inside(memo).young.has(key) || inside(memo).old.has(key)

describe('ValueKeys (the memoised value keys of the L1-hit path)', () => {
  const prefix = `${keyPrefix('users')}v:`

  it('always gives prefix + key, remembered or not, across generations, for short and long keys', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            key: fc.oneof(
              fc.string(),
              fc.integer({ min: 0, max: 9000 }).map(String),
              fc.string({ minLength: 257 }),
            ),
            hit: fc.boolean(),
          }),
        ),
        (calls) => {
          const memo = new ValueKeys(prefix)
          for (const { key, hit } of calls) {
            expect(memo.of(key)).toBe(prefix + key)
            if (hit) memo.hit()
          }
        },
      ),
      { numRuns: 300 },
    )
  })

  it('remembers a key only after an L1 hit, never a key longer than 256 characters', () => {
    const memo = new ValueKeys(prefix)
    memo.of('cold')
    expect(remembered(memo, 'cold')).toBe(false)
    memo.of('hot')
    memo.hit()
    expect(remembered(memo, 'hot')).toBe(true)
    memo.hit() // nothing pending: no effect
    expect(inside(memo).young.size).toBe(1)
    const long = 'x'.repeat(257)
    expect(memo.of(long)).toBe(prefix + long)
    memo.hit()
    expect(remembered(memo, long)).toBe(false)
  })

  it('keeps a key read again after its generation was retired, and stays bounded', () => {
    const memo = new ValueKeys(prefix)
    memo.of('hot')
    memo.hit()
    // 10,000 other keys that hit: more than two generations of 4,096
    for (let i = 0; i < 10_000; i++) {
      expect(memo.of(`k${i}`)).toBe(`${prefix}k${i}`)
      memo.hit()
      if (i % 1000 === 0) expect(memo.of('hot')).toBe(`${prefix}hot`)
    }
    expect(remembered(memo, 'hot')).toBe(true)
    expect(remembered(memo, 'k0')).toBe(false)
    expect(inside(memo).young.size + inside(memo).old.size).toBeLessThanOrEqual(2 * 4096)
  })
})
