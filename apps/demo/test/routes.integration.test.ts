import { startRedis } from '@tierkit/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Demo } from '../src/app.js'
import { userToken } from '../src/db/seed.js'
import type { RedisClientName } from '../src/redis-url.js'
import { type DbKind, json, startDemo, type TestDb, testDb, until } from './helpers.js'

// every route once per database with ioredis (the default client), and once per other client (REDIS_CLIENT) on
// SQLite: the same assertions, a real redis-server each
const CASES: Array<{ kind: DbKind; client: RedisClientName }> = [
  { kind: 'sqlite', client: 'ioredis' },
  { kind: 'postgres', client: 'ioredis' },
  { kind: 'sqlite', client: 'node-redis' },
  { kind: 'sqlite', client: 'iovalkey' },
]

describe.each(CASES)('routes on $kind with Redis through $client', ({ kind, client }) => {
  let db: TestDb
  let demo: Demo
  let stopRedis: () => Promise<void>
  const logs: string[] = []

  beforeAll(async () => {
    const redis = await startRedis()
    stopRedis = () => redis.stop()
    db = testDb(kind)
    demo = await startDemo(
      { ...db.env, REDIS_URL: redis.url, REDIS_CLIENT: client },
      { log: (l) => logs.push(l) },
    )
  })
  afterAll(async () => {
    await demo?.close()
    await db?.drop()
    await stopRedis?.()
  })

  it('uses the database it was given and Redis from REDIS_URL through REDIS_CLIENT', async () => {
    const stats = await json(`${demo.url}/api/stats`)
    expect(stats.body.database).toBe(kind)
    expect(stats.body.redis).toEqual({
      mode: 'url',
      client,
      topology: 'standalone',
      url: demo.redisUrl,
      breaker: 'closed',
    })
  })

  it('GET /api/public/products/:id: DB on the first read, then L2/L1, CDN headers, ETag and 304, cache tags', async () => {
    const before = demo.metrics.snapshot().byLayer
    const first = await json(`${demo.url}/api/public/products/7`)
    expect(first.status).toBe(200)
    expect(first.body).toMatchObject({ id: 7, version: 1 })
    expect(first.headers.get('cache-control')).toBe('public, max-age=600, stale-while-revalidate=60')
    expect(first.headers.get('cdn-cache-control')).toBe('max-age=600, stale-while-revalidate=60')
    expect(first.headers.get('cache-tag')).toBe('product:7,public')
    const etag = first.headers.get('etag')
    expect(etag).toMatch(/^"[\w-]{22}"$/)
    const mid = demo.metrics.snapshot().byLayer
    expect(mid.db!.hits - before.db!.hits).toBe(1)
    const second = await json(`${demo.url}/api/public/products/7`)
    expect(second.body).toEqual(first.body)
    expect(second.headers.get('etag')).toBe(etag)
    const after = demo.metrics.snapshot().byLayer
    expect(after.l1!.hits - mid.l1!.hits).toBe(1)
    expect(after.db!.hits - mid.db!.hits).toBe(0)
    const notModified = await fetch(`${demo.url}/api/public/products/7`, {
      headers: { 'if-none-match': etag! },
    })
    expect(notModified.status).toBe(304)
    expect(notModified.headers.get('etag')).toBe(etag)
    expect(await notModified.text()).toBe('')
  })

  it('GET /api/public/products/:id: 404 (negative-cached briefly) and 400 on a malformed id', async () => {
    const missing = await json(`${demo.url}/api/public/products/999999`)
    expect(missing.status).toBe(404)
    expect(missing.body.error).toBe('E_NOT_FOUND')
    expect(missing.headers.get('cache-control')).toBe('public, max-age=30')
    for (const bad of ['0', '-1', 'abc', '1.5', '99999999999']) {
      const r = await json(`${demo.url}/api/public/products/${bad}`)
      expect(r.status, bad).toBe(400)
      expect(r.body.error).toBe('E_BAD_REQUEST')
    }
    expect((await json(`${demo.url}/api/public/products/8`)).status).toBe(200) // still serving
  })

  it('GET /api/public/products?ids=: one batch load for the misses (getOrLoadMany), order kept, missing listed', async () => {
    await json(`${demo.url}/api/public/products/11`) // 11 cached
    const before = demo.metrics.snapshot().byLayer.db!.hits
    const r = await json(`${demo.url}/api/public/products?ids=12,11,13,888888`)
    expect(r.status).toBe(200)
    expect(r.body.products.map((p: { id: number }) => p.id)).toEqual([12, 11, 13])
    expect(r.body.missing).toEqual([888888])
    expect(r.headers.get('cache-tag')).toBe('products,product:12,product:11,product:13,public')
    expect(r.headers.get('etag')).toMatch(/^"/)
    // the three uncached keys were loaded by ONE loader call
    expect(demo.metrics.snapshot().byLayer.db!.hits - before).toBe(1)
    const again = await json(`${demo.url}/api/public/products?ids=12,11,13,888888`)
    expect(again.body).toEqual(r.body)
    expect(demo.metrics.snapshot().byLayer.db!.hits - before).toBe(1)
    for (const bad of ['', '1,x', Array.from({ length: 101 }, (_, i) => i + 1).join(',')]) {
      expect((await json(`${demo.url}/api/public/products?ids=${bad}`)).status).toBe(400)
    }
  })

  it('GET /api/users/:id: bearer token required, private and never shared-cacheable, cache-aside', async () => {
    const token = userToken(5)
    const ok = await json(`${demo.url}/api/users/5`, { headers: { authorization: `Bearer ${token}` } })
    expect(ok.status).toBe(200)
    expect(ok.body).toMatchObject({ id: 5 })
    expect(ok.body.apiToken).toBeUndefined()
    expect(ok.headers.get('cache-control')).toBe('private, no-store')
    expect(ok.headers.get('cdn-cache-control')).toBe('no-store')
    const l1Before = demo.metrics.snapshot().byLayer.l1!.hits
    const again = await json(`${demo.url}/api/users/5`, { headers: { authorization: `Bearer ${token}` } })
    expect(again.body).toEqual(ok.body)
    expect(demo.metrics.snapshot().byLayer.l1!.hits - l1Before).toBe(1)
    expect((await json(`${demo.url}/api/users/5`)).status).toBe(401)
    // the refusal is as private as the answer, also when the path is encoded (Fastify decodes it to this route)
    for (const path of ['/api/users/5', '/api/%75sers/5']) {
      const refused = await json(`${demo.url}${path}`)
      expect([path, refused.status, refused.body.error, refused.headers.get('cache-control')]).toEqual([
        path,
        401,
        'E_UNAUTHORIZED',
        'private, no-store',
      ])
    }
    // a path Fastify cannot decode is refused before routing, privately too
    const bad = await json(`${demo.url}/api/users/%zz`)
    expect([bad.status, bad.body.error, bad.headers.get('cache-control')]).toEqual([
      400,
      'E_BAD_REQUEST',
      'private, no-store',
    ])
    expect(
      (await json(`${demo.url}/api/users/5`, { headers: { authorization: `Bearer ${userToken(6)}` } }))
        .status,
    ).toBe(401)
    expect(
      (await json(`${demo.url}/api/users/99999`, { headers: { authorization: `Bearer ${token}` } })).status,
    ).toBe(401)
    expect((await json(`${demo.url}/api/users/5`, { headers: { authorization: 'Basic abc' } })).status).toBe(
      401,
    )
  })

  it('PUT /api/products/:id: writes the database, deletes the cached copy, next read sees it; bad input changes nothing', async () => {
    const before = await json(`${demo.url}/api/public/products/20`)
    expect(before.body.version).toBe(1)
    const put = await json(`${demo.url}/api/products/20`, {
      method: 'PUT',
      body: { priceCents: 12345, name: 'Renamed' },
    })
    expect(put.status).toBe(200)
    expect(put.body).toMatchObject({ id: 20, priceCents: 12345, name: 'Renamed', version: 2 })
    expect((await demo.store.getProduct(20))!.priceCents).toBe(12345)
    const after = await json(`${demo.url}/api/public/products/20`)
    expect(after.body).toMatchObject({ priceCents: 12345, version: 2 })
    expect(after.headers.get('etag')).not.toBe(before.headers.get('etag'))
    for (const body of [{}, { priceCents: -1 }, { stock: 1.5 }, { name: '' }, { color: 'red' }, [1], 'x']) {
      const r = await json(`${demo.url}/api/products/20`, { method: 'PUT', body })
      expect(r.status, JSON.stringify(body)).toBe(400)
    }
    expect(
      (await json(`${demo.url}/api/products/999999`, { method: 'PUT', body: { stock: 1 } })).status,
    ).toBe(404)
    // If-Match with a stale ETag: 412, nothing written
    const stale = await fetch(`${demo.url}/api/products/20`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'if-match': before.headers.get('etag')! },
      body: JSON.stringify({ stock: 1 }),
    })
    expect(stale.status).toBe(412)
    expect((await demo.store.getProduct(20))!).toMatchObject({ version: 2, priceCents: 12345 })
    const stats = await json(`${demo.url}/api/stats`)
    // the batch reads' key and the single read's tagged key, and the product's tags
    expect(stats.body.invalidations[0]).toMatchObject({ kind: 'local', keys: ['p:20', 'tp:20'] })
    expect(stats.body.invalidations[0].tags[0]).toBe('product:20')
  })

  it('POST /api/products/:id/views: write-behind, acknowledged counts reach the database', async () => {
    const counts: number[] = []
    for (let i = 0; i < 5; i++) {
      const r = await json(`${demo.url}/api/products/30/views`, { method: 'POST' })
      expect(r.status).toBe(202)
      expect(r.body.mode).toBe('write-behind')
      counts.push(r.body.views)
    }
    expect(counts).toEqual([1, 2, 3, 4, 5])
    await until(async () => (await demo.store.getViews(30)) === 5, 'the flusher to write 5 views')
    expect((await json(`${demo.url}/api/products/999999/views`, { method: 'POST' })).status).toBe(404)
    expect((await json(`${demo.url}/api/products/abc/views`, { method: 'POST' })).status).toBe(400)
  })

  it('POST /api/reports/price-stats: computed on the worker pool, the event loop keeps answering', async () => {
    const report = json(`${demo.url}/api/reports/price-stats`, { method: 'POST', body: { resamples: 3000 } })
    let reportDone = false
    void report.then(() => {
      reportDone = true
    })
    // wait until the task runs on a thread, then the main thread must still answer
    await until(
      async () => (await json(`${demo.url}/api/stats`)).body.pool.running === 1 || reportDone,
      'the task to run',
    )
    const during = await json(`${demo.url}/api/public/products/7`)
    expect(during.status).toBe(200)
    const stats = await json(`${demo.url}/api/stats`)
    const r = await report
    expect(r.status).toBe(200)
    expect(reportDone).toBe(true)
    // answered while the report was running on a thread
    if (stats.body.pool.running !== 1)
      throw new Error('the report finished before the probe: raise resamples')
    const all = r.body.categories.find((c: { category: string }) => c.category === 'all')
    expect(all.count).toBe(2000)
    expect(all.meanCi95[0]).toBeLessThanOrEqual(all.mean)
    expect(all.meanCi95[1]).toBeGreaterThanOrEqual(all.mean)
    // the mean computed on the thread equals the one computed here from the database
    const cols = await demo.store.priceColumns()
    expect(all.mean).toBeCloseTo(cols.prices.reduce((a, b) => a + b, 0) / cols.prices.length, 6)
    expect(
      (await json(`${demo.url}/api/reports/price-stats`, { method: 'POST', body: { resamples: -1 } })).status,
    ).toBe(400)
    const pool = (await json(`${demo.url}/api/stats`)).body.pool
    expect(pool.completed).toBeGreaterThanOrEqual(1)
    // the pool's own busy time: at least the thread time the report says it spent, within uptime x threads
    expect(pool.busyTime).toBeGreaterThanOrEqual(r.body.computeMs)
    expect(pool.busyTime).toBeLessThanOrEqual(pool.uptime * pool.maxThreads)
  })

  it('GET /metrics: OpenMetrics text when the Accept header asks for it (as Prometheus does), else 0.0.4', async () => {
    const scraper =
      'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'
    for (const accept of [scraper, 'application/openmetrics-text']) {
      const res = await fetch(`${demo.url}/metrics`, { headers: { accept } })
      expect(res.headers.get('content-type'), accept).toBe(
        'application/openmetrics-text; version=1.0.0; charset=utf-8',
      )
      const text = await res.text()
      expect(text.endsWith('# EOF\n'), accept).toBe(true)
      expect(text).toMatch(/tierkit_cache_requests_total\{layer="l1",outcome="hit"\} [1-9]/)
    }
    for (const accept of ['text/plain', 'text/plain;q=1, application/openmetrics-text;q=0.5', '*/*']) {
      const res = await fetch(`${demo.url}/metrics`, { headers: { accept } })
      expect(res.headers.get('content-type'), accept).toMatch(/^text\/plain; version=0.0.4/)
      expect(await res.text(), accept).not.toContain('# EOF')
    }
  })

  it('GET /metrics: Prometheus text with the per-layer counters', async () => {
    const res = await fetch(`${demo.url}/metrics`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0.0.4/)
    const text = await res.text()
    const l1 = demo.metrics.snapshot().byLayer.l1!.hits
    expect(text).toContain(`tierkit_cache_requests_total{layer="l1",outcome="hit"} ${l1}`)
    expect(text).toMatch(/tierkit_cache_requests_total\{layer="db",outcome="hit"\} [1-9]/)
    expect(text).toContain('tierkit_cache_latency_seconds_bucket{layer="l2"')
    // every record redis-aside sent was accepted: no unknown layer (the old 'loader'), no second source of l1
    expect(text).toMatch(/tierkit_cache_requests_total\{layer="l2",outcome="miss"\} [1-9]/)
    expect(demo.metrics.snapshot().invalidByReason).toEqual({
      'unknown-layer': 0,
      'unknown-outcome': 0,
      'watched-layer': 0,
      'invalid-duration': 0,
    })
  })

  it('GET /api/stats and GET / (the dashboard page)', async () => {
    const s = await json(`${demo.url}/api/stats`)
    expect(s.status).toBe(200)
    expect(s.headers.get('cache-control')).toBe('no-store')
    expect(Object.keys(s.body.layers)).toEqual(['cdn', 'l1', 'l2', 'db'])
    expect(s.body.layers.l1.hitRate).toBeGreaterThan(0)
    expect(s.body.http.requests).toBeGreaterThan(10)
    const page = await fetch(`${demo.url}/`)
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toMatch(/^text\/html/)
    const html = await page.text()
    expect(html).toContain('/api/stats')
    expect(html).not.toMatch(/<script[^>]+src=/) // self-contained: no external scripts
  })

  it('close() drains the write-behind queue into the database, then closes everything (last)', async () => {
    expect((await json(`${demo.url}/api/products/33/views`, { method: 'POST' })).status).toBe(202)
    await demo.close()
    expect(logs.filter((l) => l.startsWith('write-behind: not drained'))).toEqual([])
  })
})
