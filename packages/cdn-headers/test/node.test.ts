import express from 'express'
import { afterAll, describe, expect, test } from 'vitest'
import { computeETag, definePolicy, prepareResponse } from '../src/index.js'
import { cacheHeaders, checkPreconditions } from '../src/node.js'
import { expectInvalidArgument, listen, request, thrown } from './helpers.js'

const policy = definePolicy([
  { path: '/api/me/*', authenticated: true },
  { path: '/api/public/*', maxAge: 600, cdnMaxAge: 600, tags: ['public'], vary: ['Accept-Language'] },
  { path: '/weak/*', maxAge: 60, etag: 'weak' },
])
const closers: (() => Promise<void>)[] = []
afterAll(async () => {
  await Promise.all(closers.map((c) => c()))
})

let version = 1
const mw = cacheHeaders(policy, { maxBufferBytes: 64 * 1024 })
const server = await listen((req, res) => {
  mw(req, res, () => {
    const path = (req.url ?? '').split('?')[0]!
    if (path === '/api/public/writehead') {
      res.writeHead(200, { 'content-type': 'text/plain', expires: 'Thu, 01 Jan 2037 00:00:00 GMT' })
      res.write('part1-')
      res.end('part2')
      return
    }
    if (path === '/api/public/big') {
      res.setHeader('content-type', 'application/octet-stream')
      const chunk = Buffer.alloc(16 * 1024, 97)
      for (let i = 0; i < 8; i++) res.write(chunk)
      res.end()
      return
    }
    if (path === '/api/public/doc' && req.method === 'PUT') {
      if (!checkPreconditions(req, res, { etag: computeETag(`doc v${version}`) })) return
      version++
      res.statusCode = 204
      res.end()
      return
    }
    if (path === '/api/public/missing') {
      res.statusCode = 404
      res.end('nope')
      return
    }
    if (path === '/api/public/login') res.setHeader('set-cookie', 'sid=1; HttpOnly')
    res.setHeader('content-type', 'text/plain')
    res.setHeader('content-location', path)
    res.end(path === '/api/public/doc' ? `doc v${version}` : `hello ${path}`)
  })
})
closers.push(server.close)

describe('Node http middleware', () => {
  test('a 200 carries the compiled headers and a strong ETag of the body', async () => {
    const r = await request(server.url, '/api/public/a')
    expect(r.status).toBe(200)
    expect(r.headers['cache-control']).toBe('public, max-age=600')
    expect(r.headers['cdn-cache-control']).toBe('max-age=600')
    expect(r.headers.vary).toBe('Accept-Language')
    expect(r.headers['cache-tag']).toBe('public')
    expect(r.headers.etag).toBe(computeETag('hello /api/public/a'))
    expect(r.headers['content-length']).toBe(String(r.body.length))
  })
  test('If-None-Match → 304 with the same caching headers and no body', async () => {
    const first = await request(server.url, '/api/public/a')
    const r = await request(server.url, '/api/public/a', {
      headers: { 'if-none-match': `"x", ${first.headers.etag}` },
    })
    expect(r.status).toBe(304)
    expect(r.body).toBe('')
    for (const h of ['etag', 'cache-control', 'cdn-cache-control', 'vary', 'cache-tag', 'content-location']) {
      expect(r.headers[h], h).toBe(first.headers[h])
    }
    expect(r.headers.date).toBeDefined()
    expect(r.headers['content-type']).toBeUndefined()
    expect(r.headers['content-length']).toBeUndefined()
  })
  test('HEAD gets the same ETag as GET and 304s too', async () => {
    const g = await request(server.url, '/api/public/h')
    const h = await request(server.url, '/api/public/h', { method: 'HEAD' })
    expect(h.headers.etag).toBe(g.headers.etag)
    expect(h.headers['content-length']).toBe(g.headers['content-length'])
    const c = await request(server.url, '/api/public/h', {
      method: 'HEAD',
      headers: { 'if-none-match': g.headers.etag! },
    })
    expect(c.status).toBe(304)
  })
  test('If-Match mismatch on GET → 412; no 304 for a 404', async () => {
    expect((await request(server.url, '/api/public/a', { headers: { 'if-match': '"other"' } })).status).toBe(
      412,
    )
    const r = await request(server.url, '/api/public/missing', { headers: { 'if-none-match': '*' } })
    expect(r.status).toBe(404)
    expect(r.body).toBe('nope')
    expect(r.headers.etag).toBeUndefined()
  })
  test('writeHead + write + end are buffered; Expires survives into the 304', async () => {
    const r = await request(server.url, '/api/public/writehead')
    expect(r.body).toBe('part1-part2')
    expect(r.headers.etag).toBe(computeETag('part1-part2'))
    const c = await request(server.url, '/api/public/writehead', {
      headers: { 'if-none-match': r.headers.etag! },
    })
    expect(c.status).toBe(304)
    expect(c.headers.expires).toBe('Thu, 01 Jan 2037 00:00:00 GMT')
  })
  test('a body over maxBufferBytes streams through: headers applied, no ETag', async () => {
    const r = await request(server.url, '/api/public/big')
    expect(r.body.length).toBe(128 * 1024)
    expect(r.headers['cache-control']).toBe('public, max-age=600')
    expect(r.headers.etag).toBeUndefined()
  })
  test('safety: credentials and Set-Cookie make the response private', async () => {
    const a = await request(server.url, '/api/public/a', { headers: { authorization: 'Bearer t' } })
    expect(a.headers['cache-control']).toBe('private, no-store')
    expect(a.headers['cache-tag']).toBeUndefined()
    const l = await request(server.url, '/api/public/login')
    expect(l.headers['cache-control']).toBe('private, no-store')
    expect(l.headers['cdn-cache-control']).toBe('no-store')
  })
  test('unsafe method: checkPreconditions answers 412 before the change, and the change happens otherwise', async () => {
    const g = await request(server.url, '/api/public/doc')
    expect(g.body).toBe(`doc v${version}`)
    const stale = await request(server.url, '/api/public/doc', {
      method: 'PUT',
      headers: { 'if-match': '"old"' },
    })
    expect(stale.status).toBe(412)
    const v = version
    expect(
      (
        await request(server.url, '/api/public/doc', {
          method: 'PUT',
          headers: { 'if-match': g.headers.etag! },
        })
      ).status,
    ).toBe(204)
    expect(version).toBe(v + 1)
    // the old ETag no longer matches
    expect(
      (
        await request(server.url, '/api/public/doc', {
          method: 'PUT',
          headers: { 'if-match': g.headers.etag! },
        })
      ).status,
    ).toBe(412)
    expect(version).toBe(v + 1)
  })
  test('weak ETags on request', async () => {
    const r = await request(server.url, '/weak/x')
    expect(r.headers.etag).toMatch(/^W\/"/)
    expect(
      (await request(server.url, '/weak/x', { headers: { 'if-none-match': r.headers.etag! } })).status,
    ).toBe(304)
  })
  test('bad arguments', () => {
    expectInvalidArgument(
      thrown(() => cacheHeaders(null as never)),
      'cacheHeaders: policy must be a CachePolicyTable, got null',
    )
    expectInvalidArgument(
      thrown(() => cacheHeaders(policy, { maxBufferBytes: -1 })),
      'cacheHeaders: options.maxBufferBytes must be an integer from 0 to 9007199254740991, got -1',
    )
    expectInvalidArgument(
      thrown(() => cacheHeaders(policy, null as never)),
      'cacheHeaders: options must be an object, got null',
    )
    expectInvalidArgument(
      thrown(() =>
        checkPreconditions({ method: 'PUT', headers: {} } as never, {} as never, undefined as never),
      ),
      'checkPreconditions: state must be an object { status?, etag?, lastModified?, exists? }, got undefined',
    )
    const draft = { status: 200, setsCookie: false, getHeader: () => undefined, body: 'x' }
    const req = { method: 'GET', path: '/api/public/a', headers: {} }
    expectInvalidArgument(
      thrown(() => prepareResponse(undefined as never, req, draft)),
      'prepareResponse: policy must be a CachePolicyTable, got undefined',
    )
    expectInvalidArgument(
      thrown(() => prepareResponse(policy, req, { status: 200 } as never)),
      'prepareResponse: draft must be an object { status, getHeader, setsCookie, body? }, got an object',
    )
    expect(prepareResponse(policy, req, draft)).toMatchObject({ status: 200, sendBody: true })
  })
})

describe('Express', () => {
  test('app.use(cacheHeaders(policy)) with res.json and res.send', async () => {
    const app = express()
    app.set('etag', false)
    app.use(cacheHeaders(policy))
    app.get('/api/public/users', (_req, res) => {
      res.json({ users: [1, 2] })
    })
    app.get('/api/me/profile', (_req, res) => {
      res.send('me')
    })
    const s = await listen(app)
    closers.push(s.close)
    const r = await request(s.url, '/api/public/users')
    expect(r.headers['cache-control']).toBe('public, max-age=600')
    expect(r.headers.etag).toBe(computeETag(JSON.stringify({ users: [1, 2] })))
    const c = await request(s.url, '/api/public/users', {
      headers: { 'if-none-match': `W/${r.headers.etag}` },
    })
    expect(c.status).toBe(304)
    expect(c.headers['cache-control']).toBe('public, max-age=600')
    const me = await request(s.url, '/api/me/profile')
    expect(me.headers['cache-control']).toBe('private, no-store')
  })
  test('HEAD through res.send / res.json gets the GET ETag and 304s; a bare res.end() HEAD gets no ETag', async () => {
    const app = express()
    app.set('etag', false)
    app.use(cacheHeaders(policy))
    app.get('/api/public/json', (_req, res) => {
      res.json({ users: [1, 2] })
    })
    app.get('/api/public/text', (_req, res) => {
      res.type('text/plain').send('héllo')
    })
    app.get('/api/public/buf', (_req, res) => {
      res.send(Buffer.from([1, 2, 3]))
    })
    app.head('/api/public/bare', (_req, res) => {
      res.end()
    })
    const s = await listen(app)
    closers.push(s.close)
    for (const path of ['/api/public/json', '/api/public/text', '/api/public/buf']) {
      const g = await request(s.url, path)
      const h = await request(s.url, path, { method: 'HEAD' })
      expect(g.headers.etag).toMatch(/^"[\w-]{22}"$/)
      expect(h.status).toBe(200)
      expect(h.body).toBe('')
      expect(h.headers.etag).toBe(g.headers.etag)
      expect(h.headers['content-length']).toBe(g.headers['content-length'])
      expect(h.headers['cache-control']).toBe('public, max-age=600')
      const c = await request(s.url, path, { method: 'HEAD', headers: { 'if-none-match': g.headers.etag! } })
      expect(c.status).toBe(304)
      expect(c.headers.etag).toBe(g.headers.etag)
      expect(c.headers['cache-control']).toBe('public, max-age=600')
      expect(c.headers['content-length']).toBeUndefined()
    }
    expect((await request(s.url, '/api/public/json')).headers.etag).toBe(
      computeETag(JSON.stringify({ users: [1, 2] })),
    )
    const bare = await request(s.url, '/api/public/bare', { method: 'HEAD' })
    expect(bare.status).toBe(200)
    expect(bare.headers.etag).toBeUndefined()
    expect(bare.headers['cache-control']).toBe('public, max-age=600')
  })
})
