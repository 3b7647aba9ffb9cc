import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { computeETag, parseETag, parseETagList, strongMatch, weakMatch } from '../src/index.js'
import { expectInvalidArgument, thrown } from './helpers.js'

describe('computeETag', () => {
  test('strong by default, weak on request, deterministic, body-sensitive', () => {
    const a = computeETag('hello')
    expect(a).toMatch(/^"[A-Za-z0-9_-]{22}"$/)
    expect(computeETag(Buffer.from('hello'))).toBe(a)
    expect(computeETag(new TextEncoder().encode('hello'))).toBe(a)
    expect(computeETag('hello', { weak: true })).toBe(`W/${a}`)
    expect(computeETag('hellp')).not.toBe(a)
    expect(computeETag('')).toMatch(/^"[A-Za-z0-9_-]{22}"$/)
  })
  test('distinct bodies give distinct tags (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array(), fc.uint8Array(), (x, y) => {
        fc.pre(Buffer.compare(Buffer.from(x), Buffer.from(y)) !== 0)
        return computeETag(x) !== computeETag(y)
      }),
    )
  })
  test('bad input is a TierkitTypeError with an exact message', () => {
    expectInvalidArgument(
      thrown(() => computeETag(42 as never)),
      'computeETag: body must be a string, a Buffer or a Uint8Array, got 42',
    )
    expectInvalidArgument(
      thrown(() => computeETag(undefined as never)),
      'computeETag: body must be a string, a Buffer or a Uint8Array, got undefined',
    )
    expectInvalidArgument(
      thrown(() => computeETag('x', 'weak' as never)),
      'computeETag: options must be an object { weak? }, got "weak"',
    )
  })
})

describe('entity-tag parsing', () => {
  test('bad input is a TierkitTypeError with an exact message', () => {
    expectInvalidArgument(
      thrown(() => parseETag(1 as never)),
      'parseETag: value must be a string, got 1',
    )
    expectInvalidArgument(
      thrown(() => parseETagList(undefined as never)),
      'parseETagList: value must be a string, got undefined',
    )
    const a = { weak: false, opaque: 'a' }
    expectInvalidArgument(
      thrown(() => strongMatch(a, '"a"' as never)),
      'strongMatch: b must be an entity tag { weak, opaque }, got "\\"a\\""',
    )
    expectInvalidArgument(
      thrown(() => weakMatch(null as never, a)),
      'weakMatch: a must be an entity tag { weak, opaque }, got null',
    )
    expect([
      strongMatch(a, a),
      weakMatch(a, { weak: true, opaque: 'a' }),
      strongMatch(a, { weak: true, opaque: 'a' }),
    ]).toEqual([true, true, false])
  })
  test('single tags', () => {
    expect(parseETag('"abc"')).toEqual({ weak: false, opaque: 'abc' })
    expect(parseETag(' W/"abc" ')).toEqual({ weak: true, opaque: 'abc' })
    expect(parseETag('abc')).toBeUndefined()
    expect(parseETag('"a" "b"')).toBeUndefined()
    expect(parseETag('w/"abc"')).toBeUndefined()
  })
  test('lists, star, invalid members', () => {
    expect(parseETagList('*')).toBe('*')
    expect(parseETagList(' * ')).toBe('*')
    const l = parseETagList('"a,b", W/"c", junk, "d')
    expect(l).not.toBe('*')
    if (l === '*') return
    expect([...l]).toEqual([
      { weak: false, opaque: 'a,b' },
      { weak: true, opaque: 'c' },
    ])
    expect(l.invalid).toBe(2)
    const s = parseETagList('*, "a"')
    expect(s !== '*' && s.invalid).toBe(1)
  })
  test('round trip of any list of generated tags (property)', () => {
    const etagc = fc.constantFrom(..."abcXYZ019,!#$%&'()*+-./:;<=>?@[]^_`{|}~".split(''))
    const tag = fc.record({ weak: fc.boolean(), opaque: fc.string({ unit: etagc, maxLength: 12 }) })
    fc.assert(
      fc.property(fc.array(tag, { minLength: 1, maxLength: 6 }), (tags) => {
        const text = tags.map((t) => `${t.weak ? 'W/' : ''}"${t.opaque}"`).join(' ,  ')
        const parsed = parseETagList(text)
        expect(parsed).not.toBe('*')
        if (parsed === '*') return
        expect([...parsed]).toEqual(tags)
        expect(parsed.invalid).toBe(0)
      }),
    )
  })
})
