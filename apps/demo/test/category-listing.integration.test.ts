import { startRedis } from '@tierkit/testkit'
import { chromium } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Demo } from '../src/app.js'
import type { Cdn } from '../src/cdn.js'
import { TAG_GRACE_MS } from '../src/invalidate.js'
import {
  type CliProcess,
  type DemoBehindCdn,
  json,
  spawnCli,
  startDemo,
  startDemoBehindCdn,
  type TestDb,
  testDb,
  until,
} from './helpers.js'

// GET /api/categories/:category/products: the listing's members under the tag category:<c>, each product under
// product:<id> (the single read's entry). A PUT of a product expires both tags in every layer; another instance
// serves the listing fresh after it.

interface Listing {
  category: string
  products: Array<{ id: number; category: string; priceCents: number; version: number }>
}

async function listing(base: string, category: string): Promise<Listing & { headers: Headers }> {
  const r = await json(`${base}/api/categories/${category}/products`)
  expect(r.status).toBe(200)
  return { ...r.body, headers: r.headers }
}

const priceIn = (l: Listing, id: number): number | undefined =>
  l.products.find((p) => p.id === id)?.priceCents

describe('the category listing across two instances on one Redis', () => {
  let db: TestDb
  let a: Demo
  let b: Demo
  let category: string
  let stopRedis: () => Promise<void>

  beforeAll(async () => {
    const redis = await startRedis()
    stopRedis = () => redis.stop()
    db = testDb('sqlite')
    const env = { ...db.env, REDIS_URL: redis.url }
    a = await startDemo({ ...env, INSTANCE_ID: 'list-a' })
    b = await startDemo({ ...env, INSTANCE_ID: 'list-b' })
    category = (await a.store.getProduct(42))!.category
  })
  afterAll(async () => {
    await a?.close()
    await b?.close()
    await db?.drop()
    await stopRedis?.()
  })

  it('lists the first 20 products of the category in id order, tagged for the CDN; then from L1', async () => {
    const first = await listing(a.url, category)
    expect(first.category).toBe(category)
    expect(first.products.length).toBe(20)
    expect(first.products.every((p) => p.category === category)).toBe(true)
    const ids = first.products.map((p) => p.id)
    expect(ids).toEqual([...ids].sort((x, y) => x - y))
    expect(ids).toContain(42)
    expect(ids).toEqual(await a.store.categoryProductIds(category, 20))
    expect(first.headers.get('cache-tag')).toBe(
      [`category:${category}`, ...ids.map((id) => `product:${id}`), 'public'].join(','),
    )
    expect(first.headers.get('cache-control')).toBe('public, max-age=600, stale-while-revalidate=60')
    expect(first.headers.get('etag')).toMatch(/^"[\w-]{22}"$/)
    const db0 = a.metrics.snapshot().byLayer.db!.hits
    const again = await listing(a.url, category)
    expect(again.products).toEqual(first.products)
    expect(a.metrics.snapshot().byLayer.db!.hits).toBe(db0) // members and products from L1
  })

  it('refuses a malformed category (400) and names an unknown one (404)', async () => {
    expect((await json(`${a.url}/api/categories/Books!/products`)).status).toBe(400)
    const unknown = await json(`${a.url}/api/categories/spaceships/products`)
    expect(unknown.status).toBe(404)
    expect(unknown.body.error).toBe('E_NOT_FOUND')
  })

  it('hard: after A’s PUT of product 42, B’s next listing (after the bus message) has the new row', async () => {
    const old = priceIn(await listing(b.url, category), 42)!
    expect(priceIn(await listing(b.url, category), 42)).toBe(old) // in B's L1
    const put = await json(`${a.url}/api/products/42?invalidate=hard`, {
      method: 'PUT',
      body: { priceCents: old + 3 },
    })
    expect(put.status).toBe(200)
    const last = (await json(`${a.url}/api/stats`)).body.lastInvalidation
    expect(last.tags).toEqual(['product:42', `category:${category}`])
    expect(last.layers[1]).toMatchObject({ layer: 'l2', result: 'deleteByTag' })
    expect(last.layers[2]).toMatchObject({ layer: 'bus', result: 'published' })
    await until(async () => {
      const inv = (await json(`${b.url}/api/stats`)).body.invalidations as Array<{
        kind: string
        tags: string[]
      }>
      return inv.some((e) => e.kind === 'remote' && e.tags.includes(`category:${category}`))
    }, 'B to receive the tags')
    const fresh = await listing(b.url, category)
    expect(priceIn(fresh, 42)).toBe(old + 3)
    expect(fresh.products.find((p) => p.id === 42)!.version).toBe(put.body.version)
  })

  it('soft (the default): A reads its own write at once; B serves the old listing within grace (never stored at the edge), then the new one', async () => {
    const old = priceIn(await listing(b.url, category), 42)!
    // B's L1 holds product 42 (the second read is an L1 hit, no database read): what the soft expiry makes stale
    const bDb = b.metrics.snapshot().byLayer.db!.hits
    expect(priceIn(await listing(b.url, category), 42)).toBe(old)
    expect(b.metrics.snapshot().byLayer.db!.hits).toBe(bDb)
    expect(priceIn(await listing(a.url, category), 42)).toBe(old)
    const putAt = Date.now()
    const put = await json(`${a.url}/api/products/42`, { method: 'PUT', body: { priceCents: old + 5 } })
    expect(put.status).toBe(200)
    expect(priceIn(await listing(a.url, category), 42)).toBe(old + 5)
    await until(async () => {
      const inv = (await json(`${b.url}/api/stats`)).body.invalidations as Array<{
        kind: string
        tags: string[]
      }>
      return inv.filter((e) => e.kind === 'remote' && e.tags.includes(`category:${category}`)).length >= 2
    }, 'B to receive the tags of the second update')
    // B's next read comes within the grace (TAG_GRACE_MS from the PUT; checked, so that the read below is
    // bound to see the old value): its L1 copy is stale, served as it is, never stored at the edge; the read
    // starts B's refresh (nothing of B read product 42 since the PUT, so nothing refreshed it before)
    const stale = await listing(b.url, category)
    expect(Date.now() - putAt).toBeLessThan(TAG_GRACE_MS)
    expect(priceIn(stale, 42)).toBe(old)
    expect(stale.headers.get('cache-control')).toBe('no-store')
    await until(
      async () => priceIn(await listing(b.url, category), 42) === old + 5,
      'B to serve the refreshed listing',
    )
  })
})

describe('the category listing through nginx (--cdn)', () => {
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

  it('a PUT of a listed product removes the listing at the edge: the next request is a MISS with the new row', async () => {
    const category = (await demo.store.getProduct(42))!.category
    const url = `${cdn.url}/api/categories/${category}/products`
    const cdnHits = async (): Promise<number> => (await json(`${demo.url}/api/stats`)).body.layers.cdn.hits
    const hitsBefore = await cdnHits()
    let old: number | undefined
    await until(async () => {
      const r = await fetch(url)
      old = priceIn((await r.json()) as Listing, 42)
      return r.headers.get('x-cache-status') === 'HIT'
    }, 'the listing to be stored at the edge')
    // the cdn layer counts /api/public/ lookups only: a product's HIT after the listing's shows the log was read
    // past the listing's line, which is then in the tag index
    await until(async () => {
      await fetch(`${cdn.url}/api/public/products/1`).then((r) => r.arrayBuffer())
      return (await cdnHits()) > hitsBefore
    }, 'the access log to be read')
    const put = await json(`${cdn.url}/api/products/42`, { method: 'PUT', body: { priceCents: old! + 11 } })
    expect(put.status).toBe(200)
    const cdnLayer = (await json(`${demo.url}/api/stats`)).body.lastInvalidation.layers[3]
    // from the tags call (expireByTag with the demo's purger as its cdn): the listing URL removed
    expect(cdnLayer).toMatchObject({ layer: 'cdn', mode: 'soft' })
    expect(cdnLayer.result).toMatch(/^\d+ re-fetched, [1-9]\d* removed$/)
    expect(cdnLayer.ms).toBeGreaterThanOrEqual(49) // after the bus and the tags' cdnDelay
    const next = await fetch(url)
    expect(next.headers.get('x-cache-status')).toBe('MISS')
    expect(priceIn((await next.json()) as Listing, 42)).toBe(old! + 11)
  })
})

describe('--instances 2: the bus latency to the other instance, reported over IPC', () => {
  let db: TestDb
  let cli: CliProcess
  let a: string
  let b: string

  beforeAll(async () => {
    db = testDb('sqlite')
    cli = spawnCli(['--instances', '2'], { ...db.env, DEMO_REDIS: 'auto', REDIS_URL: '', INSTANCE_ID: 'ipc' })
    a = (await cli.waitFor(/instance 1 listening on (http:\/\/\S+)/, 'instance 1 to listen'))[0]![1]!
    b = (await cli.waitFor(/instance 2 listening on (http:\/\/\S+)/, 'instance 2 to listen'))[0]![1]!
  })
  afterAll(async () => {
    cli?.proc.kill('SIGTERM')
    await cli?.exited
    await db?.drop()
  })

  it('a PUT on instance 1: instance 2’s listing is fresh, and 1’s last invalidation times 2’s L1 (table row)', async () => {
    const category = (await json(`${a}/api/public/products/42`)).body.category as string
    const old = priceIn(await listing(b, category), 42)!
    const put = await json(`${a}/api/products/42?invalidate=hard`, {
      method: 'PUT',
      body: { priceCents: old + 1 },
    })
    expect(put.status).toBe(200)
    await until(async () => priceIn(await listing(b, category), 42) === old + 1, 'B to list the new row')
    await until(
      async () => (await json(`${a}/api/stats`)).body.lastInvalidation.remote.length === 1,
      'instance 2 to report its bus latency',
    )
    const last = (await json(`${a}/api/stats`)).body.lastInvalidation
    expect(last.remote).toEqual([{ instance: 'ipc-2', ms: expect.any(Number) }])
    expect(last.remote[0].ms).toBeGreaterThan(0)
    expect(last.remote[0].ms).toBeLessThan(5000)
    expect((await json(`${b}/api/stats`)).body.lastInvalidation).toBeNull() // B wrote nothing

    const browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    })
    try {
      const page = await browser.newPage()
      await page.goto(`${a}/`)
      await page.waitForFunction(() => document.querySelectorAll('#last-invalidation tbody tr').length === 5)
      const rows = (await page.locator('#last-invalidation tbody tr').allInnerTexts()).map((r) =>
        r.split('\t'),
      )
      expect(rows.map((r) => r[0])).toEqual(['l1', 'l2', 'bus', 'cdn', 'l1 @ ipc-2'])
      expect(rows[3]!.slice(1)).toEqual(['hard', '—', 'no cdn']) // no --cdn: the tags have no CDN layer
      expect(rows[4]!.slice(1)).toEqual([
        'hard',
        expect.stringMatching(/^\d+(\.\d+)? ms$/),
        'bus: tags applied',
      ])
    } finally {
      await browser.close()
    }
  })
})
