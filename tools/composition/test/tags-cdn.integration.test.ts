/**
 * One tag invalidation across every layer, with real servers (issue 19): three instances (each its own Redis
 * client, redis-aside cache with an L1, invalidation bus and tags) on one Redis, behind Debian's nginx as the
 * CDN (a caching proxy, `@tierkit/cdn-headers`' nginx purger given to the tags as `cdn`). The origin answers each
 * request from the next instance in turn, with the value's tags as `Cache-Tag`.
 * - hard (`deleteByTag`): the next request through nginx is a MISS with the new value; no instance's L1 or L2
 *   serves the old one;
 * - soft (`expireByTag`): nginx fetched the tagged URLs again (the origin answers that fetch without grace),
 *   so the next request is a HIT with the new value: no user waits on a miss.
 */
import { mkdtempSync, readFileSync } from 'node:fs'
import * as http from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createNginxPurger, nginxPurgeConfig } from '@tierkit/cdn-headers/nginx'
import { createInvalidationBus, createTags, type Tags } from '@tierkit/invalidation'
import { L1Cache } from '@tierkit/l1-cache'
import { createCache } from '@tierkit/redis-aside'
import { type RedisServer, startNginxWithHttp, startRedis } from '@tierkit/testkit'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, expect, it } from 'vitest'

const PURGE_HEADER = 'x-tierkit-purge'
/** The database: product id → name. */
const db = new Map<string, string>([
  ['42', 'kettle v1'],
  ['43', 'toaster v1'],
])
const tagsOf = (id: string): string[] => [`product:${id}`, 'category:7']

let redis: RedisServer
let nginx: Awaited<ReturnType<typeof startNginxWithHttp>>
let origin: http.Server
let accessLog: string
const closers: Array<() => Promise<unknown>> = []
interface Instance {
  name: string
  tags: Tags<string>
  l1: L1Cache<string, unknown>
}
const instances: Instance[] = []
let turn = 0
let sent = 0

async function startInstance(name: string, cdn?: ReturnType<typeof createNginxPurger>): Promise<Instance> {
  const client = new Redis(redis.url)
  closers.push(async () => client.quit())
  const l1 = new L1Cache<string, unknown>({ max: 1000 })
  const cache = createCache({ redis: client, l1, namespace: 'shop', ttl: 300_000 })
  closers.push(() => cache.close())
  const bus = createInvalidationBus({ redis: client, channel: 'shop:inv', caches: [cache] })
  closers.push(() => bus.close())
  await bus.ready()
  const tags = createTags<string>({
    redis: client,
    cache,
    namespace: 'shop',
    bus,
    grace: 60_000,
    ...(cdn ? { cdn } : {}),
  })
  return { name, tags, l1 }
}

beforeAll(async () => {
  redis = await startRedis()
  origin = http.createServer((req, res) => {
    const id = /^\/products\/(\d+)$/.exec(req.url ?? '')?.[1]
    const product = id === undefined ? undefined : db.get(id)
    if (id === undefined || product === undefined) {
      res.statusCode = 404
      res.end()
      return
    }
    const at = instances[turn++ % instances.length]!
    // a purge's re-fetch must carry the new value: read without grace (a stale value is loaded again)
    const grace = req.headers[PURGE_HEADER] ? 0 : 60_000
    at.tags
      .getOrLoad(`product:${id}`, () => db.get(id)!, { tags: tagsOf(id), grace })
      .then((name) => {
        res.setHeader('cache-control', 'public, max-age=300')
        res.setHeader('cache-tag', tagsOf(id).join(','))
        res.setHeader('x-instance', at.name)
        res.end(name)
      })
  })
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r))
  accessLog = join(mkdtempSync(join(tmpdir(), 'tierkit-tags-cdn-')), 'access.log')
  const conf = nginxPurgeConfig({ accessLog, header: PURGE_HEADER })
  nginx = await startNginxWithHttp({
    upstream: `http://127.0.0.1:${(origin.address() as AddressInfo).port}`,
    http: conf.http,
    config: { extra: conf.location },
  })
  const purger = createNginxPurger({
    url: nginx.url,
    cacheDir: join(nginx.dir, 'cache'),
    accessLog,
    cacheKey: '$request_uri',
    header: PURGE_HEADER,
  })
  instances.push(await startInstance('a', purger), await startInstance('b'), await startInstance('c'))
})
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => {})
  await nginx?.stop()
  await new Promise((r) => origin?.close(r))
  await redis?.close()
})

/** GET through nginx on a fresh connection: the cache status and the body. */
function get(path: string): Promise<{ status: string | undefined; body: string }> {
  sent++
  return new Promise((resolve, reject) => {
    http
      .get(`${nginx.url}${path}`, { agent: false }, (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => {
          body += c
        })
        res.on('end', () => resolve({ status: res.headers['x-cache-status'] as string | undefined, body }))
      })
      .on('error', reject)
  })
}

/** Waits until nginx logged every request sent (the purger learns the tagged URLs from that log). */
async function logged(): Promise<void> {
  let lines = 0
  for (let i = 0; i < 300 && lines < sent; i++) {
    lines = readFileSync(accessLog, 'latin1').split('\n').length - 1
    if (lines < sent) await new Promise((r) => setTimeout(r, 10))
  }
  expect(lines).toBeGreaterThanOrEqual(sent)
}

/** What each instance serves for `id` (its L1, else L2), without loading. */
const served = (id: string): Promise<Array<string | undefined>> =>
  Promise.all(instances.map((i) => i.tags.get(`product:${id}`, { grace: 0 })))

it('deleteByTag: the product is gone from every L1, from L2 and from nginx (the next request a MISS with the new value)', async () => {
  expect(await get('/products/42')).toEqual({ status: 'MISS', body: 'kettle v1' })
  expect(await get('/products/42')).toEqual({ status: 'HIT', body: 'kettle v1' })
  expect(await served('42')).toEqual(['kettle v1', 'kettle v1', 'kettle v1']) // now in every L1
  await logged()
  db.set('42', 'kettle v2')
  const r = await instances[0]!.tags.deleteByTag(['product:42'])
  expect(r.cdn?.report).toEqual({ purged: ['product:42'], hardened: [], failed: [] })
  expect(r.cdn!.ms).toBeGreaterThan(r.bus!.ms)
  expect(await served('42')).toEqual([undefined, undefined, undefined]) // no L1, no L2 copy of the old one
  expect(await get('/products/42')).toEqual({ status: 'MISS', body: 'kettle v2' })
  expect(await get('/products/42')).toEqual({ status: 'HIT', body: 'kettle v2' })
})

it('expireByTag: nginx fetched the tagged URLs again, so users get a HIT with the new value, never a MISS', async () => {
  expect((await get('/products/43')).body).toBe('toaster v1')
  expect(await get('/products/43')).toEqual({ status: 'HIT', body: 'toaster v1' })
  await logged()
  db.set('43', 'toaster v2')
  db.set('42', 'kettle v3')
  const r = await instances[1 % instances.length]!.tags.expireByTag(['category:7']) // B has no cdn: nothing purged
  expect(r.cdn).toBeUndefined()
  const viaA = await instances[0]!.tags.expireByTag(['category:7'])
  expect(viaA.mode).toBe('soft')
  expect(viaA.cdn?.report.failed).toEqual([])
  expect(viaA.cdn?.report.purged).toEqual(['category:7'])
  expect(await get('/products/43')).toEqual({ status: 'HIT', body: 'toaster v2' })
  expect(await get('/products/42')).toEqual({ status: 'HIT', body: 'kettle v3' })
  // every instance now serves the new values (stale ones are not served without grace)
  expect(await served('43')).not.toContain('toaster v1')
})
