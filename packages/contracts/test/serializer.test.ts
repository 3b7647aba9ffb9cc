import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { CorruptPayloadError, exactSerializer as s, UnserializableValueError } from '../src/index.js'

const roundTrip = <T>(v: T): unknown => s.decode(s.encode(v))

describe('exactSerializer', () => {
  it('round-trips plain JSON on the fast path', () => {
    const v = { a: 1, b: 'x', c: [1, 2, { d: null }], e: true }
    expect(s.encode(v).startsWith('J')).toBe(true)
    expect(roundTrip(v)).toStrictEqual(v)
  })

  it('round-trips Date, Buffer, Uint8Array, Map, Set, BigInt, undefined vs null, NaN, ±Infinity, -0, nested', () => {
    const v = {
      when: new Date('2026-11-27T08:00:00.123Z'),
      invalid: new Date(Number.NaN),
      buf: Buffer.from([0, 1, 2, 255]),
      bytes: new Uint8Array([9, 8, 7]),
      map: new Map<unknown, unknown>([
        ['a', 1],
        [2n, new Set([new Date(0), 'x'])],
        [{ k: 1 }, [undefined, null]],
      ]),
      set: new Set([1, 'two', null, undefined]),
      big: 12345678901234567890n,
      negBig: -5n,
      undef: undefined,
      nul: null,
      nums: [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 0, 1.5],
      nested: { deeper: { deepest: [new Map([[1, { u: undefined }]])] } },
    }
    const out = roundTrip(v) as typeof v
    expect(out).toStrictEqual(v)
    expect(Buffer.isBuffer(out.buf)).toBe(true)
    expect(out.bytes).toBeInstanceOf(Uint8Array)
    expect(Buffer.isBuffer(out.bytes)).toBe(false)
    expect(Object.is(out.nums[3], -0)).toBe(true)
    expect('undef' in out).toBe(true)
    expect(out.undef).toBeUndefined()
    expect(out.nul).toBeNull()
    expect(Number.isNaN(out.invalid.getTime())).toBe(true)
    expect(roundTrip(undefined)).toBeUndefined()
    expect(roundTrip(null)).toBeNull()
    expect(roundTrip(7n)).toBe(7n)
  })

  it('round-trips arbitrary JSON-like values exactly (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expect(roundTrip(v)).toStrictEqual(v)
      }),
      { numRuns: 300 },
    )
    fc.assert(
      fc.property(
        fc.anything({
          withBigInt: true,
          withDate: true,
          withMap: true,
          withSet: true,
          withNullPrototype: false,
          withBoxedValues: false,
          withTypedArray: false,
          withSparseArray: false,
          withObjectString: false,
        }),
        (v) => {
          expect(roundTrip(v)).toStrictEqual(v)
        },
      ),
      { numRuns: 300 },
    )
  })

  it('decodes __proto__ and constructor keys as own data, never touching a prototype', () => {
    for (const payload of [
      'J{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}',
      'T{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"m":["m","__proto__",{"__proto__":{"polluted":true}}]}',
      'T["a",{"__proto__":["a",1]}]',
    ]) {
      const out = s.decode(payload) as Record<string, unknown>
      expect(({} as Record<string, unknown>).polluted).toBeUndefined()
      expect((Object.prototype as unknown as Record<string, unknown>).polluted).toBeUndefined()
      const obj = Array.isArray(out) ? (out[0] as object) : out
      expect(Object.getPrototypeOf(obj)).toBe(Object.prototype)
      expect(Object.hasOwn(obj, '__proto__')).toBe(true)
    }
    // and such an object round-trips exactly
    const hostile = JSON.parse('{"__proto__":{"x":1},"constructor":{"prototype":{"y":2}}}')
    const out = roundTrip(hostile) as object
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype)
    expect(Object.getOwnPropertyNames(out)).toEqual(['__proto__', 'constructor'])
    expect(JSON.stringify(out)).toBe(JSON.stringify(hostile))
  })

  it('refuses what it cannot round-trip, with the path', () => {
    expect(() => s.encode({ a: { f: () => 1 } })).toThrow(UnserializableValueError)
    expect(() => s.encode({ a: { f: () => 1 } })).toThrow('cannot serialize a function at $.a.f')
    expect(() => s.encode([Symbol('x')])).toThrow('cannot serialize a symbol at $[0]')
    class User {
      id = 1
    }
    expect(() => s.encode({ u: new User() })).toThrow('cannot serialize an instance of User at $.u')
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    expect(() => s.encode(cyclic)).toThrow('cannot serialize a circular reference at $.self')
    let thrown: unknown
    try {
      s.encode(new WeakMap())
    } catch (e) {
      thrown = e
    }
    expect(thrown).toBeInstanceOf(UnserializableValueError)
    expect(thrown).toMatchObject({ code: 'E_UNSERIALIZABLE', path: '$', reason: 'an instance of WeakMap' })
  })

  it('refuses what encoding would change silently: holes, named array properties, symbol keys, hidden and accessor properties, values nested too deeply', () => {
    const cases: Array<[unknown, string]> = []
    // biome-ignore lint/suspicious/noSparseArray: a hole is tested on purpose
    cases.push([{ a: [1, , 3] }, 'cannot serialize a hole of a sparse array at $.a[1]'])
    cases.push([
      Object.assign([1, 2], { extra: 1 }),
      'cannot serialize a named property of an array at $.extra',
    ])
    cases.push([{ [Symbol('s')]: 1, a: 1 }, 'cannot serialize a symbol key at $[Symbol(s)]'])
    cases.push([
      Object.defineProperty({ a: 1 }, 'hidden', { value: 2, enumerable: false }),
      'cannot serialize a non-enumerable property at $.hidden',
    ])
    cases.push([
      {
        n: 1,
        get computed() {
          return 2
        },
      },
      'cannot serialize an accessor property at $.computed',
    ])
    // the same inside a value that takes the tagged path (a Map)
    cases.push([
      new Map([[1, { [Symbol('t')]: 1 }]]),
      'cannot serialize a symbol key at $<value 0>[Symbol(t)]',
    ])
    for (const [value, message] of cases) {
      let thrown: unknown
      try {
        s.encode(value)
      } catch (e) {
        thrown = e
      }
      expect(thrown, message).toBeInstanceOf(UnserializableValueError)
      expect((thrown as Error).message).toBe(message)
    }
    expect(cases).toHaveLength(6)
    let deep: unknown = new Map()
    for (let i = 0; i < 20_000; i++) deep = [deep]
    let thrown: unknown
    try {
      s.encode(deep)
    } catch (e) {
      thrown = e
    }
    expect(thrown).toMatchObject({ code: 'E_UNSERIALIZABLE', reason: 'a value nested too deeply to encode' })
    expect((thrown as Error).cause).toBeInstanceOf(RangeError)
  })

  it('throws CorruptPayloadError on garbage (its cause the parser error), never returns a half value', () => {
    expect(() => s.decode('X{}')).toThrow(CorruptPayloadError)
    expect(() => s.decode('T["zz"]')).toThrow('corrupt payload: unknown tag "zz"')
    expect(() => s.decode('T["b","12x"]')).toThrow(CorruptPayloadError)
    expect(() => s.decode('J{"a":')).toThrow(CorruptPayloadError)
    let thrown: unknown
    try {
      s.decode('T{')
    } catch (e) {
      thrown = e
    }
    expect((thrown as Error).cause).toBeInstanceOf(SyntaxError)
    expect(() => s.decode(42 as never)).toThrow('corrupt payload: not a string')
  })
})
