import { TierkitError } from '@tierkit/contracts'
import { describe, expect, test } from 'vitest'
import { CdnHeadersError, definePolicy, InvalidPolicyError, type RouteRule } from '../src/index.js'
import { expectInvalidArgument, thrown } from './helpers.js'

// the README's two rules: cache GET /api/public/* for 10 minutes, bypass authenticated routes
const TWO_RULES: RouteRule[] = [
  { name: 'authenticated', path: '/api/me*', authenticated: true },
  { name: 'public api', path: '/api/public/*', maxAge: 600, cdnMaxAge: 600, tags: ['public'] },
]
const policy = definePolicy(TWO_RULES, {
  cdnHeaders: ['CDN-Cache-Control', 'Cloudflare-CDN-Cache-Control'],
  tagHeaders: ['Cache-Tag', 'Surrogate-Key'],
})
const get = (path: string, headers: Record<string, string> = {}) => ({ method: 'GET', path, headers })
const ok = { status: 200, setsCookie: false }

describe('the README example (two rules)', () => {
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
      maxAge: 60,
      cdnMaxAge: 300,
      staleWhileRevalidate: 30,
      staleIfError: 600,
      vary: ['Accept-Language'],
      tags: (ctx) => ['feed', `feed-${ctx.path.split('/')[2]}`, 'bad tag'],
    },
    { path: '/assets/*', maxAge: 31536000, immutable: true },
    { path: '/edge-only/*', maxAge: 0, cdnMaxAge: 120 },
    { path: '/items/*', maxAge: 30, negativeMaxAge: 5, privateMaxAge: 10 },
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
  test('status classes: 404 uses negativeMaxAge, 5xx and other statuses are no-store', () => {
    expect(p.compile(get('/items/1'), { ...ok, status: 404 }).set['Cache-Control']).toBe('public, max-age=5')
    expect(p.compile(get('/feed/1'), { ...ok, status: 404 }).set['Cache-Control']).toBe('no-store')
    for (const status of [500, 502, 302, 206]) {
      const c = p.compile(get('/items/1'), { ...ok, status })
      expect(c.set['Cache-Control']).toBe('no-store')
      expect(c.verdict).toBe('status')
    }
  })
  test('unsafe methods are never cacheable even when a rule lists them', () => {
    const q = definePolicy([{ path: '/x', methods: ['GET', 'PUT'], maxAge: 60 }])
    expect(q.match('HEAD', '/x')?.path).toBe('/x')
    const c = q.compile({ method: 'PUT', path: '/x', headers: {} }, ok)
    expect(c.set['Cache-Control']).toBe('no-store')
    expect(c.shared).toBe(false)
  })
  test('first matching rule wins; wildcard spans slashes; matching is case-sensitive', () => {
    const q = definePolicy([
      { name: 'a', path: '/a/*/x', maxAge: 1 },
      { name: 'b', path: '/a/*', maxAge: 2 },
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
    { path: '/pub/*', maxAge: 60, privateMaxAge: 15 },
    { path: '/static/*', maxAge: 60, sharedDespite: ['session-cookie'] },
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
  const bad: [string, RouteRule, string, string][] = [
    ['path without slash', { path: 'api/*' }, 'path', 'got "api/*"'],
    ['path with quote', { path: '/a"b' }, 'path', 'got "/a\\"b"'],
    ['path with query', { path: '/a?b' }, 'path', 'got "/a?b"'],
    ['negative maxAge', { path: '/a', maxAge: -1 }, 'maxAge', 'got -1'],
    ['fractional cdnMaxAge', { path: '/a', cdnMaxAge: 1.5 }, 'cdnMaxAge', 'got 1.5'],
    ['NaN swr', { path: '/a', staleWhileRevalidate: Number.NaN }, 'staleWhileRevalidate', 'got NaN'],
    ['huge staleIfError', { path: '/a', staleIfError: 2 ** 31 }, 'staleIfError', 'got 2147483648'],
    ['string negativeMaxAge', { path: '/a', negativeMaxAge: '5' as never }, 'negativeMaxAge', 'got "5"'],
    [
      'Infinity privateMaxAge',
      { path: '/a', privateMaxAge: Number.POSITIVE_INFINITY },
      'privateMaxAge',
      'got Infinity',
    ],
    ['unknown method', { path: '/a', methods: ['FETCH' as never] }, 'methods', 'got "FETCH"'],
    ['empty methods', { path: '/a', methods: [] }, 'methods', 'got an array'],
    ['bad vary', { path: '/a', vary: ['Accept Language'] }, 'vary', 'got "Accept Language"'],
    ['tag with comma', { path: '/a', tags: ['a,b'] }, 'tags', 'got "a,b"'],
    ['tag with space', { path: '/a', tags: ['a b'] }, 'tags', 'got "a b"'],
    [
      'unknown credential kind',
      { path: '/a', sharedDespite: ['cookie' as never] },
      'sharedDespite',
      'got "cookie"',
    ],
    ['bad etag', { path: '/a', etag: 'medium' as never }, 'etag', 'got "medium"'],
    ['vary not an array', { path: '/a', vary: 'Accept' as never }, 'vary', 'got "Accept"'],
    ['tags neither an array nor a function', { path: '/a', tags: 'public' as never }, 'tags', 'got "public"'],
    [
      'sharedDespite not an array',
      { path: '/a', sharedDespite: 'set-cookie' as never },
      'sharedDespite',
      'got "set-cookie"',
    ],
    ['non-string name', { path: '/a', name: 5 as never }, 'name', 'got 5'],
    [
      'non-boolean authenticated',
      { path: '/a', authenticated: 'yes' as never },
      'authenticated',
      'got "yes"',
    ],
    // the 0.1 names: refused (JavaScript callers would otherwise get `no-cache` everywhere without a word)
    ['renamed browserTtl', { path: '/a', browserTtl: 600 } as never, 'browserTtl', 'got 600'],
    ['renamed edgeTtl', { path: '/a', edgeTtl: 600 } as never, 'edgeTtl', 'got 600'],
    ['renamed negativeTtl', { path: '/a', negativeTtl: 5 } as never, 'negativeTtl', 'got 5'],
    ['renamed privateTtl', { path: '/a', privateTtl: 5 } as never, 'privateTtl', 'got 5'],
    // a typo must not turn a private route public
    ['unknown option', { path: '/a', authenticted: true } as never, 'authenticted', 'got true'],
  ]
  test.each(bad)('%s → E_INVALID_POLICY', (_n, rule, field, got) => {
    const before = definePolicy([{ path: '/ok', maxAge: 1 }])
    const err = thrown(() => definePolicy([{ path: '/fine' }, rule]))
    expect(err).toBeInstanceOf(InvalidPolicyError)
    expect(err).toBeInstanceOf(CdnHeadersError)
    expect(err).toBeInstanceOf(TierkitError)
    expect(err).toMatchObject({ name: 'InvalidPolicyError', code: 'E_INVALID_POLICY', ruleIndex: 1, field })
    expect((err as Error).message.startsWith(`definePolicy: rules[1].${field} must be `)).toBe(true)
    expect((err as Error).message.endsWith(`, got ${got.slice(4)}`)).toBe(true)
    // an existing table is untouched
    expect(before.compile(get('/ok'), ok).set['Cache-Control']).toBe('public, max-age=1')
  })
  test('the exact messages of a bad directive value, a renamed option, an unknown option and a non-object rule', () => {
    expect(thrown(() => definePolicy([{ path: '/a', maxAge: -1 }]))).toMatchObject({
      message:
        'definePolicy: rules[0].maxAge must be an integer number of seconds from 0 to 2147483647, got -1',
    })
    expect(thrown(() => definePolicy([{ path: '/a', browserTtl: 600 } as never]))).toMatchObject({
      message: 'definePolicy: rules[0].browserTtl must be left out (renamed maxAge, in seconds), got 600',
    })
    expect(thrown(() => definePolicy([{ path: '/a', authenticted: true } as never]))).toMatchObject({
      message: 'definePolicy: rules[0].authenticted must be left out (not a rule option), got true',
    })
    expect(thrown(() => definePolicy([null as never]))).toMatchObject({
      code: 'E_INVALID_POLICY',
      ruleIndex: 0,
      field: '',
      message: 'definePolicy: rules[0] must be an object, got null',
    })
    expect(thrown(() => definePolicy([{ path: '/a', etag: 'yes' } as never]))).toMatchObject({
      code: 'E_INVALID_POLICY',
      field: 'etag',
      message: 'definePolicy: rules[0].etag must be one of "strong", "weak", false, got "yes"',
    })
    expect(thrown(() => definePolicy([], { etag: true } as never))).toMatchObject({
      message: 'definePolicy: options.etag must be one of "strong", "weak", false, got true',
    })
    // an option present but undefined is no option at all
    expect(definePolicy([{ path: '/a', maxAge: 5, browserTtl: undefined } as never]).rules[0]!.maxAge).toBe(5)
  })
  test('table options', () => {
    expect(() => definePolicy([], { cdnHeaders: ['X-CDN' as never] })).toThrow(InvalidPolicyError)
    expect(thrown(() => definePolicy([], { cdnHeaders: ['X-CDN' as never] }))).toMatchObject({
      ruleIndex: -1,
      field: 'cdnHeaders',
      message:
        "definePolicy: options.cdnHeaders must be an array of 'CDN-Cache-Control' or 'Cloudflare-CDN-Cache-Control', got \"X-CDN\"",
    })
    expect(() => definePolicy([], { tagHeaders: ['X-Tag' as never] })).toThrow(InvalidPolicyError)
    expect(() => definePolicy([], { tagHeaders: 'Cache-Tag' as never })).toThrow(InvalidPolicyError)
    expect(() => definePolicy([], { sessionCookie: 42 as never })).toThrow(InvalidPolicyError)
    expect(thrown(() => definePolicy([], { sessionCookies: ['sid'] } as never))).toMatchObject({
      code: 'E_INVALID_POLICY',
      message: 'definePolicy: options.sessionCookies must be left out (not a table option), got an array',
    })
    expectInvalidArgument(
      thrown(() => definePolicy('x' as never)),
      'definePolicy: rules must be an array of rules, got "x"',
    )
    expectInvalidArgument(
      thrown(() => definePolicy([], null as never)),
      'definePolicy: options must be an object, got null',
    )
  })
  test('compile, match and credentials reject garbage with exact TypeErrors and keep working', () => {
    expectInvalidArgument(
      thrown(() => policy.compile(null as never, ok)),
      'CachePolicyTable.compile: req must be an object { method, path, headers }, got null',
    )
    expectInvalidArgument(
      thrown(() => policy.compile({ method: 'GET', path: '/x' } as never, ok)),
      'CachePolicyTable.compile: req.headers must be an object, got undefined',
    )
    expectInvalidArgument(
      thrown(() => policy.compile(get('/x'), { status: 'x' } as never)),
      'CachePolicyTable.compile: res.status must be an integer from 100 to 999, got "x"',
    )
    expectInvalidArgument(
      thrown(() => policy.compile(get('/x'), undefined as never)),
      'CachePolicyTable.compile: res must be an object { status, setsCookie }, got undefined',
    )
    expectInvalidArgument(
      thrown(() => policy.compile({ method: 7, path: '/x', headers: {} } as never, ok)),
      'CachePolicyTable.compile: req.method must be a string, got 7',
    )
    expectInvalidArgument(
      thrown(() => policy.match(1 as never, '/x')),
      'CachePolicyTable.match: method must be a string, got 1',
    )
    expectInvalidArgument(
      thrown(() => policy.match('GET', null as never)),
      'CachePolicyTable.match: path must be a string, got null',
    )
    expectInvalidArgument(
      thrown(() => policy.credentials(null as never)),
      'CachePolicyTable.credentials: headers must be an object, got null',
    )
    expect(policy.compile(get('/api/public/a'), ok).shared).toBe(true)
    expect(policy.credentials({ authorization: 'Bearer x' })).toEqual(['authorization'])
  })
  test('the resolved table is frozen all the way down, as its readonly types say', () => {
    expect(Object.isFrozen(policy.options)).toBe(true)
    expect(Object.isFrozen(policy.options.cdnHeaders)).toBe(true)
    expect(Object.isFrozen(policy.options.tagHeaders)).toBe(true)
    expect(Object.isFrozen(policy.rules)).toBe(true)
    expect(Object.isFrozen(policy.rules[1])).toBe(true)
    expect(Object.isFrozen(policy.rules[1]!.methods)).toBe(true)
  })
  test('a throwing tag function drops the tags, not the response', () => {
    const p = definePolicy([
      {
        path: '/t',
        maxAge: 5,
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
