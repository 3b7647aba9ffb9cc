import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { keyPrefix, ValueKeys } from '../src/keys.js'

/** The memo inside a ValueKeys. */
const memoOf = (keys: ValueKeys) => (keys as unknown as { memo: Map<string, string> }).memo

/** `n` getOrLoad-shaped L1 hits of `key`: `of`, then `hit`. */
function hits(keys: ValueKeys, key: string, n: number): void {
  for (let i = 0; i < n; i++) {
    keys.of(key)
    keys.hit()
  }
}

describe('ValueKeys (the memoised value keys of the L1-hit path)', () => {
  const prefix = `${keyPrefix('users')}v:`

  it('always gives prefix + key, remembered or not, for short and long keys', () => {
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
          { maxLength: 200 },
        ),
        (calls) => {
          const keys = new ValueKeys(prefix)
          for (const { key, hit } of calls) {
            expect(keys.of(key)).toBe(prefix + key)
            if (hit) keys.hit()
          }
        },
      ),
      { numRuns: 300 },
    )
  })

  it('remembers a key within 8 L1 hits, never a key that only misses, never one over 256 characters', () => {
    const keys = new ValueKeys(prefix)
    for (let i = 0; i < 20; i++) keys.of('cold') // misses: no hit()
    expect(memoOf(keys).has('cold')).toBe(false)
    hits(keys, 'hot', 8)
    expect(memoOf(keys).get('hot')).toBe(`${prefix}hot`)
    keys.hit() // nothing pending: no effect
    expect(memoOf(keys).size).toBe(1)
    const long = 'x'.repeat(257)
    hits(keys, long, 16)
    expect(keys.of(long)).toBe(prefix + long)
    expect(memoOf(keys).has(long)).toBe(false)
  })

  it('stays bounded: a full memo starts afresh, and a hot key comes back within 8 hits', () => {
    const keys = new ValueKeys(prefix)
    for (let i = 0; i < 10_000; i++) hits(keys, `k${i}`, 8)
    expect(memoOf(keys).size).toBeLessThanOrEqual(4096)
    expect(memoOf(keys).size).toBeGreaterThan(0)
    hits(keys, 'hot', 8)
    expect(memoOf(keys).has('hot')).toBe(true)
    expect(keys.of('hot')).toBe(`${prefix}hot`)
  })
})
