import { describe, expect, test } from 'vitest'
import { definePolicy, InvalidPolicyError, normalizePath } from '../src/index.js'
import { expectInvalidArgument, thrown } from './helpers.js'

describe('normalizePath: the path as the router reads it', () => {
  test.each([
    // [target, path] — decoded the way find-my-way's decodeURI does
    ['/api/users/1', '/api/users/1'],
    ['/api/users/1?x=%2F&y=..', '/api/users/1'],
    ['/api/users/1#frag', '/api/users/1'],
    ['/api/%75sers/1', '/api/users/1'],
    ['/%61%70%69/%75sers/%31', '/api/users/1'],
    ['/api/%55sers', '/api/Users'],
    ['/a/%7e%2D%5f%2E%2eb', '/a/~-_..b'], // not a dot segment: part of a longer one
    ['/a/%3a%3B%40%2b%24%26%2c%3d%3f%23', '/a/%3A%3B%40%2B%24%26%2C%3D%3F%23'], // reserved: kept, hex upper-cased
    ['/a/100%25', '/a/100%25'],
    ['/a/%25zz', '/a/%25zz'],
    ['/caf%C3%A9', '/café'],
    ['/a/%20b', '/a/ b'],
    ['/', '/'],
    ['/a//b/', '/a//b/'],
    ['/a;x=1/b', '/a;x=1/b'],
  ])('%s → %s', (target, path) => {
    const n = normalizePath(target)
    expect(n).toMatchObject({ ok: true, path })
  })

  test.each([
    ['http://example.com/api/users/1', 'not-origin-form'],
    ['*', 'not-origin-form'],
    ['', 'not-origin-form'],
    ['api/users', 'not-origin-form'],
    ['/a/%', 'malformed-escape'],
    ['/a/%4', 'malformed-escape'],
    ['/a/%zz', 'malformed-escape'],
    ['/a/%e0%80', 'malformed-escape'], // truncated
    ['/a/%c0%af', 'malformed-escape'], // overlong "/"
    ['/a/%c0%ae%c0%ae', 'malformed-escape'], // overlong ".."
    ['/a/%ed%a0%80', 'malformed-escape'], // UTF-16 surrogate
    ['/a/%ff', 'malformed-escape'],
    ['/a/%C3', 'malformed-escape'],
    ['/a/%00', 'control-character'],
    ['/a/%0d%0a', 'control-character'],
    ['/a/%7f', 'control-character'],
    ['/a/%c2%85', 'control-character'], // C1 NEL
    ['/a%2Fb', 'encoded-slash'],
    ['/a%2fb', 'encoded-slash'],
    ['/a%5Cb', 'encoded-slash'],
    ['/a/%2575', 'double-encoding'],
    ['/./a', 'dot-segment'],
    ['/a/..', 'dot-segment'],
    ['/a/%2e%2E/b', 'dot-segment'],
    ['/a/.%2e/b', 'dot-segment'],
    ['/a/..;x/b', 'dot-segment'],
    ['/a\\b', 'invalid-character'],
    ['/a b', 'invalid-character'],
    ['/a"b', 'invalid-character'],
    ['/a/é', 'invalid-character'],
    ['/a/\u0000', 'invalid-character'],
    ['/a|b', 'invalid-character'],
    [`/a/${'b'.repeat(8192)}`, 'too-long'],
  ])('%s fails closed: %s', (target, issue) => {
    expect(normalizePath(target)).toEqual({ ok: false, issue })
  })

  test('"%25" followed by hex is an escape of an escape; "%25" alone is a percent sign', () => {
    expect(normalizePath('/a/%25%37%35')).toMatchObject({ ok: true, path: '/a/%2575' })
    expect(normalizePath('/a/%2575')).toEqual({ ok: false, issue: 'double-encoding' })
  })

  test('readings: raw, duplicate slashes merged, trailing slash removed, ";" parameters cut', () => {
    expect(normalizePath('/api/users/1').ok && normalizePath('/api/users/1')).toMatchObject({
      readings: ['/api/users/1'],
    })
    const r = (t: string): readonly string[] => {
      const n = normalizePath(t)
      if (!n.ok) throw new Error(`${t}: ${n.issue}`)
      return n.readings
    }
    expect(r('/api/%75sers/1')).toEqual(['/api/users/1', '/api/%75sers/1'])
    expect(r('/api/me/')).toEqual(['/api/me/', '/api/me'])
    expect(r('//api//me')).toEqual(['//api//me', '/api/me'])
    expect(r('/api/me;jsessionid=1')).toEqual(['/api/me;jsessionid=1', '/api/me'])
    expect(r('/api;x=1/users/1')).toEqual(['/api;x=1/users/1', '/api', '/api/users/1'])
    expect(r('/api/me;x=1/')).toEqual(expect.arrayContaining(['/api/me;x=1/', '/api/me/', '/api/me']))
  })

  test('garbage: exact TypeErrors, and a maxLength', () => {
    expectInvalidArgument(
      thrown(() => normalizePath(1 as never)),
      'normalizePath: target must be a string, got 1',
    )
    expectInvalidArgument(
      thrown(() => normalizePath('/a', { maxLength: 0 })),
      'normalizePath: options.maxLength must be an integer from 1 to 1048576, got 0',
    )
    expectInvalidArgument(
      thrown(() => normalizePath('/a', { maxLength: 1.5 })),
      'normalizePath: options.maxLength must be an integer from 1 to 1048576, got 1.5',
    )
    expectInvalidArgument(
      thrown(() => normalizePath('/a', null as never)),
      'normalizePath: options must be an object, got null',
    )
    expect(normalizePath('/abc', { maxLength: 3 })).toEqual({ ok: false, issue: 'too-long' })
    expect(normalizePath('/ab?long-query-is-not-counted', { maxLength: 3 })).toMatchObject({ ok: true })
  })
})

describe('the policy matches normalised paths and fails closed', () => {
  const policy = definePolicy([
    { name: 'users', path: '/api/users/*', authenticated: true },
    { name: 'me', path: '/api/me', authenticated: true },
    { name: 'public', path: '/api/public/*', maxAge: 600 },
    { name: 'all', path: '/*', maxAge: 300 },
  ])
  const compile = (path: string, route?: string) =>
    policy.compile({ method: 'GET', path, headers: {}, route }, { status: 200, setsCookie: false })

  test.each([
    ['/api/%75sers/1', 'users'],
    ['/API/USERS/1', 'users'], // a case-insensitive router (Express' default) routes it there
    ['/api/me/', 'me'], // ignoreTrailingSlash / Express non-strict
    ['//api/me', 'me'], // ignoreDuplicateSlashes
    ['/api/me;jsessionid=1', 'me'], // useSemicolonDelimiter
    ['/api;x=1/me', 'me'], // matrix parameters stripped by a server in front
    ['/api/m%65?x', 'me'],
  ])('%s: the private rule of one of its readings (%s)', (path, name) => {
    expect(policy.match('GET', path)?.name).toBe(name)
    const c = compile(path)
    expect([c.verdict, c.set['Cache-Control'], c.shared]).toEqual([
      'authenticated-route',
      'private, no-store',
      false,
    ])
  })

  test.each([
    ['/api/users%2F1', 'encoded-slash'],
    ['/x/../api/users/1', 'dot-segment'],
    ['/api/users/%zz', 'malformed-escape'],
    ['/api/users/1%00', 'control-character'],
    ['http://evil/api/users/1', 'not-origin-form'],
  ])('%s: unsafe-path (%s), private, no-store, no tags, whatever the rule', (path, issue) => {
    expect(policy.match('GET', path)).toBeUndefined()
    const c = compile(path)
    expect(c).toMatchObject({
      verdict: 'unsafe-path',
      pathIssue: issue,
      shared: false,
      rule: undefined,
      set: { 'Cache-Control': 'private, no-store', 'CDN-Cache-Control': 'no-store' },
    })
    expect(c.remove).toContain('cache-tag')
  })

  test('readings that disagree without a private one: ambiguous, fails closed', () => {
    const p = definePolicy([
      { path: '/api/public/*', maxAge: 600 },
      { path: '/a/*', maxAge: 5 },
    ])
    const c = p.compile(
      { method: 'GET', path: '/API/PUBLIC/x', headers: {} },
      { status: 200, setsCookie: false },
    )
    expect([c.verdict, c.pathIssue, c.set['Cache-Control']]).toEqual([
      'unsafe-path',
      'ambiguous',
      'private, no-store',
    ])
    // readings that agree stay public
    for (const path of ['/api/public/%78', '/api/public/X', '/api/public/x/', '/api/public//x']) {
      const ok = p.compile({ method: 'GET', path, headers: {} }, { status: 200, setsCookie: false })
      expect([path, ok.verdict, ok.set['Cache-Control']]).toEqual([path, 'shared', 'public, max-age=600'])
    }
  })

  test('case folding as find-my-way does it (toLowerCase): the Kelvin sign folds to "k"', () => {
    const p = definePolicy([
      { path: '/api/keys/*', authenticated: true },
      { path: '/*', maxAge: 60 },
    ])
    // \u212a (KELVIN SIGN) lower-cases to "k": a case-insensitive find-my-way routes this to /api/keys/:id
    expect(p.match('GET', '/api/%E2%84%AAeys/1')?.path).toBe('/api/keys/*')
    // an accented letter with no ASCII fold stays what it is (and public)
    expect(p.match('GET', '/caf%C3%A9')?.path).toBe('/*')
  })

  test('upper-case patterns are matched case-folded too', () => {
    const p = definePolicy([
      { path: '/Account/*', authenticated: true },
      { path: '/*', maxAge: 60 },
    ])
    expect(p.match('GET', '/account/settings')?.path).toBe('/Account/*')
    expect(p.match('GET', '/ACCOUNT/settings')?.path).toBe('/Account/*')
  })

  test('the route the router chose: a private pattern makes the answer private whatever the path', () => {
    // e.g. a router that decodes more than find-my-way does
    const c = compile('/api/v1/whoami', '/api/users/:id')
    expect([c.verdict, c.set['Cache-Control']]).toEqual(['authenticated-route', 'private, no-store'])
    expect(policy.match('GET', '/whatever', '/api/users/:id')?.name).toBe('users')
    // a public route pattern does not make a private path public, nor make anything ambiguous
    expect(compile('/api/users/1', '/*').verdict).toBe('authenticated-route')
    expect(compile('/api/public/x', '/api/:section/:id').set['Cache-Control']).toBe('public, max-age=600')
  })

  test('tag functions see the normalised path', () => {
    const seen: string[] = []
    const p = definePolicy([
      {
        path: '/p/*',
        maxAge: 60,
        tags: (ctx) => {
          seen.push(ctx.path)
          return [`p:${ctx.path.slice(3)}`]
        },
      },
    ])
    const c = p.compile(
      { method: 'GET', path: '/p/%31?x=1', headers: {} },
      { status: 200, setsCookie: false },
    )
    expect(seen).toEqual(['/p/1'])
    expect(c.set['Cache-Tag']).toBe('p:1')
  })

  test('garbage: exact errors, and the table keeps working', () => {
    expect(() => definePolicy([], { maxPathLength: 0 })).toThrow(InvalidPolicyError)
    expect(thrown(() => definePolicy([], { maxPathLength: 'x' as never }))).toMatchObject({
      code: 'E_INVALID_POLICY',
      field: 'maxPathLength',
      message: 'definePolicy: options.maxPathLength must be an integer from 1 to 1048576, got "x"',
    })
    expectInvalidArgument(
      thrown(() => policy.match('GET', '/x', 1 as never)),
      'CachePolicyTable.match: route must be a string or undefined, got 1',
    )
    expectInvalidArgument(
      thrown(() =>
        policy.compile(
          { method: 'GET', path: '/x', headers: {}, route: 1 as never },
          { status: 200, setsCookie: false },
        ),
      ),
      'CachePolicyTable.compile: req.route must be a string or undefined, got 1',
    )
    expectInvalidArgument(
      thrown(() =>
        policy.compile({ method: 'GET', path: 1 as never, headers: {} }, { status: 200, setsCookie: false }),
      ),
      'CachePolicyTable.compile: req.path must be a string, got 1',
    )
    const short = definePolicy([{ path: '/*', maxAge: 60 }], { maxPathLength: 16 })
    expect(short.options.maxPathLength).toBe(16)
    expect(
      short.compile(
        { method: 'GET', path: `/${'a'.repeat(16)}`, headers: {} },
        { status: 200, setsCookie: false },
      ),
    ).toMatchObject({ verdict: 'unsafe-path', pathIssue: 'too-long' })
    expect(compile('/api/public/x').set['Cache-Control']).toBe('public, max-age=600')
  })
})
