import { L1Cache } from '@tierkit/l1-cache'
import { describe, expect, expectTypeOf, it } from 'vitest'
import type { Cache, CacheObserver, L1Store } from '../src/index.js'
import { MapL1 } from './helpers.js'

/**
 * The API documented for `L1Cache` in packages/l1-cache/README.md: `new L1Cache({ max, ttl })`,
 * `get(key)`, `set(key, value, { ttl })`, `delete(key)`, `clear()`. Checked by `tsc` (typecheck script) and
 * by vitest's type assertions.
 */
interface DocumentedL1Cache<K, V> {
  get(key: K): V | undefined
  set(key: K, value: V, options?: { ttl?: number }): this
  delete(key: K): boolean
  clear(): void
}

describe('the l1 shape', () => {
  it('L1Cache from @tierkit/l1-cache fits `l1`', () => {
    expectTypeOf<L1Cache<string, unknown>>().toExtend<L1Store>()
    expectTypeOf<L1Cache<string, { id: number }>>().toExtend<L1Store>()
    const l1: L1Store = new L1Cache({ max: 10, ttl: 60_000 })
    l1.set('a', { v: 1 }, { ttl: 1000 })
    expect(l1.get('a')).toEqual({ v: 1 })
    l1.delete('a')
    expect(l1.get('a')).toBeUndefined()
  })

  it('an L1Cache-shaped object fits `l1`; objects missing a method do not', () => {
    expectTypeOf<DocumentedL1Cache<string, unknown>>().toExtend<L1Store>()
    expectTypeOf<MapL1>().toExtend<L1Store>()
    expectTypeOf<{
      get(key: string): unknown
      set(key: string, value: unknown): unknown
    }>().not.toExtend<L1Store>()
    expectTypeOf<Omit<DocumentedL1Cache<string, unknown>, 'clear'>>().not.toExtend<L1Store>()
    // a cache's surface is what @tierkit/invalidation relies on
    expectTypeOf<Cache>().toHaveProperty('evictLocal')
    expectTypeOf<Cache['deleteMany']>().parameters.toEqualTypeOf<[keys: readonly string[]]>()
    // the metrics observer contract
    expectTypeOf<{
      record(layer: string, outcome: string, duration?: number): void
    }>().toExtend<CacheObserver>()
    const l1: L1Store = new MapL1()
    l1.set('a', 1, { ttl: 1000 })
    expect(l1.get('a')).toBe(1)
  })
})
