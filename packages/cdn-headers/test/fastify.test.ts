import { Readable } from 'node:stream'
import Fastify from 'fastify'
import { afterAll, describe, expect, test } from 'vitest'
import { fastifyCdnHeaders } from '../src/fastify.js'
import { computeETag, definePolicy } from '../src/index.js'
import { expectInvalidArgument, rejection, thrown } from './helpers.js'

const policy = definePolicy([
  { path: '/api/me/*', authenticated: true },
  { path: '/api/public/*', maxAge: 600, cdnMaxAge: 600, staleWhileRevalidate: 30, tags: ['public'] },
])

let version = 1
const app = Fastify()
await app.register(fastifyCdnHeaders, { policy })
app.get('/api/public/users', async () => ({ users: [1, 2, 3] }))
app.get('/api/public/stream', async (_req, reply) => {
  reply.header('content-type', 'text/plain')
  return Readable.from(['a', 'b'])
})
app.get('/api/public/missing', async (_req, reply) => reply.code(404).send({ error: 'nope' }))
app.get('/api/me/profile', async () => ({ me: true }))
app.get('/api/public/doc', async () => `doc v${version}`)
app.put('/api/public/doc', async (_req, reply) => {
  if (!reply.checkPreconditions({ etag: computeETag(`doc v${version}`) })) return reply
  version++
  return reply.code(204).send()
})
let badStateError: unknown
app.put('/api/public/bad-state', async (_req, reply) => {
  badStateError = thrown(() => reply.checkPreconditions(undefined as never))
  return reply.code(204).send()
})
afterAll(() => app.close())

describe('Fastify plugin', () => {
  test('200: compiled headers and a strong ETag of the serialized payload', async () => {
    const r = await app.inject({ url: '/api/public/users' })
    expect(r.statusCode).toBe(200)
    expect(r.headers['cache-control']).toBe('public, max-age=600, stale-while-revalidate=30')
    expect(r.headers['cdn-cache-control']).toBe('max-age=600, stale-while-revalidate=30')
    expect(r.headers['cache-tag']).toBe('public')
    expect(r.headers.etag).toBe(computeETag(JSON.stringify({ users: [1, 2, 3] })))
  })
  test('304 with the 200 caching headers, no body, no content headers; HEAD too', async () => {
    const first = await app.inject({ url: '/api/public/users' })
    for (const method of ['GET', 'HEAD'] as const) {
      const r = await app.inject({
        method,
        url: '/api/public/users',
        headers: { 'if-none-match': `W/${first.headers.etag}` },
      })
      expect(r.statusCode).toBe(304)
      expect(r.body).toBe('')
      for (const h of ['etag', 'cache-control', 'cdn-cache-control', 'cache-tag'])
        expect(r.headers[h]).toBe(first.headers[h])
      expect(r.headers['content-type']).toBeUndefined()
      expect(r.headers['content-length']).toBeUndefined()
    }
  })
  test('If-None-Match with If-Modified-Since: the ETag decides', async () => {
    const first = await app.inject({ url: '/api/public/users' })
    const r = await app.inject({
      url: '/api/public/users',
      headers: {
        'if-none-match': '"other"',
        'if-modified-since': new Date(Date.now() + 3600_000).toUTCString(),
      },
    })
    expect(r.statusCode).toBe(200)
    expect(r.headers.etag).toBe(first.headers.etag)
  })
  test('no 304 for a 404; streams pass through without an ETag', async () => {
    const r = await app.inject({ url: '/api/public/missing', headers: { 'if-none-match': '*' } })
    expect(r.statusCode).toBe(404)
    expect(r.headers['cache-control']).toBe('no-store')
    const s = await app.inject({ url: '/api/public/stream' })
    expect(s.body).toBe('ab')
    expect(s.headers.etag).toBeUndefined()
    expect(s.headers['cache-control']).toBe('public, max-age=600, stale-while-revalidate=30')
  })
  test('safety rule', async () => {
    const a = await app.inject({ url: '/api/public/users', headers: { cookie: 'session=abc' } })
    expect(a.headers['cache-control']).toBe('private, no-store')
    const me = await app.inject({ url: '/api/me/profile' })
    expect(me.headers['cache-control']).toBe('private, no-store')
    expect(me.headers['cdn-cache-control']).toBe('no-store')
  })
  test('reply.checkPreconditions: 412 for a stale If-Match / If-None-Match on PUT, the change otherwise', async () => {
    const g = await app.inject({ url: '/api/public/doc' })
    const v = version
    expect(
      (await app.inject({ method: 'PUT', url: '/api/public/doc', headers: { 'if-match': '"old"' } }))
        .statusCode,
    ).toBe(412)
    expect(
      (
        await app.inject({
          method: 'PUT',
          url: '/api/public/doc',
          headers: { 'if-none-match': g.headers.etag as string },
        })
      ).statusCode,
    ).toBe(412)
    expect(version).toBe(v)
    expect(
      (
        await app.inject({
          method: 'PUT',
          url: '/api/public/doc',
          headers: { 'if-match': g.headers.etag as string },
        })
      ).statusCode,
    ).toBe(204)
    expect(version).toBe(v + 1)
  })
  test('registering without a policy fails with a TierkitTypeError', async () => {
    const bad = Fastify()
    expectInvalidArgument(
      await rejection(bad.register(fastifyCdnHeaders, {} as never).ready()),
      'fastifyCdnHeaders: options.policy must be a CachePolicyTable, got undefined',
    )
    await bad.close()
  })
  test('reply.checkPreconditions with a bad state throws a TierkitTypeError naming it', async () => {
    const r = await app.inject({ method: 'PUT', url: '/api/public/bad-state' })
    expect(r.statusCode).toBe(204)
    expectInvalidArgument(
      badStateError,
      'reply.checkPreconditions: state must be an object { status?, etag?, lastModified?, exists? }, got undefined',
    )
  })
})
