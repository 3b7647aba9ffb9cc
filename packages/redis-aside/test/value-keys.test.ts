import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { keyPrefix, ValueKeys } from '../src/keys.js'

describe('ValueKeys (the memoised value keys of the L1-hit path)', () => {
  const prefix = `${keyPrefix('users')}v:`

  it('always gives prefix + key, across generations, for short and long keys', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(fc.string(), fc.integer({ min: 0, max: 9000 }).map(String), fc.string({ minLength: 257 })),
        ),
        (keys) => {
          const memo = new ValueKeys(prefix)
          for (const key of keys) expect(memo.of(key)).toBe(prefix + key)
        },
      ),
      { numRuns: 300 },
    )
  })

  it('keeps a key read again after its generation was retired, and stays bounded', () => {
    const memo = new ValueKeys(prefix)
    const first = memo.of('hot')
    // 10,000 other keys: more than two generations of 4,096
    for (let i = 0; i < 10_000; i++) {
      expect(memo.of(`k${i}`)).toBe(`${prefix}k${i}`)
      if (i % 1000 === 0) expect(memo.of('hot')).toBe(first)
    }
    expect(memo.of('hot')).toBe(`${prefix}hot`)
    const sizes = memo as unknown as { young: Map<string, string>; old: Map<string, string> }
    expect(sizes.young.size + sizes.old.size).toBeLessThanOrEqual(2 * 4096)
    expect(memo.of('x'.repeat(300))).toBe(`${prefix}${'x'.repeat(300)}`)
    expect(sizes.young.has('x'.repeat(300))).toBe(false)
  })
})
