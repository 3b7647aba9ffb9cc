import { describe, expect, test } from 'vitest'
import { evaluatePreconditions, NOT_MODIFIED_DROPPED_HEADERS, parseHttpDate } from '../src/index.js'
import { expectInvalidArgument, thrown } from './helpers.js'

const LM = 'Thu, 01 Jan 2026 00:00:00 GMT'
const EARLIER = 'Wed, 31 Dec 2025 23:59:59 GMT'
const LATER = 'Thu, 01 Jan 2026 00:00:01 GMT'
const state = { etag: '"v1"', lastModified: LM }
const ev = (
  method: string,
  headers: Record<string, string>,
  s: Parameters<typeof evaluatePreconditions>[1] = state,
) => evaluatePreconditions({ method, headers }, s)

describe('If-None-Match (RFC 9110 §13.1.2)', () => {
  test('exact match on GET and HEAD gives 304', () => {
    expect(ev('GET', { 'if-none-match': '"v1"' })).toBe('not-modified')
    expect(ev('HEAD', { 'if-none-match': '"v1"' })).toBe('not-modified')
  })
  test('weak comparison: W/ on either side still matches', () => {
    expect(ev('GET', { 'if-none-match': 'W/"v1"' })).toBe('not-modified')
    expect(ev('GET', { 'if-none-match': '"v1"' }, { etag: 'W/"v1"' })).toBe('not-modified')
  })
  test('lists: any member matches, commas inside quotes are part of a tag, junk members are skipped', () => {
    expect(ev('GET', { 'if-none-match': '"a", "b" ,W/"v1"' })).toBe('not-modified')
    expect(ev('GET', { 'if-none-match': '"a,b", garbage, "v1"' })).toBe('not-modified')
    expect(ev('GET', { 'if-none-match': '"a,v1"' })).toBe('proceed')
    expect(ev('GET', { 'if-none-match': '"a", "b"' })).toBe('proceed')
  })
  test('several field lines are one list', () => {
    expect(
      evaluatePreconditions({ method: 'GET', headers: { 'if-none-match': ['"x"', '"v1"'] } }, state),
    ).toBe('not-modified')
  })
  test('* matches any current representation, not a missing one', () => {
    expect(ev('GET', { 'if-none-match': '*' })).toBe('not-modified')
    expect(ev('PUT', { 'if-none-match': '*' }, { exists: false })).toBe('proceed')
    expect(ev('PUT', { 'if-none-match': '*' })).toBe('precondition-failed')
  })
  test('a match on an unsafe method is 412, never 304', () => {
    for (const m of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      expect(ev(m, { 'if-none-match': '"v1"' })).toBe('precondition-failed')
    }
  })
  test('takes precedence over If-Modified-Since (both directions)', () => {
    // INM matches, IMS says modified: 304
    expect(ev('GET', { 'if-none-match': '"v1"', 'if-modified-since': EARLIER })).toBe('not-modified')
    // INM does not match, IMS says not modified: IMS ignored, 200
    expect(ev('GET', { 'if-none-match': '"zz"', 'if-modified-since': LATER })).toBe('proceed')
  })
})

describe('the lone If-None-Match shortcut decides exactly like the general evaluation', () => {
  test('identical field and tag: 304 (GET/HEAD), 412 (unsafe), weak forms on either side', () => {
    for (const [inm, tag] of [
      ['"v1"', '"v1"'],
      ['W/"v1"', '"v1"'],
      ['"v1"', 'W/"v1"'],
      ['W/"v1"', 'W/"v1"'],
    ] as const) {
      expect(ev('GET', { 'if-none-match': inm }, { etag: tag })).toBe('not-modified')
      expect(ev('HEAD', { 'if-none-match': inm }, { etag: tag })).toBe('not-modified')
      expect(ev('PUT', { 'if-none-match': inm }, { etag: tag })).toBe('precondition-failed')
    }
  })
  test('an invalid current tag never matches, even when the field is the same string', () => {
    for (const bad of ['v1', 'W/v1', '"v"1"', '"v 1"', '""x', 'W/', 'W"v1"', '"'])
      expect(ev('GET', { 'if-none-match': bad }, { etag: bad })).toBe('proceed')
  })
  test('no shortcut past If-Match, If-Unmodified-Since, a missing representation or a non-2xx status', () => {
    expect(ev('GET', { 'if-none-match': '"v1"', 'if-match': '"v0"' })).toBe('precondition-failed')
    expect(ev('GET', { 'if-none-match': '"v1"', 'if-unmodified-since': EARLIER })).toBe('precondition-failed')
    expect(ev('GET', { 'if-none-match': '"v1"' }, { etag: '"v1"', exists: false })).toBe('proceed')
    expect(ev('GET', { 'if-none-match': '"v1"' }, { etag: '"v1"', status: 404 })).toBe('proceed')
    expect(ev('OPTIONS', { 'if-none-match': '"v1"' }, { etag: '"v1"' })).toBe('proceed')
    expect(ev('get', { 'if-none-match': '"v1"' }, { etag: '"v1"' })).toBe('not-modified')
  })
})

describe('If-Modified-Since (RFC 9110 §13.1.3)', () => {
  test('not modified since the date: 304; modified: proceed', () => {
    expect(ev('GET', { 'if-modified-since': LM })).toBe('not-modified')
    expect(ev('GET', { 'if-modified-since': LATER })).toBe('not-modified')
    expect(ev('GET', { 'if-modified-since': EARLIER })).toBe('proceed')
  })
  test('ignored for methods other than GET/HEAD', () => {
    expect(ev('POST', { 'if-modified-since': LATER })).toBe('proceed')
  })
  test('ignored when invalid, with several members, or when the resource has no date', () => {
    expect(ev('GET', { 'if-modified-since': 'yesterday' })).toBe('proceed')
    expect(ev('GET', { 'if-modified-since': `${LM}, ${LM}` })).toBe('proceed')
    expect(ev('GET', { 'if-modified-since': LATER }, { etag: '"v1"' })).toBe('proceed')
  })
  test('obsolete date forms are accepted', () => {
    expect(ev('GET', { 'if-modified-since': 'Thursday, 01-Jan-26 00:00:00 GMT' })).toBe('not-modified')
    expect(ev('GET', { 'if-modified-since': 'Thu Jan  1 00:00:00 2026' })).toBe('not-modified')
    // epoch milliseconds, like Date.UTC and ResourceState.lastModified (a whole number of seconds)
    expect(parseHttpDate('Thu, 01 Jan 2026 00:00:00 GMT')).toBe(Date.UTC(2026, 0, 1))
    expect(parseHttpDate('Thursday, 01-Jan-26 00:00:00 GMT')).toBe(Date.UTC(2026, 0, 1))
    expect(parseHttpDate('Thu Jan  1 00:00:00 2026')).toBe(Date.UTC(2026, 0, 1))
    expect(parseHttpDate('yesterday')).toBeUndefined()
    expect(parseHttpDate(undefined)).toBeUndefined()
    // a lastModified given as parseHttpDate's result is the same date as the header it came from
    expect(ev('GET', { 'if-modified-since': LM }, { lastModified: parseHttpDate(LM) })).toBe('not-modified')
    expect(ev('GET', { 'if-modified-since': EARLIER }, { lastModified: parseHttpDate(LM) })).toBe('proceed')
  })
})

describe('If-Match / If-Unmodified-Since (RFC 9110 §13.1.1, §13.1.4)', () => {
  test('If-Match uses strong comparison', () => {
    expect(ev('PUT', { 'if-match': '"v1"' })).toBe('proceed')
    expect(ev('PUT', { 'if-match': 'W/"v1"' })).toBe('precondition-failed')
    expect(ev('PUT', { 'if-match': '"v1"' }, { etag: 'W/"v1"' })).toBe('precondition-failed')
    expect(ev('PUT', { 'if-match': '"a", "v1"' })).toBe('proceed')
    expect(ev('DELETE', { 'if-match': '"v0"' })).toBe('precondition-failed')
  })
  test('If-Match: * needs a current representation', () => {
    expect(ev('PUT', { 'if-match': '*' })).toBe('proceed')
    expect(ev('PUT', { 'if-match': '*' }, { exists: false })).toBe('precondition-failed')
  })
  test('If-Match applies to GET too (412)', () => {
    expect(ev('GET', { 'if-match': '"other"' })).toBe('precondition-failed')
  })
  test('If-Unmodified-Since: 412 when modified after the date, ignored when If-Match is present', () => {
    expect(ev('PUT', { 'if-unmodified-since': EARLIER })).toBe('precondition-failed')
    expect(ev('PUT', { 'if-unmodified-since': LM })).toBe('proceed')
    expect(ev('PUT', { 'if-match': '"v1"', 'if-unmodified-since': EARLIER })).toBe('proceed')
    expect(ev('PUT', { 'if-unmodified-since': 'garbage' })).toBe('proceed')
  })
  test('If-Match is evaluated before If-None-Match', () => {
    expect(ev('GET', { 'if-match': '"nope"', 'if-none-match': '"v1"' })).toBe('precondition-failed')
  })
})

describe('when preconditions are ignored (RFC 9110 §13.2.1)', () => {
  test('when the response would not be 2xx or 412', () => {
    for (const status of [301, 404, 500]) {
      expect(ev('GET', { 'if-none-match': '"v1"' }, { ...state, status })).toBe('proceed')
      expect(ev('PUT', { 'if-match': '"zz"' }, { ...state, status })).toBe('proceed')
    }
    expect(ev('GET', { 'if-none-match': '"v1"' }, { ...state, status: 204 })).toBe('not-modified')
  })
  test('for CONNECT, OPTIONS and TRACE', () => {
    for (const m of ['OPTIONS', 'TRACE', 'CONNECT']) expect(ev(m, { 'if-match': '"zz"' })).toBe('proceed')
  })
  test('bad arguments are a TierkitTypeError with an exact message', () => {
    expectInvalidArgument(
      thrown(() => evaluatePreconditions(null as never, state)),
      'evaluatePreconditions: req must be an object { method, headers }, got null',
    )
    expectInvalidArgument(
      thrown(() => evaluatePreconditions({ method: 'GET' } as never, state)),
      'evaluatePreconditions: req.headers must be an object, got undefined',
    )
    expectInvalidArgument(
      thrown(() => evaluatePreconditions({ method: 1, headers: {} } as never, state)),
      'evaluatePreconditions: req.method must be a string or undefined, got 1',
    )
    expectInvalidArgument(
      thrown(() => evaluatePreconditions({ method: 'GET', headers: {} }, undefined as never)),
      'evaluatePreconditions: state must be an object { status?, etag?, lastModified?, exists? }, got undefined',
    )
    expectInvalidArgument(
      thrown(() => evaluatePreconditions({ method: 'GET', headers: {} }, { etag: 42 as never })),
      'evaluatePreconditions: state.etag must be a string or undefined, got 42',
    )
    expectInvalidArgument(
      thrown(() => parseHttpDate(42 as never)),
      'parseHttpDate: value must be a string or undefined, got 42',
    )
    expect(ev('GET', { 'if-none-match': '"v1"' })).toBe('not-modified')
  })
  test('NOT_MODIFIED_DROPPED_HEADERS is frozen, as its readonly type says', () => {
    expect(Object.isFrozen(NOT_MODIFIED_DROPPED_HEADERS)).toBe(true)
    expect(NOT_MODIFIED_DROPPED_HEADERS).toContain('content-length')
  })
})
