/**
 * Contract suites for your own implementations of the family's interfaces, run with vitest (an optional peer
 * of this subpath): one `describe` block a call, the way unstorage's driver suite and bentocache's test suite
 * work. Import them in a test file of yours:
 *
 * ```ts
 * import { testStore } from '@tierkit/contracts/testing'
 * testStore('my PostgreSQL store', async () => {
 *   const store = await openMyStore()
 *   return { store, read: (key) => store.peek(key), close: () => store.end() }
 * })
 * ```
 *
 * @packageDocumentation
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { L1Store, Store } from './types.js'

/** What `testStore`'s factory returns: a fresh, empty store and a way to read what it holds. */
export interface StoreUnderTest<T = unknown> {
  /** The store under test (empty). */
  store: Store<T>
  /** What the store holds for `key` now (`undefined` when absent or removed); may return a Promise. */
  read(key: string): unknown
  /** Called after each test. */
  close?(): unknown
}

const RESULTS: ReadonlySet<unknown> = new Set([undefined, true, false])

/**
 * The contract of a version-honouring `Store` (what write-behind needs): a write applies only when its version
 * is greater than the one held for the key, removals included; an unversioned write applies unconditionally;
 * `save`/`remove` resolve to `undefined`, `true` or `false`; `saveMany`, when present, applies every write or
 * none, with the same version rule.
 */
export function testStore(name: string, factory: () => StoreUnderTest | Promise<StoreUnderTest>): void {
  describe(`Store contract: ${name}`, () => {
    let current: StoreUnderTest | undefined
    const open = async (): Promise<StoreUnderTest> => {
      current = await factory()
      return current
    }
    afterEach(async () => {
      await current?.close?.()
      current = undefined
    })

    it('an unversioned save and remove apply unconditionally', async () => {
      const { store, read } = await open()
      expect(RESULTS.has(await store.save('k', { n: 1 }, { version: undefined }))).toBe(true)
      expect(await read('k')).toEqual({ n: 1 })
      await store.save('k', { n: 2 }, { version: undefined })
      expect(await read('k')).toEqual({ n: 2 })
      expect(RESULTS.has(await store.remove('k', { version: undefined }))).toBe(true)
      expect(await read('k')).toBeUndefined()
    })

    it('a versioned save applies only above the version held: lower and equal versions are skipped', async () => {
      const { store, read } = await open()
      expect(await store.save('k', 'v5', { version: 5 })).not.toBe(false)
      expect(await read('k')).toBe('v5')
      const lower = await store.save('k', 'v3', { version: 3 })
      const equal = await store.save('k', 'v5-again', { version: 5 })
      expect(RESULTS.has(lower) && RESULTS.has(equal)).toBe(true)
      expect(lower).not.toBe(true)
      expect(equal).not.toBe(true)
      expect(await read('k')).toBe('v5')
      expect(await store.save('k', 'v9', { version: 9 })).not.toBe(false)
      expect(await read('k')).toBe('v9')
    })

    it('a versioned remove keeps its version: an older save after it does not bring the key back', async () => {
      const { store, read } = await open()
      await store.save('k', 'v1', { version: 1 })
      await store.remove('k', { version: 4 })
      expect(await read('k')).toBeUndefined()
      const late = await store.save('k', 'v2', { version: 2 }) // a retry that arrives late
      expect(late).not.toBe(true)
      expect(await read('k')).toBeUndefined()
      await store.save('k', 'v7', { version: 7 })
      expect(await read('k')).toBe('v7')
      // an older remove does not delete a newer value either
      const oldRemove = await store.remove('k', { version: 6 })
      expect(oldRemove).not.toBe(true)
      expect(await read('k')).toBe('v7')
    })

    it('keys are independent, and values come back as they were saved', async () => {
      const { store, read } = await open()
      const value = { name: 'Ada', tags: ['a', 'b'], nested: { n: 1, ok: true, none: null } }
      await store.save('a', value, { version: 10 })
      await store.save('b', 'other', { version: 1 })
      expect(await read('a')).toEqual(value)
      expect(await read('b')).toBe('other')
      await store.remove('b', { version: 2 })
      expect(await read('a')).toEqual(value)
    })

    it('saveMany, when present, follows the same version rule for each write', async () => {
      const { store, read } = await open()
      if (store.saveMany === undefined) {
        expect(store.saveMany).toBeUndefined() // optional: nothing more to check
        return
      }
      await store.save('x', 'x5', { version: 5 })
      await store.saveMany([
        { key: 'x', value: 'x3', version: 3 },
        { key: 'y', value: 'y1', version: 1 },
      ])
      expect(await read('x')).toBe('x5')
      expect(await read('y')).toBe('y1')
    })
  })
}

/** What `testL1Store`'s factory returns: a fresh, empty L1 store (room for at least 100 entries). */
export interface L1StoreUnderTest {
  /** The store under test. */
  l1: L1Store
  /** Advances the store's clock by `ms` (for stores with an injectable clock); omit to skip the TTL test. */
  advance?(ms: number): void | Promise<void>
  /** Called after each test. */
  close?(): unknown
}

/**
 * The contract of an `L1Store` (what redis-aside needs of an L1): `get` returns what `set` stored (falsy values
 * included) or `undefined`; `delete` and `clear` remove; a `ttl` is honoured when the store's clock can be
 * advanced.
 */
export function testL1Store(name: string, factory: () => L1StoreUnderTest | Promise<L1StoreUnderTest>): void {
  describe(`L1Store contract: ${name}`, () => {
    let current: L1StoreUnderTest | undefined
    const open = async (): Promise<L1StoreUnderTest> => {
      current = await factory()
      return current
    }
    afterEach(async () => {
      await current?.close?.()
      current = undefined
    })

    it('returns what was set, falsy values included, and undefined for an absent key', async () => {
      const { l1 } = await open()
      const values: unknown[] = [0, '', false, null, { a: 1 }, [1, 2]]
      for (const [i, v] of values.entries()) l1.set(`k${i}`, v)
      for (const [i, v] of values.entries()) expect(l1.get(`k${i}`)).toEqual(v)
      expect(l1.get('absent')).toBeUndefined()
    })

    it('delete removes one key, clear removes every key', async () => {
      const { l1 } = await open()
      l1.set('a', 1)
      l1.set('b', 2)
      l1.delete('a')
      expect([l1.get('a'), l1.get('b')]).toEqual([undefined, 2])
      l1.clear()
      expect(l1.get('b')).toBeUndefined()
    })

    it('a value set again replaces the old one', async () => {
      const { l1 } = await open()
      l1.set('a', 'old')
      l1.set('a', 'new')
      expect(l1.get('a')).toBe('new')
    })

    it('an entry set with a ttl is gone once the ttl has passed (when the clock can be advanced)', async () => {
      const t = await open()
      t.l1.set('short', 1, { ttl: 1000 })
      t.l1.set('long', 2, { ttl: 60_000 })
      if (t.advance === undefined) {
        expect(t.l1.get('short')).toBe(1) // no clock to advance: only the fresh read is checked
        return
      }
      await t.advance(1001)
      expect(t.l1.get('short')).toBeUndefined()
      expect(t.l1.get('long')).toBe(2)
    })
  })
}
