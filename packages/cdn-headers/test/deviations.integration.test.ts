/**
 * Known deviations of the two judges from the RFCs, pinned as named cases. If a new version of
 * http-cache-semantics or nginx changes one of them, the matching test fails and the matrix model must be
 * revisited. The package's output never depends on any of these behaviours (see docs/cdn-headers.md).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { type NginxServer, startNginx } from '@tierkit/testkit/nginx'
import CachePolicy from 'http-cache-semantics'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { listen, request } from './helpers.js'

const req = (headers: Record<string, string> = {}, method = 'GET') => ({
  method,
  url: '/r',
  headers: { host: 'h', ...headers },
})
const res = (headers: Record<string, string>, status = 200) => ({ status, headers })

class Clocked extends CachePolicy {
  static clock = 1_800_000_000_000
  override now(): number {
    return Clocked.clock
  }
}
function at<T>(seconds: number, fn: () => T): T {
  const t0 = Clocked.clock
  Clocked.clock = t0 + seconds * 1000
  try {
    return fn()
  } finally {
    Clocked.clock = t0
  }
}

describe('http-cache-semantics 4.3 deviations (pinned)', () => {
  test('hcs-1: s-maxage does not stop stale-while-revalidate (RFC 9111 §5.2.2.10: s-maxage implies proxy-revalidate)', () => {
    const p = new Clocked(req(), res({ 'cache-control': 'public, s-maxage=10, stale-while-revalidate=60' }))
    const r = at(20, () => p.evaluateRequest(req()))
    expect(r.response).toBeDefined()
    expect(r.revalidation?.synchronous).toBe(false)
  })
  test('hcs-2: must-revalidate forces revalidation while still fresh (RFC: only once stale)', () => {
    const p = new Clocked(req(), res({ 'cache-control': 'public, max-age=600, must-revalidate' }))
    const r = p.evaluateRequest(req())
    expect(r.response).toBeUndefined()
    expect(r.revalidation?.synchronous).toBe(true)
  })
  test('hcs-3: CDN-Cache-Control is ignored (RFC 9213 targeted fields are not implemented)', () => {
    const p = new Clocked(
      req(),
      res({ 'cache-control': 'public, no-cache', 'cdn-cache-control': 'max-age=600' }),
    )
    expect(p.evaluateRequest(req()).response).toBeUndefined()
  })
  test('hcs-4: a stored GET never answers a HEAD (nginx does, through proxy_cache_convert_head)', () => {
    const p = new Clocked(req(), res({ 'cache-control': 'public, max-age=600' }))
    expect(p.evaluateRequest(req({}, 'HEAD')).response).toBeUndefined()
  })
  test('hcs-5: heuristic freshness from Last-Modified when a 200 has no Cache-Control (nginx never)', () => {
    const p = new Clocked(
      req(),
      res({ 'last-modified': new Date(Clocked.clock - 10 * 86400_000).toUTCString() }),
    )
    expect(p.storable()).toBe(true)
    expect(p.maxAge()).toBeGreaterThan(86_000)
  })
  test('hcs-6: 206 and 500 are never stored, even with explicit freshness (nginx stores both)', () => {
    expect(new Clocked(req(), res({ 'cache-control': 'public, max-age=60' }, 206)).storable()).toBe(false)
    expect(new Clocked(req(), res({ 'cache-control': 'public, max-age=60' }, 500)).storable()).toBe(false)
  })
  test('hcs-7: Set-Cookie responses are shared-cacheable once marked public (allowed by RFC; the safety rule never emits it)', () => {
    const p = new Clocked(req(), res({ 'cache-control': 'public, max-age=60', 'set-cookie': 'sid=1' }))
    expect(p.evaluateRequest(req()).response).toBeDefined()
    const q = new Clocked(req(), res({ 'cache-control': 'max-age=60', 'set-cookie': 'sid=1' }))
    expect(q.evaluateRequest(req()).response).toBeUndefined()
  })
})

describe('nginx 1.22 deviations (pinned)', () => {
  let origin: Awaited<ReturnType<typeof listen>>
  let nginx: NginxServer
  let mode: Record<string, 'ok' | '500'> = {}
  beforeAll(async () => {
    origin = await listen((rq, rs) => {
      const path = (rq.url ?? '').split('?')[0]!
      const q = new URL(rq.url!, 'http://x').searchParams
      if (mode[path] === '500') {
        rs.statusCode = 500
        rs.end('down')
        return
      }
      for (const [k, v] of q) rs.setHeader(k, v)
      rs.setHeader('etag', '"e1"')
      rs.setHeader('last-modified', 'Thu, 01 Jan 2026 00:00:00 GMT')
      rs.end(`body for ${rq.headers['accept-language'] ?? '-'} ${rq.headers.authorization ?? 'anon'}`)
    })
    nginx = await startNginx({
      upstream: origin.port,
      config: { honour: 'cache-control', bypassAuthorization: false },
    })
  })
  afterAll(async () => {
    await nginx?.stop()
    await origin?.close()
  })
  const q = (path: string, headers: Record<string, string>) => `${path}?${new URLSearchParams(headers)}`

  test('nginx-1: the origin Age header is ignored (RFC 9111 §4.2.3 counts it)', async () => {
    const u = q('/age', { 'cache-control': 'max-age=5', age: '10' })
    await request(nginx.url, u)
    expect((await request(nginx.url, u)).headers['x-cache-status']).toBe('HIT')
  })
  test('nginx-2: an HTTP 500 from the origin does not trigger stale-if-error (RFC 5861: it should)', async () => {
    const u = q('/sie', { 'cache-control': 'max-age=1, stale-if-error=600' })
    await request(nginx.url, u)
    await sleep(2100)
    mode = { '/sie': '500' }
    const r = await request(nginx.url, u)
    expect(r.status).toBe(500)
    expect(r.headers['x-cache-status']).toBe('EXPIRED')
    mode = {}
  })
  test('nginx-3: If-Modified-Since must equal Last-Modified exactly (RFC 9110 §13.1.3: any later date is 304)', async () => {
    const u = q('/ims', { 'cache-control': 'max-age=60' })
    await request(nginx.url, u)
    const later = await request(nginx.url, u, {
      headers: { 'if-modified-since': 'Fri, 02 Jan 2026 00:00:00 GMT' },
    })
    expect(later.status).toBe(200)
  })
  test('nginx-4: with If-None-Match and If-Modified-Since both must pass (RFC 9110 §13.2.2: If-None-Match wins)', async () => {
    const u = q('/both', { 'cache-control': 'max-age=60' })
    await request(nginx.url, u)
    const r = await request(nginx.url, u, {
      headers: { 'if-none-match': '"e1"', 'if-modified-since': 'Wed, 31 Dec 2025 00:00:00 GMT' },
    })
    expect(r.status).toBe(200)
  })
  test('nginx-5: answers to Authorization requests are stored without public (RFC 9111 §3.5 forbids it), hence the default bypass', async () => {
    const u = q('/auth', { 'cache-control': 'max-age=60' })
    await request(nginx.url, u, { headers: { authorization: 'Bearer secret' } })
    const other = await request(nginx.url, u)
    expect(other.headers['x-cache-status']).toBe('HIT')
    expect(other.body).toContain('Bearer secret')
  })
  test('the default testkit config bypasses the cache for Authorization (a CDN-like default)', async () => {
    const safe = await startNginx({ upstream: origin.port })
    try {
      const u = q('/auth2', { 'cache-control': 'public, max-age=60' })
      const a = await request(safe.url, u, { headers: { authorization: 'Bearer secret' } })
      expect(a.headers['x-cache-status']).toBe('BYPASS')
      expect((await request(safe.url, u)).headers['x-cache-status']).toBe('MISS')
    } finally {
      await safe.stop()
    }
  })
})
