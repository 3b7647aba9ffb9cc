/**
 * The write-behind queue encodes with the family's exact serializer (`exactSerializer` of @tierkit/contracts,
 * the one redis-aside uses for Redis values), so a value round-trips identically through cache, queue and
 * database: Map, Set, Date, bigint, Buffer, Uint8Array, NaN, ±Infinity, -0 and `undefined` (kept apart from
 * `null`), at any depth. Before, the queue was JSON and refused all of these (issue 15, defect 6; issue 16).
 * What the serializer cannot encode exactly is refused with UnserializableValueError, with its path, before
 * anything is queued or cached.
 */
import { exactSerializer } from '@tierkit/contracts'
import { describe, expect, it } from 'vitest'
import { queueKeys, UnserializableValueError, writeBehind } from '../src/index.js'
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

// [description, value, path of the offending part, reason]: what the exact serializer cannot encode, or would
// change silently (a symbol key, a hidden or accessor property, a hole, a named property of an array): the
// serializer itself refuses all of it, for the queue as for redis-aside's Redis values
const REFUSED: Array<[string, unknown, string, string]> = [
  ['a function', { f: () => 1 }, '$.f', 'a function'],
  ['a symbol value', { s: Symbol('s') }, '$.s', 'a symbol'],
  ['a symbol key', { [Symbol('k')]: 1 }, '$[Symbol(k)]', 'a symbol key'],
  ['a class instance', { p: new Point(1, 2) }, '$.p', 'an instance of Point'],
  ['a boxed primitive', { n: Object(1) as unknown }, '$.n', 'an instance of Number'],
  [
    'a typed array other than Uint8Array',
    { floats: new Float64Array([1.5]) },
    '$.floats',
    'an instance of Float64Array',
  ],
  ['a cycle', cyclic(), '$.children[0].parent', 'a circular reference'],
  ['an accessor property', withAccessor(), '$.b', 'an accessor property'],
  ['a non-enumerable property', withHiddenProperty(), '$.secret', 'a non-enumerable property'],
  ['a sparse array', sparse(), '$[1]', 'a hole of a sparse array'],
  ['an array with a named property', arrayWithProperty(), '$.extra', 'a named property of an array'],
  ['a function inside a Map', { m: new Map([['k', () => 1]]) }, '$.m<value 0>', 'a function'],
]

// what JSON changed or refused, and the exact serializer keeps
const EXACT: Record<string, unknown> = {
  map: new Map<unknown, unknown>([
    ['a', 1],
    [2, { b: new Set([1n]) }],
  ]),
  nestedMap: { user: { roles: new Map([['admin', true]]) } },
  set: { tags: new Set(['x', 'y']) },
  date: { at: new Date(0), invalid: new Date(Number.NaN) },
  bigint: { n: 10n, big: -(2n ** 100n) },
  undefinedProperty: { a: 1, b: undefined },
  undefinedElement: [1, undefined, 3],
  nullAndUndefined: { none: null, missing: undefined, list: [null, undefined] },
  numbers: { nan: Number.NaN, inf: [1, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY], negZero: -0 },
  buffer: { bytes: Buffer.from([0, 1, 255]) },
  uint8: new Uint8Array([7, 8, 9]),
  oddKey: { 'a b': { c: new Set() } },
  plain: { a: [1, 'two', null, true, { b: [[], {}] }], s: 'é 🙂 \u0000 "q"', n: -1.5e-300 },
  scalars: [0, 1, Number.MAX_SAFE_INTEGER, 'x', false],
  string: 'plain',
  nil: null,
}

let queues = 0

describe('write-behind encoding: the exact serializer', () => {
  it.each(REFUSED)(
    'refuses %s with E_UNSERIALIZABLE and the path; nothing queued, cache untouched',
    async (_, value, path, reason) => {
      const redis = fx.client()
      const name = `enc${++queues}`
      const { cache } = makeCache(fx.url(), name)
      await cache.set('k', 'before')
      const wb = writeBehind<unknown>({ redis, name, cache })
      const err = await wb.write('k', value).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(UnserializableValueError)
      expect(err).toMatchObject({
        code: 'E_UNSERIALIZABLE',
        name: 'UnserializableValueError',
        key: 'k',
        path,
        reason,
      })
      expect((err as Error).message).toBe(`cannot serialize ${reason} at ${path} (key "k")`)
      // what the serializer threw is kept, with the same path and reason
      expect((err as Error).cause).toBeInstanceOf(UnserializableValueError)
      expect((err as Error).cause).toMatchObject({ path, reason, key: undefined })
      expect(await fx.admin().exists(queueKeys(name).stream)).toBe(0)
      expect(await cache.get('k')).toBe('before')
      // the same with exactSerializer given explicitly
      const explicit = writeBehind<unknown>({ redis, name, cache, serializer: exactSerializer })
      await expect(explicit.write('k', value)).rejects.toMatchObject({ code: 'E_UNSERIALIZABLE', path })
      expect(await fx.admin().exists(queueKeys(name).stream)).toBe(0)
      expect(await cache.get('k')).toBe('before')
    },
  )

  it('a value nested too deeply to encode is refused with E_UNSERIALIZABLE, not a RangeError', async () => {
    const redis = fx.client()
    let deep: unknown = 1
    for (let i = 0; i < 200_000; i++) deep = [deep]
    const wb = writeBehind<unknown>({ redis, name: 'enc-deep' })
    const err = await wb.write('k', deep).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(UnserializableValueError)
    expect(err).toMatchObject({
      code: 'E_UNSERIALIZABLE',
      key: 'k',
      reason: 'a value nested too deeply to encode',
    })
    // the serializer's refusal, and under it the RangeError that says why
    expect(((err as Error).cause as Error).cause).toBeInstanceOf(RangeError)
    expect(await fx.admin().exists(queueKeys('enc-deep').stream)).toBe(0)
  })

  it('round-trips exactly what JSON could not, end to end: the Store receives exactly what the cache holds', async () => {
    const redis = fx.client()
    const { cache } = makeCache(fx.url(), 'enc-exact')
    const store = new MemoryStore<unknown>()
    const wb = writeBehind<unknown>({ redis, name: 'enc-exact', cache, flusher: { store, pollInterval: 50 } })
    fx.closers.push(() => wb.close({ timeout: 5_000 }))
    for (const [k, v] of Object.entries(EXACT)) await wb.write(k, v)
    // the queue holds the exact encoding (the flusher may not have applied everything yet: read it first)
    const queued = (await fx.admin().xrange(queueKeys('enc-exact').stream, '-', '+')) as Array<
      [string, string[]]
    >
    for (const [, f] of queued) expect(exactSerializer.decode(f[5]!)).toStrictEqual(EXACT[f[1]!])
    await wb.flush({ timeout: 10_000 })
    // a second instance with an empty L1 reads what Redis (L2) holds
    const { cache: other } = makeCache(fx.url(), 'enc-exact')
    for (const [k, v] of Object.entries(EXACT)) {
      expect(store.value(k)).toStrictEqual(v)
      expect(await cache.get(k)).toStrictEqual(v)
      expect(await other.get(k)).toStrictEqual(v)
      expect(store.value(k)).toStrictEqual(await other.get(k))
    }
    // -0 and undefined vs null, spelled out (toStrictEqual tells them apart, this says so)
    expect(Object.is((store.value('numbers') as { negZero: number }).negZero, -0)).toBe(true)
    const nu = store.value('nullAndUndefined') as { none: unknown; missing: unknown; list: unknown[] }
    expect([nu.none, 'missing' in nu, nu.missing, nu.list]).toEqual([
      null,
      true,
      undefined,
      [null, undefined],
    ])
    expect((store.value('buffer') as { bytes: unknown }).bytes).toBeInstanceOf(Buffer)
  })

  it('an object without prototype is accepted: its data comes back exactly, as a plain object', async () => {
    const redis = fx.client()
    const store = new MemoryStore<unknown>()
    const wb = writeBehind<unknown>({ redis, name: 'enc-null-proto', flusher: { store, pollInterval: 50 } })
    fx.closers.push(() => wb.close({ timeout: 5_000 }))
    await wb.write('k', Object.assign(Object.create(null) as object, { x: 1, m: new Map([[1, 2]]) }))
    await wb.flush({ timeout: 10_000 })
    expect(store.value('k')).toStrictEqual({ x: 1, m: new Map([[1, 2]]) })
  })

  it('decoding never assigns through __proto__: a hostile key comes back as own data', async () => {
    const redis = fx.client()
    const store = new MemoryStore<unknown>()
    const wb = writeBehind<unknown>({ redis, name: 'enc-proto', flusher: { store, pollInterval: 50 } })
    fx.closers.push(() => wb.close({ timeout: 5_000 }))
    const hostile = JSON.parse('{"__proto__": {"polluted": true}, "m": 1}') as unknown
    await wb.write('p', hostile)
    await wb.write('q', { inner: hostile, at: new Date(5) }) // through the tagged (non-JSON) form too
    await wb.flush({ timeout: 10_000 })
    const got = store.value('p') as Record<string, unknown>
    expect(Object.hasOwn(got, '__proto__')).toBe(true)
    expect(Object.getPrototypeOf(got)).toBe(Object.prototype)
    expect(JSON.stringify(got)).toBe(JSON.stringify(hostile))
    const q = store.value('q') as { inner: Record<string, unknown>; at: Date }
    expect(Object.hasOwn(q.inner, '__proto__')).toBe(true)
    expect(q.at).toStrictEqual(new Date(5))
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined()
  })
})
