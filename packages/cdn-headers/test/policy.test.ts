import { describe, expect, test } from 'vitest'
import { CdnHeadersError, definePolicy, InvalidPolicyError, type RouteRule } from '../src/index.js'

// the notes' two rules: cache GET /api/public/* for 10 minutes, bypass authenticated routes
const NOTES: RouteRule[] = [
  { name: 'authenticated', path: '/api/me*', authenticated: true },
  { name: 'public api', path: '/api/public/*', browserTtl: 600, edgeTtl: 600, tags: ['public'] },
]
const policy = definePolicy(NOTES, {
  cdnHeaders: ['CDN-Cache-Control', 'Cloudflare-CDN-Cache-Control'],
  tagHeaders: ['Cache-Tag', 'Surrogate-Key'],
})
const get = (path: string, headers: Record<string, string> = {}) => ({ method: 'GET', path, headers })
const ok = { status: 200, setsCookie: false }

describe('the notes example', () => {
  test('GET /api/public/* is public for 10 minutes, tagged', () => {
    const c = policy.compile(get('/api/public/users?page=2'), ok)
    expect(c.shared).toBe(true)
    expect(c.set).toEqual({
      'Cache-Control': 'public, max-age=600',
      'CDN-Cache-Control': 'max-age=600',
      'Cloudflare-CDN-Cache-Control': 'max-age=600',
      'Cache-Tag': 'public',
      'Surrogate-Key': 'public',
    })
  })
  test('authenticated routes are private and bypass the CDN', () => {
    const c = policy.compile(get('/api/me/orders'), ok)
    expect(c.shared).toBe(false)
    expect(c.verdict).toBe('authenticated-route')
    expect(c.set['Cache-Control']).toBe('private, no-store')
    expect(c.set['CDN-Cache-Control']).toBe('no-store')
    expect(c.remove).toEqual(['cache-tag', 'surrogate-key'])
  })
})

describe('compilation', () => {
  const p = definePolicy([
    {
      path: '/feed/*',
      browserTtl: 60,
      edgeTtl: 300,
      staleWhileRevalidate: 30,
      staleIfError: 600,
      vary: ['Accept-Language'],
      tags: (ctx) => ['feed', `feed-${ctx.path.split('/')[2]}`, 'bad tag'],
    },
    { path: '/assets/*', browserTtl: 31536000, immutable: true },
    { path: '/edge-only/*', browserTtl: 0, edgeTtl: 120 },
    { path: '/items/*', browserTtl: 30, negativeTtl: 5, privateTtl: 10 },
  ])
  test('edge TTL and stale directives go to CDN-Cache-Control; Vary merges; computed tags are filtered', () => {
    const c = p.compile(get('/feed/42'), { ...ok, vary: 'Accept-Encoding' })
    expect(c.set['Cache-Control']).toBe('public, max-age=60, stale-while-revalidate=30, stale-if-error=600')
    expect(c.set['CDN-Cache-Control']).toBe('max-age=300, stale-while-revalidate=30, stale-if-error=600')
    expect(c.set.Vary).toBe('Accept-Encoding, Accept-Language')
    expect(c.set['Cache-Tag']).toBe('feed,feed-42')
  })
  test('immutable assets, edge-only caching (browser revalidates)', () => {
    expect(p.compile(get('/assets/app.1234.js'), ok).set['Cache-Control']).toBe(
      'public, max-age=31536000, immutable',
    )
    const e = p.compile(get('/edge-only/x'), ok)
    expect(e.set['Cache-Control']).toBe('public, no-cache')
    expect(e.set['CDN-Cache-Control']).toBe('max-age=120')
  })
  test('status classes: 404 uses negativeTtl, 5xx and other statuses are no-store', () => {
    expect(p.compile(get('/items/1'), { ...ok, status: 404 }).set['Cache-Control']).toBe('public, max-age=5')
    expect(p.compile(get('/feed/1'), { ...ok, status: 404 }).set['Cache-Control']).toBe('no-store')
    for (const status of [500, 502, 302, 206]) {
      const c = p.compile(get('/items/1'), { ...ok, status })
      expect(c.set['Cache-Control']).toBe('no-store')
      expect(c.verdict).toBe('status')
    }
  })
  test('unsafe methods are never cacheable even when a rule lists them', () => {
    const q = definePolicy([{ path: '/x', methods: ['GET', 'PUT'], browserTtl: 60 }])
    expect(q.match('HEAD', '/x')?.path).toBe('/x')
    const c = q.compile({ method: 'PUT', path: '/x', headers: {} }, ok)
    expect(c.set['Cache-Control']).toBe('no-store')
    expect(c.shared).toBe(false)
  })
  test('first matching rule wins; wildcard spans slashes; matching is case-sensitive', () => {
    const q = definePolicy([
      { name: 'a', path: '/a/*/x', browserTtl: 1 },
      { name: 'b', path: '/a/*', browserTtl: 2 },
    ])
    expect(q.match('GET', '/a/1/2/x')?.name).toBe('a')
    expect(q.match('GET', '/a/1/2/y')?.name).toBe('b')
    expect(q.match('GET', '/A/1')).toBeUndefined()
    expect(q.match('POST', '/a/1')).toBeUndefined()
    expect(q.match('GET', '/a.b')).toBeUndefined()
  })
  test('routes without a rule are left alone, unless credentials are involved', () => {
    expect(p.compile(get('/other'), ok).set).toEqual({})
    const c = p.compile(get('/other', { authorization: 'Bearer x' }), {
      ...ok,
      cacheControl: 'public, max-age=60',
    })
    expect(c.set['Cache-Control']).toBe('private, no-store')
    const kept = p.compile(get('/other', { authorization: 'Bearer x' }), {
      ...ok,
      cacheControl: 'private, max-age=60',
    })
    expect(kept.set['Cache-Control']).toBeUndefined()
  })
})

describe('safety rule', () => {
  const p = definePolicy([
    { path: '/pub/*', browserTtl: 60, privateTtl: 15 },
    { path: '/static/*', browserTtl: 60, sharedDespite: ['session-cookie'] },
  ])
  const cases: [string, Record<string, string>, boolean, string][] = [
    ['Authorization', { authorization: 'Bearer t' }, false, 'authorization'],
    ['session cookie', { cookie: 'theme=dark; connect.sid=abc' }, false, 'session-cookie'],
    ['a non-session cookie', { cookie: 'theme=dark' }, true, 'shared'],
  ]
  test.each(cases)('%s', (_n, headers, shared, verdict) => {
    const c = p.compile(get('/pub/1', headers), ok)
    expect(c.shared).toBe(shared)
    expect(c.verdict).toBe(verdict)
    if (!shared) {
      expect(c.set['Cache-Control']).toBe('private, max-age=15')
      expect(c.set['CDN-Cache-Control']).toBe('no-store')
    }
  })
  test('a response that sets a cookie is never shared', () => {
    const c = p.compile(get('/pub/1'), { status: 200, setsCookie: true })
    expect(c.verdict).toBe('set-cookie')
    expect(c.set['Cache-Control']).toBe('private, max-age=15')
  })
  test('the explicit sharedDespite flag opts out only for the listed credential', () => {
    expect(p.compile(get('/static/a.css', { cookie: 'sid=1' }), ok).shared).toBe(true)
    expect(p.compile(get('/static/a.css', { authorization: 'Basic x' }), ok).shared).toBe(false)
    expect(p.compile(get('/static/a.css'), { status: 200, setsCookie: true }).shared).toBe(false)
  })
  test('sessionCookie option: list, predicate, any', () => {
    expect(definePolicy([], { sessionCookie: ['app'] }).credentials({ cookie: 'sid=1' })).toEqual([])
    expect(definePolicy([], { sessionCookie: ['app'] }).credentials({ cookie: 'x=1; app=2' })).toEqual([
      'session-cookie',
    ])
    expect(definePolicy([], { sessionCookie: 'any' }).credentials({ cookie: 'x=1' })).toEqual([
      'session-cookie',
    ])
    expect(definePolicy([], { sessionCookie: (n) => n === 'x' }).credentials({ cookie: 'x=1' })).toEqual([
      'session-cookie',
    ])
  })
})

describe('invalid tables and arguments', () => {
  const bad: [string, RouteRule, string][] = [
    ['path without slash', { path: 'api/*' }, 'path'],
    ['path with quote', { path: '/a"b' }, 'path'],
    ['path with query', { path: '/a?b' }, 'path'],
    ['negative ttl', { path: '/a', browserTtl: -1 }, 'browserTtl'],
    ['fractional ttl', { path: '/a', edgeTtl: 1.5 }, 'edgeTtl'],
    ['NaN swr', { path: '/a', staleWhileRevalidate: Number.NaN }, 'staleWhileRevalidate'],
    ['unknown method', { path: '/a', methods: ['FETCH' as never] }, 'methods'],
    ['empty methods', { path: '/a', methods: [] }, 'methods'],
    ['bad vary', { path: '/a', vary: ['Accept Language'] }, 'vary'],
    ['tag with comma', { path: '/a', tags: ['a,b'] }, 'tags'],
    ['tag with space', { path: '/a', tags: ['a b'] }, 'tags'],
    ['unknown credential kind', { path: '/a', sharedDespite: ['cookie' as never] }, 'sharedDespite'],
    ['bad etag', { path: '/a', etag: 'medium' as never }, 'etag'],
  ]
  test.each(bad)('%s → E_INVALID_POLICY', (_n, rule, field) => {
    const before = definePolicy([{ path: '/ok', browserTtl: 1 }])
    let err: unknown
    try {
      definePolicy([{ path: '/fine' }, rule])
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(InvalidPolicyError)
    expect(err).toBeInstanceOf(CdnHeadersError)
    expect((err as InvalidPolicyError).code).toBe('E_INVALID_POLICY')
    expect((err as InvalidPolicyError).ruleIndex).toBe(1)
    expect((err as InvalidPolicyError).field).toBe(field)
    // an existing table is untouched
    expect(before.compile(get('/ok'), ok).set['Cache-Control']).toBe('public, max-age=1')
  })
  test('table options', () => {
    expect(() => definePolicy([], { cdnHeaders: ['X-CDN' as never] })).toThrow(InvalidPolicyError)
    expect(() => definePolicy([], { tagHeaders: ['X-Tag' as never] })).toThrow(InvalidPolicyError)
    expect(() => definePolicy([], { sessionCookie: 42 as never })).toThrow(InvalidPolicyError)
    expect(() => definePolicy('x' as never)).toThrow(new TypeError('rules must be an array'))
    expect(() => definePolicy([], null as never)).toThrow(new TypeError('options must be an object'))
  })
  test('compile and match reject garbage with exact TypeErrors and keep working', () => {
    expect(() => policy.compile(null as never, ok)).toThrow(
      new TypeError('req must be { method, path, headers }'),
    )
    expect(() => policy.compile(get('/x'), { status: 'x' } as never)).toThrow(
      new TypeError('res.status must be an integer'),
    )
    expect(() => policy.match(1 as never, '/x')).toThrow(new TypeError('method and path must be strings'))
    expect(policy.compile(get('/api/public/a'), ok).shared).toBe(true)
  })
  test('a throwing tag function drops the tags, not the response', () => {
    const p = definePolicy([
      {
        path: '/t',
        browserTtl: 5,
        tags: () => {
          throw new Error('boom')
        },
      },
    ])
    const c = p.compile(get('/t'), ok)
    expect(c.set['Cache-Control']).toBe('public, max-age=5')
    expect(c.set['Cache-Tag']).toBeUndefined()
  })
})
