import { redisCommand, type SentinelSet, startSentinel } from '@tierkit/testkit'
import { chromium } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Demo } from '../src/app.js'
import { RedisClock } from '../src/load-redis.js'
import type { RedisClientName } from '../src/redis-url.js'
import { json, startDemo, type TestDb, testDb, until } from './helpers.js'

// REDIS_URL=redis+sentinel://...: two instances find the master through three redis-sentinel processes (a
// primary and a replica, tools/testkit's startSentinel). The primary is SIGKILLed while a reader keeps asking;
// the sentinels promote the replica, the clients follow it, and writes land on it afterwards.

/** Reads products in a loop until stopped; every status is kept. */
function reader(base: string): {
  reads(): number
  stop(): Promise<{ statuses: number[]; slowestMs: number }>
} {
  const statuses: number[] = []
  let slowestMs = 0
  let running = true
  const loop = (async () => {
    for (let i = 0; running; i++) {
      const t0 = performance.now()
      const r = await fetch(`${base}/api/public/products/${1 + (i % 300)}`)
      await r.arrayBuffer()
      statuses.push(r.status)
      slowestMs = Math.max(slowestMs, performance.now() - t0)
    }
  })()
  return {
    reads: () => statuses.length,
    async stop() {
      running = false
      await loop
      return { statuses, slowestMs }
    },
  }
}

describe.each<RedisClientName>(['ioredis', 'iovalkey'])('the demo over Sentinel (%s)', (client) => {
  let set: SentinelSet
  let db: TestDb
  let a: Demo
  let b: Demo

  beforeAll(async () => {
    set = await startSentinel({ name: 'mymaster' })
    const hosts = set.sentinels.map((s) => `${s.host}:${s.port}`).join(',')
    db = testDb('sqlite')
    const env = { ...db.env, REDIS_URL: `redis+sentinel://${hosts}/mymaster`, REDIS_CLIENT: client }
    a = await startDemo({ ...env, INSTANCE_ID: 'sentinel-a' })
    b = await startDemo({ ...env, INSTANCE_ID: 'sentinel-b' })
  })
  afterAll(async () => {
    await a?.close()
    await b?.close()
    await db?.drop()
    await set?.stop()
  })

  it('/api/stats and the dashboard name the client, the topology and the master', async () => {
    const stats = (await json(`${a.url}/api/stats`)).body
    expect(stats.redis).toMatchObject({
      mode: 'url',
      client,
      topology: 'sentinel',
      master: 'mymaster',
      breaker: 'closed',
    })
    expect(stats.redis.url).toMatch(
      /^redis\+sentinel:\/\/127\.0\.0\.1:\d+,127\.0\.0\.1:\d+,127\.0\.0\.1:\d+\/mymaster$/,
    )
    // and the dashboard, in a real browser
    const browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    })
    try {
      const page = await browser.newPage()
      await page.goto(`${a.url}/`)
      await page.waitForFunction(() => Number(document.body.dataset.ticks ?? 0) >= 1)
      expect(await page.locator('#redis-client').textContent()).toBe(client)
      expect(await page.locator('#redis-topology').textContent()).toBe('sentinel · master mymaster')
    } finally {
      await browser.close()
    }
  })

  it('the primary is killed: reads keep answering, the replica takes over, writes land on it afterwards', async () => {
    // warm: both instances have the first products in L1 and Redis
    for (let id = 1; id <= 50; id++)
      expect((await json(`${a.url}/api/public/products/${id}`)).status).toBe(200)
    const before = await set.masterAddress()
    const loop = reader(b.url)
    await until(() => loop.reads() >= 20, 'the reader to read')
    const killed = await set.kill('primary')
    const readsAtKill = loop.reads()
    expect(killed.port).toBe(before.port)
    const after = await set.waitForNewPrimary(before.port)
    expect(after.port).not.toBe(before.port)
    // B kept reading while there was no primary (down-after 1 s, then the election)
    expect(loop.reads() - readsAtKill).toBeGreaterThan(10)
    // the instances reach the new primary: a write through Redis (the view counter's script) answers
    await until(
      async () => (await json(`${a.url}/api/products/31/views`, { method: 'POST' })).status === 202,
      'A to write to the new primary',
      30_000,
    )
    await until(
      async () => (await json(`${b.url}/api/products/32/views`, { method: 'POST' })).status === 202,
      'B to write to the new primary',
      30_000,
    )
    const { statuses } = await loop.stop()
    expect(statuses.length).toBeGreaterThan(40)
    expect(statuses.filter((s) => s !== 200)).toEqual([])

    // a product update after the failover: the tags' versions move on the new primary, and the bus (resubscribed
    // there) tells B, which serves the new value
    await until(async () => (await json(`${a.url}/api/stats`)).body.redis.breaker === 'closed', 'the breaker')
    const old = (await json(`${b.url}/api/public/products/42`)).body.priceCents as number
    const put = await json(`${a.url}/api/products/42?invalidate=hard`, {
      method: 'PUT',
      body: { priceCents: old + 7 },
    })
    expect(put.status).toBe(200)
    expect(put.headers.get('x-cache-invalidation')).toBeNull()
    const last = (await json(`${a.url}/api/stats`)).body.lastInvalidation
    expect(last.layers[1]).toMatchObject({ layer: 'l2', result: 'deleteByTag' })
    await until(
      async () => (await json(`${b.url}/api/public/products/42`)).body.priceCents === old + 7,
      'B to serve the update made after the failover',
    )
    // the view counts went to the new primary, and the write-behind queue on it reached the database
    const counter = await redisCommand(after, ['GET', 'demo:views:31'])
    expect(Number(counter)).toBeGreaterThanOrEqual(1)
    await until(
      async () => (await a.store.getViews(31)) === Number(counter),
      'the views of 31 in the database',
    )
  })

  it('the load generator’s Redis clock takes the same URL: it reads the new primary’s statistics', async () => {
    const master = await set.masterAddress()
    const clock = new RedisClock(a.redisUrl!, client)
    try {
      const before = await clock.read()
      for (let i = 0; i < 5; i++) await redisCommand(master, ['GET', `clock:${i}`])
      expect((await clock.read()).calls - before.calls).toBe(5)
    } finally {
      await clock.close()
    }
  })
})
