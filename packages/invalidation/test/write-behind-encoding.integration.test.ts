/**
 * The default write-behind encoding is JSON, and it refuses what JSON would change (issue 15, defect 6):
 * before, a Map reached the database as {} while the cache held the Map. A refused value is neither queued
 * nor cached; what is accepted reaches the Store exactly as the cache holds it.
 */
import { describe, expect, it } from 'vitest'
import { jsonSerializer, queueKeys, UnserializableValueError, writeBehind } from '../src/index.js'
import { makeCache } from './helpers/cache.js'
import { MemoryStore } from './helpers/memory-store.js'
import { useRedisFixture } from './helpers/redis.js'

const fx = useRedisFixture()

class Point {
  constructor(
    readonly x: number,
    readonly y: number,
  ) {}
}

function cyclic(): unknown {
  const a: Record<string, unknown> = { name: 'a', children: [] }
  ;(a.children as unknown[]).push({ parent: a })
  return a
}

function withAccessor(): unknown {
  return Object.defineProperty({ a: 1 }, 'b', { enumerable: true, get: () => 2 })
}

function withHiddenProperty(): unknown {
  return Object.defineProperty({ a: 1 }, 'secret', { enumerable: false, value: 2 })
}

function sparse(): unknown {
  const a = [1, 2, 3]
  delete a[1]
  return a
}

function arrayWithProperty(): unknown {
  return Object.assign([1, 2], { extra: true })
}

// [description, value, path of the offending property]
const LOSSY: Array<[string, unknown, string]> = [
  ['a Map', new Map([['a', 1]]), '$'],
  ['a nested Map', { user: { roles: new Map([['admin', true]]) } }, '$.user.roles'],
  ['a Set', { tags: new Set(['x']) }, '$.tags'],
  ['a Date', { at: new Date(0) }, '$.at'],
  ['a bigint', { n: 10n }, '$.n'],
  ['an undefined property', { a: 1, b: undefined }, '$.b'],
  ['an undefined array element', [1, undefined, 3], '$[1]'],
  ['a sparse array', sparse(), '$[1]'],
  ['NaN', { score: Number.NaN }, '$.score'],
  ['Infinity', { list: [1, Number.POSITIVE_INFINITY] }, '$.list[1]'],
  ['-0', { t: -0 }, '$.t'],
  ['a function', { f: () => 1 }, '$.f'],
  ['a symbol value', { s: Symbol('s') }, '$.s'],
  ['a symbol key', { [Symbol('k')]: 1 }, '$[Symbol(k)]'],
  ['a class instance', { p: new Point(1, 2) }, '$.p'],
  ['a boxed primitive', { n: Object(1) as unknown }, '$.n'],
  ['a typed array', { bytes: new Uint8Array([1]) }, '$.bytes'],
  ['a cycle', cyclic(), '$.children[0].parent'],
  ['an accessor property', withAccessor(), '$.b'],
  ['a non-enumerable property', withHiddenProperty(), '$.secret'],
  ['an array with a named property', arrayWithProperty(), '$.extra'],
  ['an odd key', { 'a b': { c: new Set() } }, '$["a b"].c'],
]

let queues = 0

describe('write-behind default encoding', () => {
  it.each(LOSSY)(
    'refuses %s with E_UNSERIALIZABLE and the path; nothing queued, cache untouched',
    async (_, value, path) => {
      const redis = fx.client()
      const name = `enc${++queues}`
      const { cache } = makeCache(fx.url(), name)
      await cache.set('k', 'before')
      const wb = writeBehind<unknown>({ redis, name, cache })
      const err = await wb.write('k', value).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(UnserializableValueError)
      expect(err).toMatchObject({ code: 'E_UNSERIALIZABLE', key: 'k', path })
      expect(String((err as Error).message)).toContain(path)
      expect(await redis.exists(queueKeys(name).stream)).toBe(0)
      expect(await cache.get('k')).toBe('before')
      // the same with jsonSerializer given explicitly
      const explicit = writeBehind<unknown>({ redis, name, cache, serializer: jsonSerializer })
      await expect(explicit.write('k', value)).rejects.toMatchObject({ code: 'E_UNSERIALIZABLE', path })
      expect(await redis.exists(queueKeys(name).stream)).toBe(0)
      expect(await cache.get('k')).toBe('before')
    },
  )

  it('accepts what JSON keeps exactly, and the Store gets what the cache holds', async () => {
    const redis = fx.client()
    const { cache } = makeCache(fx.url(), 'enc-ok')
    const store = new MemoryStore<unknown>()
    const wb = writeBehind<unknown>({ redis, name: 'enc-ok', cache, flusher: { store, blockMs: 50 } })
    fx.closers.push(() => wb.close(5_000))
    const shared = { id: 7 }
    const values: Record<string, unknown> = {
      nested: { a: [1, 'two', null, true, { b: [[], {}] }], s: 'é 🙂 \u0000 "q"', n: -1.5e-300 },
      nullProto: Object.assign(Object.create(null) as object, { x: 1 }),
      shared: { left: shared, right: shared }, // the same object twice (not a cycle): JSON copies it
      scalars: [0, 1, Number.MAX_SAFE_INTEGER, 'x', false],
      proto: JSON.parse('{"__proto__": {"polluted": true}}') as unknown,
      string: 'plain',
      nil: null,
    }
    for (const [k, v] of Object.entries(values)) await wb.write(k, v)
    await wb.flush(10_000)
    for (const [k, v] of Object.entries(values)) {
      expect(store.value(k)).toEqual(JSON.parse(JSON.stringify(v)))
      expect(JSON.stringify(store.value(k))).toBe(JSON.stringify(v))
    }
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined()
  })
})
