/**
 * Issue 15, defect 2 (the CDN part): a miss in flight during a PUT must not be stored by nginx after the purge.
 * The race is made deterministic with the demo's test hook: the origin holds the answer of the first read of a
 * product (after its cache read, before the answer is sent) until the test has written the product and the PUT
 * has returned; then the old answer goes out, through nginx, and nginx stores it unless told not to.
 */
import { startRedis } from '@tierkit/testkit'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { Demo } from '../src/app.js'
import { type Cdn, startCdn } from '../src/cdn.js'
import { json, startDemo, type TestDb, testDb } from './helpers.js'

/** Holds the next origin answer that reads product `id`, until released. */
function createGate() {
  let armed: { id: number; arrived: () => void; released: Promise<void> } | undefined
  return {
    hook: async (ids: readonly number[]): Promise<void> => {
      const a = armed
      if (a === undefined || !ids.includes(a.id)) return
      armed = undefined
      a.arrived()
      await a.released
    },
    /** Arms the gate for `id`; `arrived` resolves once an answer is held, `release()` lets it go. */
    arm(id: number): { arrived: Promise<void>; release: () => void } {
      let arrived!: () => void
      let release!: () => void
      const arrivedP = new Promise<void>((r) => {
        arrived = r
      })
      const released = new Promise<void>((r) => {
        release = r
      })
      armed = { id, arrived, released }
      return { arrived: arrivedP, release }
    },
  }
}

/** The price of product `id` in an answer of either read route. */
function priceIn(body: unknown, id: number): number | undefined {
  const b = body as { id?: number; priceCents?: number; products?: { id: number; priceCents: number }[] }
  if (b.products) return b.products.find((p) => p.id === id)?.priceCents
  return b.id === id ? b.priceCents : undefined
}

async function read(
  base: string,
  url: string,
  id: number,
): Promise<{ price: number | undefined; cache: string }> {
  const r = await fetch(`${base}${url}`)
  const body = await r.json()
  return { price: priceIn(body, id), cache: r.headers.get('x-cache-status') ?? '-' }
}

/** One race: hold a miss of `url` at the origin, PUT the product, release the old answer, then read for a while. */
async function race(
  gate: ReturnType<typeof createGate>,
  edge: string,
  writer: string,
  url: string,
  id: number,
  price: number,
  /**
   * `hard`: every read after the PUT sees the new price. `soft`: another instance may answer the old one within its
   * grace (`no-store`: passed through, never stored), so only a stale HIT counts.
   */
  mode: 'hard' | 'soft' = 'hard',
): Promise<{ heldPrice: number | undefined; stale: string[] }> {
  const held = gate.arm(id)
  const inflight = read(edge, url, id) // nginx: MISS, on its way to the origin, held there after the read
  await held.arrived
  const put = await json(`${writer}/api/products/${id}?invalidate=${mode}`, {
    method: 'PUT',
    body: { priceCents: price },
  })
  expect(put.status).toBe(200)
  // the write has returned; now the answer read before it reaches nginx
  held.release()
  const old = await inflight
  // every read from here on starts after the write returned: it must see the new price. Read for a while (a
  // stale store lands a few ms after the held answer's last byte).
  const until = Date.now() + 300
  let reads = 0
  let first: string | undefined
  let bad = 0
  while (Date.now() < until) {
    const r = await read(edge, url, id)
    reads++
    if (r.price !== price && (mode === 'hard' || r.cache === 'HIT')) {
      bad++
      first ??= `${r.cache} with priceCents ${r.price}`
    }
  }
  const stale = bad === 0 ? [] : [`${url}: ${bad} of ${reads} reads stale (first: ${first}; wrote ${price})`]
  return { heldPrice: old.price, stale }
}

describe('CDN mode, one instance: a miss in flight during a PUT', () => {
  let db: TestDb
  let demo: Demo
  let cdn: Cdn
  let stopRedis: () => Promise<void>
  const gate = createGate()

  beforeAll(async () => {
    const redis = await startRedis()
    stopRedis = () => redis.stop()
    db = testDb('sqlite')
    demo = await startDemo(
      { ...db.env, REDIS_URL: redis.url },
      { cdn: true, testHooks: { beforeProductResponse: gate.hook } },
    )
    cdn = await startCdn({ upstreams: [demo.url], metrics: demo.metrics })
    demo.setPurger(cdn)
  })
  afterAll(async () => {
    await cdn?.close()
    await demo?.close()
    await db?.drop()
    await stopRedis?.()
  })

  test('is never stored after the purge: 30 races, single and batch URLs, no stale read once the PUT returned', async () => {
    const stale: string[] = []
    const urls: { url: string; id: number; price: number }[] = []
    for (let k = 0; k < 30; k++) {
      const id = 300 + k
      const url = k % 2 === 0 ? `/api/public/products/${id}` : `/api/public/products?ids=${id},${id + 1000}`
      const price = 500_000 + k
      // soft, the default: the writer stores the new row, so one instance keeps read-after-write
      const r = await race(gate, cdn.url, cdn.url, url, id, price, 'soft')
      // the held answer itself was read before the write: it carries the old price (the race did happen)
      expect(r.heldPrice).not.toBe(price)
      stale.push(...r.stale)
      urls.push({ url, id, price })
    }
    // and later still: every URL holds the new price at the edge
    for (const { url, id, price } of urls) {
      const r = await read(cdn.url, url, id)
      if (r.price !== price)
        stale.push(`${url} (final pass): ${r.cache} with priceCents ${r.price}, wrote ${price}`)
    }
    expect(stale).toEqual([])
  })
})

describe('CDN mode, two instances (one Redis, one database): the read on A, the write on B', () => {
  let db: TestDb
  let a: Demo
  let b: Demo
  let cdn: Cdn
  let stopRedis: () => Promise<void>
  const gate = createGate()

  beforeAll(async () => {
    const redis = await startRedis()
    stopRedis = () => redis.stop()
    db = testDb('sqlite')
    const env = { ...db.env, REDIS_URL: redis.url }
    a = await startDemo(
      { ...env, INSTANCE_ID: 'race-a' },
      { cdn: true, testHooks: { beforeProductResponse: gate.hook } },
    )
    b = await startDemo({ ...env, INSTANCE_ID: 'race-b' }, { cdn: true })
    // nginx sends the reads to A; the PUTs go to B directly, which purges the same CDN (with the second purge
    // of a multi-instance CDN, which this one is although nginx knows one origin)
    cdn = await startCdn({ upstreams: [a.url], confirmPurgeMs: 200 })
    a.setPurger(cdn)
    b.setPurger(cdn)
  })
  afterAll(async () => {
    await cdn?.close()
    await a?.close()
    await b?.close()
    await db?.drop()
    await stopRedis?.()
  })

  test.each<'hard' | 'soft'>(['hard', 'soft'])(
    'the old answer A read before B’s write never stays at the edge (%s): 20 races',
    async (mode) => {
      const stale: string[] = []
      const base = mode === 'hard' ? 400 : 440
      for (let k = 0; k < 20; k++) {
        const id = base + k
        const url = k % 2 === 0 ? `/api/public/products/${id}` : `/api/public/products?ids=${id},${id + 1000}`
        const r = await race(gate, cdn.url, b.url, url, id, 600_000 + base + k, mode)
        expect(r.heldPrice).not.toBe(600_000 + base + k)
        stale.push(...r.stale)
      }
      expect(stale).toEqual([])
    },
  )
})
