import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDemo, type Demo } from '../src/app.js'
import { json, type TestDb, testConfig, testDb } from './helpers.js'

describe('without Redis (DEMO_REDIS=off): L1 only, said in one line', () => {
  let db: TestDb
  let demo: Demo
  const lines: string[] = []

  beforeAll(async () => {
    db = testDb('sqlite')
    demo = await createDemo(testConfig({ ...db.env, DEMO_REDIS: 'off' }), { log: (l) => lines.push(l) })
  })
  afterAll(async () => {
    await demo?.close()
    await db?.drop()
  })

  it('says so in one clear line', () => {
    expect(lines.filter((l) => l.startsWith('redis:'))).toEqual([
      'redis: none (DEMO_REDIS=off): running with the in-process L1 cache only',
    ])
    expect(demo.redisMode).toBe('none')
  })

  it('serves products from L1 after the first read, sees updates, counts views directly', async () => {
    const start = demo.metrics.snapshot().byLayer
    const first = await json(`${demo.url}/api/public/products/3`)
    expect(first.status).toBe(200)
    // one lookup, one miss (getOrLoad alone: no get-then-getOrLoad counting the miss twice), one load
    const mid = demo.metrics.snapshot().byLayer
    expect([
      mid.l1.misses - start.l1.misses,
      mid.l1.hits - start.l1.hits,
      mid.db.hits - start.db.hits,
    ]).toEqual([1, 0, 1])
    const hits = demo.metrics.snapshot().byLayer.l1!.hits
    expect((await json(`${demo.url}/api/public/products/3`)).body).toEqual(first.body)
    expect(demo.metrics.snapshot().byLayer.l1!.hits - hits).toBe(1)
    await json(`${demo.url}/api/products/3`, { method: 'PUT', body: { stock: 9 } })
    expect((await json(`${demo.url}/api/public/products/3`)).body).toMatchObject({ stock: 9, version: 2 })
    const batch = await json(`${demo.url}/api/public/products?ids=3,4,999999`)
    expect(batch.body.products.map((p: { id: number }) => p.id)).toEqual([3, 4])
    expect(batch.body.missing).toEqual([999999])
    const v = await json(`${demo.url}/api/products/3/views`, { method: 'POST' })
    expect(v.body).toEqual({ id: 3, views: 1, mode: 'direct' })
    expect(await demo.store.getViews(3)).toBe(1)
    expect((await json(`${demo.url}/api/stats`)).body.redis).toEqual({
      mode: 'none',
      client: null,
      topology: null,
      url: null,
      breaker: null,
    })
    // the L1s are the l1 layer's one source: nothing recorded it a second time
    expect(demo.metrics.snapshot().invalidByReason).toEqual({
      'unknown-layer': 0,
      'unknown-outcome': 0,
      'watched-layer': 0,
      'invalid-duration': 0,
    })
  })

  it('the db layer counts a row that is not there as a miss, in /api/stats and on the dashboard (it recorded hits only)', async () => {
    const before = demo.metrics.snapshot().byLayer.db!
    expect((await json(`${demo.url}/api/public/products/777777`)).status).toBe(404)
    const batch = await json(`${demo.url}/api/public/products?ids=20,21,777776`)
    expect(batch.body.missing).toEqual([777776])
    const after = demo.metrics.snapshot().byLayer.db!
    // one row asked and absent; then one query for three rows, one absent: two misses, one timed sample each
    expect([after.hits - before.hits, after.misses - before.misses]).toEqual([0, 2])
    expect(after.latency.count - before.latency.count).toBe(2)
    const stats = (await json(`${demo.url}/api/stats`)).body
    expect([stats.layers.db.hits, stats.layers.db.misses]).toEqual([after.hits, after.misses])
    expect(stats.layers.db.hitRate).toBeCloseTo(after.hits / (after.hits + after.misses), 9)
    expect(stats.layers.db.hitRate).toBeLessThan(1)
  })

  it('DEMO_CACHE=off: every read goes to the database, recorded there; nothing in L1', async () => {
    const off = await createDemo(testConfig({ ...db.env, DEMO_REDIS: 'off', DEMO_CACHE: 'off' }), {
      log: () => {},
    })
    try {
      for (let i = 0; i < 3; i++) expect((await json(`${off.url}/api/public/products/5`)).status).toBe(200)
      const s = (await json(`${off.url}/api/stats`)).body
      expect(s.cache).toBe('off')
      expect([s.layers.db.hits, s.layers.db.misses, s.l1.size]).toEqual([3, 0, 0])
    } finally {
      await off.close()
    }
  })
})
