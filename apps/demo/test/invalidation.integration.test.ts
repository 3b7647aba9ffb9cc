import { startRedis } from '@tierkit/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Demo } from '../src/app.js'
import type { Cdn } from '../src/cdn.js'
import type { RedisClientName } from '../src/redis-url.js'
import {
  type DemoBehindCdn,
  json,
  startDemo,
  startDemoBehindCdn,
  type TestDb,
  testDb,
  until,
} from './helpers.js'

// PUT /api/products/:id invalidates the product in every layer with one call path: this instance's L1, L2 by tag
// (expireByTag soft by default, deleteByTag with ?invalidate=hard) and so every other instance's L1 through the
// bus, and the CDN (soft: re-fetched, hard: removed). /api/stats shows each layer's latency.

interface LayerRow {
  layer: string
  mode: string
  ms: number | null
  result: string
}

async function price(base: string, id: number): Promise<{ priceCents: number; headers: Headers }> {
  const r = await json(`${base}/api/public/products/${id}`)
  expect(r.status).toBe(200)
  return { priceCents: r.body.priceCents, headers: r.headers }
}

/** Waits until `demo` has the bus message of the tag invalidation of product `id` (sent by another instance). */
async function busDelivered(base: string, id: number, count = 1): Promise<void> {
  await until(async () => {
    const inv = (await json(`${base}/api/stats`)).body.invalidations as Array<{
      kind: string
      tags: string[]
    }>
    return inv.filter((e) => e.kind === 'remote' && e.tags.includes(`product:${id}`)).length >= count
  }, `the bus message of product ${id}`)
}

async function lastLayers(base: string): Promise<{ tags: string[]; mode: string; layers: LayerRow[] }> {
  const s = (await json(`${base}/api/stats`)).body
  expect(s.lastInvalidation).not.toBeNull()
  return s.lastInvalidation
}

// the bus between the instances and the tags' scripts, once per client library (REDIS_CLIENT)
describe.each<RedisClientName>(['ioredis', 'node-redis', 'iovalkey'])(
  'a product update across two instances on one Redis (%s)',
  (client) => {
    let db: TestDb
    let a: Demo
    let b: Demo
    let stopRedis: () => Promise<void>

    beforeAll(async () => {
      const redis = await startRedis()
      stopRedis = () => redis.stop()
      db = testDb('sqlite')
      const env = { ...db.env, REDIS_URL: redis.url, REDIS_CLIENT: client }
      a = await startDemo({ ...env, INSTANCE_ID: 'inv-a' })
      b = await startDemo({ ...env, INSTANCE_ID: 'inv-b' })
    })
    afterAll(async () => {
      await a?.close()
      await b?.close()
      await db?.drop()
      await stopRedis?.()
    })

    it('soft (the default): B serves the old value within grace (not stored at the edge), then the refreshed one', async () => {
      expect((await json(`${b.url}/api/stats`)).body.redis).toMatchObject({ client, topology: 'standalone' })
      const old = (await price(a.url, 42)).priceCents
      expect((await price(b.url, 42)).priceCents).toBe(old) // in B's L1
      const put = await json(`${a.url}/api/products/42`, { method: 'PUT', body: { priceCents: old + 1 } })
      expect(put.status).toBe(200)
      expect(put.headers.get('x-cache-invalidation')).toBeNull()
      const category = put.body.category as string
      await busDelivered(b.url, 42)
      const stale = await price(b.url, 42)
      expect(stale.priceCents).toBe(old) // stale at once, served within grace
      expect(stale.headers.get('cache-control')).toBe('no-store') // the edge never keeps a value served stale
      await until(
        async () => (await price(b.url, 42)).priceCents === old + 1,
        'B to serve the refreshed value',
      )
      const last = await lastLayers(a.url)
      expect(last.mode).toBe('soft')
      expect(last.tags).toEqual(['product:42', `category:${category}`])
      expect(last.layers.map((l) => [l.layer, l.mode])).toEqual([
        ['l1', 'soft'],
        ['l2', 'soft'],
        ['cdn', 'soft'],
      ])
      expect(last.layers[0]!.ms).toBeTypeOf('number')
      expect(last.layers[1]!.ms).toBeTypeOf('number')
      expect(last.layers[1]!.result).toBe('expireByTag')
      expect(last.layers[2]).toMatchObject({ ms: null, result: 'no cdn' })
      expect((await json(`${b.url}/api/stats`)).body.lastInvalidation).toBeNull() // B wrote nothing
    })

    it('hard (?invalidate=hard): B’s next read after the bus message loads the new value', async () => {
      const old = (await price(a.url, 43)).priceCents
      expect((await price(b.url, 43)).priceCents).toBe(old)
      const put = await json(`${a.url}/api/products/43?invalidate=hard`, {
        method: 'PUT',
        body: { priceCents: old + 1 },
      })
      expect(put.status).toBe(200)
      await busDelivered(b.url, 43)
      expect((await price(b.url, 43)).priceCents).toBe(old + 1)
      const last = await lastLayers(a.url)
      expect(last.mode).toBe('hard')
      expect(last.layers[1]).toMatchObject({ layer: 'l2', mode: 'hard', result: 'deleteByTag' })
    })

    it('a mode other than soft or hard is refused, and nothing is written', async () => {
      const before = (await price(a.url, 44)).priceCents
      const put = await json(`${a.url}/api/products/44?invalidate=later`, {
        method: 'PUT',
        body: { priceCents: 1 },
      })
      expect(put.status).toBe(400)
      expect((await price(a.url, 44)).priceCents).toBe(before)
    })
  },
)

describe('a product update through nginx (--cdn)', () => {
  let demo: Demo
  let cdn: Cdn
  let setup: DemoBehindCdn | undefined

  beforeAll(async () => {
    setup = await startDemoBehindCdn({ purge: true })
    ;({ demo, cdn } = setup)
  })
  afterAll(async () => {
    await setup?.close()
  })

  /** Reads `id` through nginx until it is a HIT (stored), and until the log line is indexed for purges. */
  async function atEdge(id: number): Promise<number> {
    const cdnHits = async (): Promise<number> => (await json(`${demo.url}/api/stats`)).body.layers.cdn.hits
    const before = await cdnHits()
    let body: { priceCents: number } | undefined
    await until(async () => {
      const r = await fetch(`${cdn.url}/api/public/products/${id}`)
      body = (await r.json()) as { priceCents: number }
      return r.headers.get('x-cache-status') === 'HIT'
    }, `product ${id} to be stored at the edge`)
    // once the HIT's log line is read, the earlier lines (the URL to purge) are indexed too
    await until(async () => (await cdnHits()) > before, 'the access log to be read')
    return body!.priceCents
  }

  it('soft: the next request through nginx is a HIT with the new content; three layers timed', async () => {
    const old = await atEdge(52)
    const put = await json(`${cdn.url}/api/products/52`, { method: 'PUT', body: { priceCents: old + 7 } })
    expect(put.status).toBe(200)
    const next = await fetch(`${cdn.url}/api/public/products/52`)
    expect(next.headers.get('x-cache-status')).toBe('HIT')
    expect(((await next.json()) as { priceCents: number }).priceCents).toBe(old + 7)
    const last = await lastLayers(demo.url)
    expect(last.layers.map((l) => l.layer)).toEqual(['l1', 'l2', 'cdn'])
    for (const l of last.layers) {
      expect(l.mode).toBe('soft')
      expect(l.ms).toBeTypeOf('number')
      expect(l.ms).toBeGreaterThanOrEqual(0)
    }
    expect(last.layers[2]!.result).toBe('1 re-fetched, 0 removed')
  })

  it('hard: the next request through nginx is a MISS with the new content', async () => {
    const old = await atEdge(53)
    const put = await json(`${cdn.url}/api/products/53?invalidate=hard`, {
      method: 'PUT',
      body: { priceCents: old + 9 },
    })
    expect(put.status).toBe(200)
    const next = await fetch(`${cdn.url}/api/public/products/53`)
    expect(next.headers.get('x-cache-status')).toBe('MISS')
    expect(((await next.json()) as { priceCents: number }).priceCents).toBe(old + 9)
    const last = await lastLayers(demo.url)
    expect(last.layers[2]).toMatchObject({ layer: 'cdn', mode: 'hard', result: '0 re-fetched, 1 removed' })
    expect(last.layers[2]!.ms).toBeTypeOf('number')
  })
})
