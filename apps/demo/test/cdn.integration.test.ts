import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Demo } from '../src/app.js'
import type { Cdn } from '../src/cdn.js'
import { userToken } from '../src/db/seed.js'
import { type DemoBehindCdn, json, spawnCli, startDemoBehindCdn, testDb, until } from './helpers.js'

describe('the CDN mode: nginx proxy_cache in front of the demo', () => {
  let demo: Demo
  let cdn: Cdn
  let setup: DemoBehindCdn | undefined

  beforeAll(async () => {
    setup = await startDemoBehindCdn({ purge: true })
    ;({ demo, cdn } = setup)
  })
  /**
   * Waits (bounded) until nginx answers `path` with a HIT. nginx finishes writing its cache file just after the
   * client has the last byte, so a request sent at once can still be a MISS.
   */
  const storedAtEdge = (path: string): Promise<void> =>
    until(async () => {
      const r = await fetch(`${cdn.url}${path}`)
      await r.arrayBuffer()
      return r.headers.get('x-cache-status') === 'HIT'
    }, `${path} to be stored at the edge`)

  afterAll(async () => {
    await setup?.close()
  })

  it('public products: MISS then HIT at the edge (the origin sees one request); counted in the cdn layer', async () => {
    const a = await fetch(`${cdn.url}/api/public/products/60`)
    expect(a.headers.get('x-cache-status')).toBe('MISS')
    const body = await a.json()
    await storedAtEdge('/api/public/products/60')
    const dbHits = demo.metrics.snapshot().byLayer.db!.hits
    const l1Lookups = demo.metrics.snapshot().byLayer.l1!.lookups
    const b = await fetch(`${cdn.url}/api/public/products/60`)
    expect(b.headers.get('x-cache-status')).toBe('HIT')
    expect(await b.json()).toEqual(body)
    expect(demo.metrics.snapshot().byLayer.l1!.lookups).toBe(l1Lookups) // served by nginx alone
    expect(demo.metrics.snapshot().byLayer.db!.hits).toBe(dbHits)
    await until(() => demo.metrics.snapshot().byLayer.cdn!.hits >= 1, 'the access log to be read')
    expect(demo.metrics.snapshot().byLayer.cdn!.misses).toBeGreaterThanOrEqual(1)
  })

  it('users (bearer token) are never stored at the edge', async () => {
    const headers = { authorization: `Bearer ${userToken(8)}` }
    for (let i = 0; i < 2; i++) {
      const r = await fetch(`${cdn.url}/api/users/8`, { headers })
      expect(r.status).toBe(200)
      expect(r.headers.get('x-cache-status')).toBe('BYPASS')
      await r.arrayBuffer()
    }
    // and without the token the edge has nothing to give away
    const anon = await fetch(`${cdn.url}/api/users/8`)
    expect(anon.status).toBe(401)
    expect(anon.headers.get('x-cache-status')).toBe('MISS')
  })

  it('PUT purges the tag at the edge: the product URL is re-fetched (HIT, new content), batch URLs dropped (MISS, new content, then HIT)', async () => {
    const cdnHits = async (): Promise<number> => (await json(`${demo.url}/api/stats`)).body.layers.cdn.hits
    const hitsBefore = await cdnHits()
    await (await fetch(`${cdn.url}/api/public/products?ids=61,62`)).arrayBuffer()
    await (await fetch(`${cdn.url}/api/public/products/61`)).arrayBuffer()
    await storedAtEdge('/api/public/products/61')
    // once the HIT's log line is read, the earlier lines (the URLs to purge) are indexed too
    await until(async () => (await cdnHits()) > hitsBefore, 'the log to be indexed')
    const put = await json(`${cdn.url}/api/products/61`, { method: 'PUT', body: { priceCents: 4242 } })
    expect(put.status).toBe(200)
    const single = await fetch(`${cdn.url}/api/public/products/61`)
    expect(single.headers.get('x-cache-status')).toBe('HIT')
    expect(((await single.json()) as { priceCents: number }).priceCents).toBe(4242)
    const batch = await fetch(`${cdn.url}/api/public/products?ids=61,62`)
    expect(batch.headers.get('x-cache-status')).toBe('MISS') // its cache file was deleted
    const b = (await batch.json()) as { products: Array<{ id: number; priceCents: number }> }
    expect(b.products.find((p) => p.id === 61)!.priceCents).toBe(4242)
    // Stored again, with the new content. nginx finishes writing its cache file just after the client has the
    // last byte, so a request sent at once can still be a MISS: wait (bounded) for the HIT.
    let b2: { products: Array<{ id: number; priceCents: number }> } | undefined
    await until(async () => {
      const again = await fetch(`${cdn.url}/api/public/products?ids=61,62`)
      const body = (await again.json()) as { products: Array<{ id: number; priceCents: number }> }
      expect(body.products.find((p) => p.id === 61)!.priceCents).toBe(4242)
      if (again.headers.get('x-cache-status') !== 'HIT') return false
      b2 = body
      return true
    }, 'the batch URL to be stored again at the edge')
    expect(b2!.products.find((p) => p.id === 61)!.priceCents).toBe(4242)
    const stats = (await json(`${demo.url}/api/stats`)).body
    expect(stats.invalidations[0]).toMatchObject({
      kind: 'cdn-purge',
      tags: ['product:61', `category:${put.body.category}`],
    })
  })
})

describe('--instances 2 --cdn: nginx in front of two instance processes, purges over the supervisor', () => {
  it('a PUT through the CDN purges the edge via IPC; the CDN row reaches instance 1’s metrics', async () => {
    const kdb = testDb('sqlite')
    const cli = spawnCli(['--instances', '2', '--cdn'], { ...kdb.env, DEMO_REDIS: 'auto', REDIS_URL: '' })
    try {
      const edge = (await cli.waitFor(/in front: (http:\/\/\S+)/, 'the CDN'))[0]![1]!
      const one = (await cli.waitFor(/instance 1 listening on (http:\/\/\S+)/, 'instance 1'))[0]![1]!
      const two = (await cli.waitFor(/instance 2 listening on (http:\/\/\S+)/, 'instance 2'))[0]![1]!
      const read = async (path: string): Promise<{ status: string | null; price: number }> => {
        const r = await fetch(`${edge}${path}`)
        const b = (await r.json()) as { priceCents: number }
        return { status: r.headers.get('x-cache-status'), price: b.priceCents }
      }
      // nginx finishes writing its cache file just after the client has the last byte: the next read can
      // still be a MISS, so wait (bounded) for the first HIT
      await until(
        async () => (await read('/api/public/products/70')).status === 'HIT',
        '/api/public/products/70 to be stored at the edge',
      )
      await until(
        async () => (await json(`${one}/api/stats`)).body.layers.cdn.hits >= 1,
        'the CDN lookups to reach instance 1',
      )
      // (the supervisor indexes tags in the same pass over the access log that forwards the lookups: it now knows
      // the URL's tags from its MISS line)
      // nginx balances round robin: PUT through the edge twice, whichever instance gets it purges via IPC
      for (const price of [1111, 2222]) {
        const put = await json(`${edge}/api/products/70`, { method: 'PUT', body: { priceCents: price } })
        expect(put.status).toBe(200)
        expect(await read('/api/public/products/70')).toEqual({ status: 'HIT', price })
      }
      // the purge report came back over IPC: the writer's last invalidation names what nginx did, and its time
      const cdnRows = await Promise.all(
        [one, two].map(async (u) => (await json(`${u}/api/stats`)).body.lastInvalidation?.layers[3]),
      )
      const reported = cdnRows.filter((r) => r !== undefined)
      expect(reported.length).toBeGreaterThanOrEqual(1)
      for (const r of reported) {
        expect(r).toMatchObject({ layer: 'cdn', mode: 'soft', result: '1 re-fetched, 0 removed' })
        // the tags call's time (from its start): after the bus and its 50 ms cdnDelay, then the IPC round trip
        expect(r.ms).toBeGreaterThanOrEqual(49)
      }
    } finally {
      cli.proc.kill('SIGTERM')
      await cli.exited
      await kdb.drop()
    }
  })
})
