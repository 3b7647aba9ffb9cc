import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { startRedis } from '@tierkit/testkit'
import { chromium } from 'playwright-core'
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

// PUT /api/products/:id invalidates the product in every layer with one call: this instance's L1 evicted, then
// the tags' expireByTag (soft, the default) or deleteByTag (?invalidate=hard), which moves the versions on in
// Redis (L2), publishes them on the bus (every other instance's L1) and purges the CDN (the demo's purger is the
// tags' `cdn`; soft: re-fetched, hard: removed). /api/stats shows each layer's time as that call returned it.

interface LayerRow {
  layer: string
  mode: string
  ms: number | null
  result: string
  failed?: Array<{ tag: string; reason: string; message: string }>
}

/** The rows of the one tags call: l2 (Redis), bus, cdn, with their times from the call's start. */
function apiRows(layers: LayerRow[]): { l2: LayerRow; bus: LayerRow; cdn: LayerRow } {
  expect(layers.map((l) => l.layer)).toEqual(['l1', 'l2', 'bus', 'cdn'])
  return { l2: layers[1]!, bus: layers[2]!, cdn: layers[3]! }
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
        ['bus', 'soft'],
        ['cdn', 'soft'],
      ])
      expect(last.layers[0]!.ms).toBeTypeOf('number')
      const { l2, bus, cdn } = apiRows(last.layers)
      expect(l2.result).toBe('expireByTag')
      expect(l2.ms).toBeGreaterThan(0)
      // the TagInvalidation's times run from the call's start: the bus publish after the Redis script
      expect(bus).toMatchObject({ result: 'published' })
      expect(bus.ms).toBeGreaterThanOrEqual(l2.ms!)
      // no CDN: the tags have no cdn layer, so the call returned none (and waited no cdnDelay)
      expect(cdn).toMatchObject({ ms: null, result: 'no cdn' })
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
      const { l2, bus, cdn } = apiRows(last.layers)
      expect(l2).toMatchObject({ layer: 'l2', mode: 'hard', result: 'deleteByTag' })
      expect(bus).toMatchObject({ layer: 'bus', mode: 'hard', result: 'published' })
      expect(cdn).toMatchObject({ ms: null, result: 'no cdn' })
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

  it('soft: the next request through nginx is a HIT with the new content; each layer timed by the one tags call', async () => {
    const old = await atEdge(52)
    const put = await json(`${cdn.url}/api/products/52`, { method: 'PUT', body: { priceCents: old + 7 } })
    expect(put.status).toBe(200)
    const next = await fetch(`${cdn.url}/api/public/products/52`)
    expect(next.headers.get('x-cache-status')).toBe('HIT')
    expect(((await next.json()) as { priceCents: number }).priceCents).toBe(old + 7)
    const last = await lastLayers(demo.url)
    const { l2, bus, cdn: edge } = apiRows(last.layers)
    for (const l of last.layers) {
      expect(l.mode).toBe('soft')
      expect(l.ms).toBeTypeOf('number')
      expect(l.ms).toBeGreaterThan(0)
    }
    // one tags call, its times from its start: Redis, then the bus, then (after cdnDelay, 50 ms) the CDN purge
    expect(bus.ms).toBeGreaterThanOrEqual(l2.ms!)
    // (49: a timer of 50 ms may fire a fraction of a ms early by performance.now())
    expect(edge.ms).toBeGreaterThanOrEqual(bus.ms! + 49)
    expect(edge.result).toBe('1 re-fetched, 0 removed')
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
    const { bus, cdn: edge } = apiRows(last.layers)
    expect(edge).toMatchObject({ layer: 'cdn', mode: 'hard', result: '0 re-fetched, 1 removed' })
    expect(edge.ms).toBeGreaterThanOrEqual(bus.ms! + 49)
  })

  it('a CDN purge that fails (a cache file nginx cannot give up): the cdn row says failed, with the tag and why; the dashboard shows it', async () => {
    const old = await atEdge(54)
    // the entry's file replaced by a folder: unlink(2) fails with EISDIR (as root too, unlike a read-only folder)
    const h = createHash('md5').update('/api/public/products/54').digest('hex')
    const file = join(cdn.cacheDir, h.slice(-1), h.slice(-3, -1), h)
    expect(existsSync(file)).toBe(true)
    rmSync(file)
    mkdirSync(file)
    try {
      const put = await json(`${demo.url}/api/products/54?invalidate=hard`, {
        method: 'PUT',
        body: { priceCents: old + 3 },
      })
      expect(put.status).toBe(200) // the database, Redis and the bus have it; only the edge may still serve the old
      expect(put.headers.get('x-cache-invalidation')).toMatch(/^cdn failed \(product:54: io\)/)
      const { cdn: edge } = apiRows((await lastLayers(demo.url)).layers)
      expect(edge.result).toMatch(/^failed \(product:54: io\); 0 re-fetched, 0 removed$/)
      expect(edge.failed).toEqual([
        {
          tag: 'product:54',
          reason: 'io',
          message: expect.stringMatching(/could not remove a cache file: EISDIR/),
        },
      ])
      expect(edge.ms).toBeGreaterThan(0)
      const browser = await chromium.launch({
        executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
      })
      try {
        const page = await browser.newPage()
        await page.goto(`${demo.url}/`)
        const row = page.locator('#last-invalidation tbody tr').nth(3)
        await row.locator('td.bad').waitFor()
        expect(await row.locator('td').allTextContents()).toEqual([
          'cdn',
          'hard',
          expect.stringMatching(/^\d+(\.\d+)? ms$/),
          'failed (product:54: io); 0 re-fetched, 0 removed',
        ])
        expect(await row.locator('td.bad').getAttribute('title')).toMatch(/^product:54: .*EISDIR/)
      } finally {
        await browser.close()
      }
    } finally {
      rmSync(file, { recursive: true, force: true })
    }
  })
})
