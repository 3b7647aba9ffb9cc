/**
 * Property tests through a real nginx (trusting only the origin's headers: no Authorization bypass, Set-Cookie
 * responses storable) and against the adapters:
 * 1. nothing that answers an authenticated request ever comes back as a HIT to another client;
 * 2. every 304 carries the 200's caching headers (Node middleware and Fastify plugin).
 */
import { type NginxServer, startNginx } from '@tierkit/testkit/nginx'
import fc from 'fast-check'
import Fastify from 'fastify'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { fastifyCdnHeaders } from '../src/fastify.js'
import { definePolicy, type RouteRule } from '../src/index.js'
import { cacheHeaders } from '../src/node.js'
import { type HttpAnswer, listen, request } from './helpers.js'

const RULES: RouteRule[] = [
  { path: '/api/me/*', authenticated: true },
  { path: '/api/public/*', maxAge: 600, cdnMaxAge: 600, staleWhileRevalidate: 60, tags: ['public'] },
  { path: '/api/feed/*', maxAge: 0, cdnMaxAge: 600, vary: ['Accept-Language'] },
  {
    path: '/api/short/*',
    maxAge: 1,
    cdnMaxAge: 1,
    staleWhileRevalidate: 600,
    staleIfError: 600,
    negativeMaxAge: 1,
  },
]
const policy = definePolicy(RULES)
const ROUTES = ['/api/me/', '/api/public/', '/api/feed/', '/api/short/', '/api/other/'] as const

let issued = 0
/** The origin personalises the body with whoever the request claims to be, and may set a fresh session cookie. */
function handler(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x')
  const who = req.headers.authorization ?? req.headers.cookie ?? 'anonymous'
  let session = ''
  if (url.searchParams.get('setcookie') === '1') {
    session = ` new session issued-${++issued}`
    res.setHeader('Set-Cookie', `sid=issued-${issued}; HttpOnly`)
  } else if (url.searchParams.get('setcookie') === 'fixed') {
    res.setHeader('Set-Cookie', 'theme=dark')
  }
  if (url.searchParams.get('vary')) res.setHeader('Vary', url.searchParams.get('vary')!)
  res.statusCode = Number(url.searchParams.get('status') ?? 200)
  res.setHeader('Content-Type', 'text/plain')
  res.setHeader('Expires', 'Thu, 01 Jan 2037 00:00:00 GMT')
  res.setHeader('Content-Location', url.pathname)
  res.end(`${url.pathname} for ${who}${session}`)
}

let origin: Awaited<ReturnType<typeof listen>>
const caches: NginxServer[] = []
beforeAll(async () => {
  const mw = cacheHeaders(policy)
  origin = await listen((req, res) => mw(req, res, () => handler(req, res)))
  const trusting = { bypassAuthorization: false, cacheSetCookie: true } as const
  caches.push(
    await startNginx({ upstream: origin.port, config: { honour: 'cdn-cache-control', ...trusting } }),
    await startNginx({ upstream: origin.port, config: { honour: 'cache-control', ...trusting } }),
  )
})
afterAll(async () => {
  await Promise.all(caches.map((c) => c.stop()))
  await origin?.close()
})

let seq = 0
const credentials = fc
  .record({
    authorization: fc.option(fc.constantFrom('Bearer alice', 'Basic Ym9iOnB3'), { nil: undefined }),
    cookie: fc.option(fc.constantFrom('sid=alice-session', 'theme=dark; session=carol', 'connect.sid=dave'), {
      nil: undefined,
    }),
    setCookie: fc.boolean(),
  })
  .filter((c) => c.authorization !== undefined || c.cookie !== undefined || c.setCookie)

describe('property: no authenticated answer is ever a HIT for someone else', () => {
  test('through nginx (CDN-Cache-Control and Cache-Control models)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...ROUTES),
        fc.constantFrom('GET', 'HEAD'),
        credentials,
        fc.constantFrom(200, 404),
        fc.constantFrom('', 'Accept-Language', 'Accept-Encoding'),
        fc.nat({ max: caches.length - 1 }),
        fc.boolean(),
        fc.constantFrom('GET', 'HEAD'),
        async (route, method, cred, status, vary, cacheIndex, secondAuthed, secondMethod) => {
          const cache = caches[cacheIndex]!
          const qs = new URLSearchParams({
            status: String(status),
            vary,
            setcookie: cred.setCookie ? '1' : '0',
          })
          const path = `${route}p${seq++}?${qs}`
          const headers: Record<string, string> = {}
          if (cred.authorization) headers.authorization = cred.authorization
          if (cred.cookie) headers.cookie = cred.cookie
          const first = await request(cache.url, path, { method, headers })
          // one request from another client (anonymous, or with different credentials): only the first answer
          // can be in the cache, so any HIT would be the authenticated answer
          const r: HttpAnswer = await request(cache.url, path, {
            method: secondMethod,
            headers: secondAuthed ? { authorization: 'Bearer mallory' } : {},
          })
          expect(['HIT', 'STALE', 'UPDATING', 'REVALIDATED']).not.toContain(r.headers['x-cache-status'])
          // a session cookie issued to the first client never reaches another one
          for (const c of first.headers['set-cookie'] ?? [])
            expect(r.headers['set-cookie'] ?? []).not.toContain(c)
          if (secondMethod === 'GET' && first.body !== '') expect(r.body).not.toBe(first.body)
        },
      ),
      { numRuns: 120 },
    )
  })

  test('control: the same nginx does return HITs for anonymous traffic, so the property is not vacuous', async () => {
    const path = `/api/public/control-${seq++}`
    await request(caches[0]!.url, path)
    expect((await request(caches[0]!.url, path)).headers['x-cache-status']).toBe('HIT')
    const open = definePolicy([{ path: '/api/public/*', maxAge: 60, sharedDespite: ['session-cookie'] }])
    expect(
      open.compile(
        { method: 'GET', path: '/api/public/x', headers: { cookie: 'sid=1' } },
        { status: 200, setsCookie: false },
      ).shared,
    ).toBe(true)
  })
})

const CACHING_FIELDS = [
  'etag',
  'cache-control',
  'cdn-cache-control',
  'vary',
  'expires',
  'content-location',
  'cache-tag',
] as const

const conditional = (etag: string) =>
  fc.oneof(
    fc.constant({ 'if-none-match': etag }),
    fc.constant({ 'if-none-match': `W/${etag.replace(/^W\//, '')}` }),
    fc.constant({ 'if-none-match': '*' }),
    fc
      .array(fc.constantFrom('"x"', 'W/"y"', '"a,b"', 'junk'), { maxLength: 3 })
      .map((junk) => ({ 'if-none-match': [...junk, etag].join(', ') })),
    fc.constant({ 'if-none-match': etag, 'if-modified-since': 'Thu, 01 Jan 1970 00:00:00 GMT' }),
  )

describe('property: every 304 carries the 200 caching headers', () => {
  test('Node middleware (over HTTP) and Fastify plugin', async () => {
    const fast = Fastify()
    await fast.register(fastifyCdnHeaders, { policy })
    fast.get('/*', async (req, reply) => {
      const url = new URL(req.url, 'http://x')
      const who = req.headers.authorization ?? 'anonymous'
      if (url.searchParams.get('setcookie') === 'fixed') reply.header('Set-Cookie', 'theme=dark')
      if (url.searchParams.get('vary')) reply.header('Vary', url.searchParams.get('vary')!)
      reply.header('Expires', 'Thu, 01 Jan 2037 00:00:00 GMT').header('Content-Location', url.pathname)
      return reply.type('text/plain').send(`${url.pathname} for ${who}`)
    })
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...ROUTES),
          fc.constantFrom('GET', 'HEAD'),
          fc.constantFrom('', 'Accept-Language'),
          fc.boolean(),
          fc.option(fc.constantFrom('Bearer a', 'Bearer b'), { nil: undefined }),
          fc.constantFrom('node', 'fastify'),
          fc.integer({ min: 0, max: 4 }),
          async (route, method, vary, setCookie, auth, adapter, pick) => {
            const path = `${route}x?${new URLSearchParams({ vary, setcookie: setCookie ? 'fixed' : '0' })}`
            const headers: Record<string, string> = auth ? { authorization: auth } : {}
            const send = async (h: Record<string, string>): Promise<HttpAnswer> => {
              if (adapter === 'node')
                return request(origin.url, path, { method, headers: { ...headers, ...h } })
              const r = await fast.inject({ method, url: path, headers: { ...headers, ...h } })
              return { status: r.statusCode, headers: r.headers as HttpAnswer['headers'], body: r.body }
            }
            const full = await send({})
            expect(full.status).toBe(200)
            const etag = full.headers.etag as string
            expect(etag).toMatch(/^"/)
            const cond = fc.sample(conditional(etag), { numRuns: 5, seed: pick })[pick]!
            const r = await send(cond)
            expect(r.status).toBe(304)
            expect(r.body).toBe('')
            for (const f of CACHING_FIELDS) expect(r.headers[f], f).toEqual(full.headers[f])
            expect(r.headers.date).toBeDefined()
            for (const f of ['content-type', 'content-length', 'content-encoding'])
              expect(r.headers[f], f).toBeUndefined()
          },
        ),
        { numRuns: 150 },
      )
    } finally {
      await fast.close()
    }
  })
})
