/**
 * The reads of tag versions a process makes in one turn share one `MGET` (issue 19: tag checks at L1 speed
 * under load). A defect found by a sync burst in the tags benchmark: when the map's versions aged past
 * `versionTtl` (or with no bus, always), every concurrent read sent its own `MGET`; 1M reads in a burst
 * queued ~100k commands and ran the process out of memory. The shared read must still see every
 * invalidation that completed before a read was asked for (no read joins a command already sent).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { createCache } from '@tierkit/redis-aside'
import { type RedisServer, startRedis } from '@tierkit/testkit'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createInvalidationBus, createTags } from '../src/index.js'
import { MapL1 } from './helpers/cache.js'
import { redisClient } from './helpers/clients.js'

let server: RedisServer
let admin: Redis
const closers: Array<() => Promise<unknown>> = []
beforeAll(async () => {
  server = await startRedis()
  admin = new Redis(server.port, '127.0.0.1')
})
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => {})
  admin.disconnect()
  await server.close()
})

/** MGET calls the server has run so far (INFO commandstats: counts what every client sent). */
async function mgets(): Promise<number> {
  const info = String(await admin.info('commandstats'))
  return Number(/cmdstat_mget:calls=(\d+)/.exec(info)?.[1] ?? 0)
}

async function instance(namespace: string, withBus: boolean, versionTtl = 1000) {
  const redis = redisClient(server.url)
  closers.push(() => redis.quit())
  const cache = createCache({ redis, l1: new MapL1(), namespace, ttl: 60_000 })
  closers.push(() => cache.close())
  const bus = withBus
    ? createInvalidationBus({ redis, channel: `ch:${namespace}`, caches: [cache] })
    : undefined
  if (bus) {
    closers.push(() => bus.close())
    await bus.ready()
  }
  const tags = createTags<string>({ redis, cache, namespace, versionTtl, ...(bus ? { bus } : {}) })
  return { tags }
}

const TAGS = ['products', 'brand:7', 'category:3']
const loader = (): string => 'loaded'

it('with a bus, 500 concurrent L1 hits after versionTtl read the versions with one MGET', async () => {
  const { tags } = await instance('vr1', true, 50)
  await tags.set('p:1', 'v1', { tags: TAGS })
  expect(await tags.getOrLoad('p:1', loader, { tags: TAGS })).toBe('v1')
  await sleep(120) // the map's versions are older than versionTtl: the next reads must ask Redis
  const before = await mgets()
  const got = await Promise.all(
    Array.from({ length: 500 }, () => tags.getOrLoad('p:1', loader, { tags: TAGS })),
  )
  expect(got).toEqual(Array(500).fill('v1'))
  expect((await mgets()) - before).toBe(1)
})

it('without a bus, 300 concurrent reads of different keys with overlapping tags are one MGET of their union', async () => {
  const { tags } = await instance('vr2', false)
  for (let i = 0; i < 30; i++) await tags.set(`p:${i}`, `v${i}`, { tags: ['all', `brand:${i % 3}`] })
  const before = await mgets()
  const got = await Promise.all(Array.from({ length: 300 }, (_, i) => tags.get(`p:${i % 30}`)))
  expect(got).toEqual(Array.from({ length: 300 }, (_, i) => `v${i % 30}`))
  expect((await mgets()) - before).toBe(1)
})

it('a read asked for after an invalidation resolved never joins a version read sent before it', async () => {
  const a = await instance('vr3', false)
  const b = await instance('vr3', false)
  await a.tags.set('p:1', 'old', { tags: ['brand:7'] })
  for (let round = 0; round < 20; round++) {
    // reads in flight on B while A invalidates; a read B starts after the invalidation resolved must miss
    const inFlight = Array.from({ length: 20 }, () => b.tags.get('p:1'))
    await a.tags.deleteByTag(['brand:7'])
    expect(await b.tags.get('p:1')).toBeUndefined()
    await Promise.all(inFlight)
    await a.tags.set('p:1', 'old', { tags: ['brand:7'] })
  }
})

it('a failed shared read is each caller’s own TagsUnavailableError naming its tags', async () => {
  const { tags } = await instance('vr4', false)
  await tags.set('p:1', 'v1', { tags: ['a'] })
  await tags.set('p:2', 'v2', { tags: ['b'] })
  // a reader whose ACL lacks MGET: the one shared read fails, for both callers
  await admin.call('ACL', 'SETUSER', 'no-mget', 'reset', 'on', '>pw', '~*', '&*', '+@all', '-mget')
  const redis = redisClient({ host: '127.0.0.1', port: server.port, username: 'no-mget', password: 'pw' })
  closers.push(() => redis.quit())
  const events: unknown[] = []
  const cache = createCache({ redis, l1: new MapL1(), namespace: 'vr4', ttl: 60_000 })
  closers.push(() => cache.close())
  const t2 = createTags<string>({ redis, cache, namespace: 'vr4', onEvent: (e) => events.push(e) })
  // the values in this process's L1 first, one GET each (redis-aside's concurrent L2 reads are one MGET, denied too)
  expect(await cache.get('p:1')).toBeDefined()
  expect(await cache.get('p:2')).toBeDefined()
  const before = await mgets()
  const got = await Promise.all([t2.get('p:1'), t2.get('p:2')])
  expect(got).toEqual([undefined, undefined])
  const errors = events.map((e) => (e as { error: { code: string; tags: string[] } }).error)
  expect(errors.map((e) => e.code)).toEqual(['E_TAGS_UNAVAILABLE', 'E_TAGS_UNAVAILABLE'])
  expect(errors.map((e) => e.tags).sort()).toEqual([['a'], ['b']])
  expect(errors.map((e) => (e as unknown as { cause: { code: string } }).cause.code)).toEqual([
    'E_REDIS_NOPERM',
    'E_REDIS_NOPERM',
  ])
  expect((await mgets()) - before).toBe(0) // refused: Redis does not count a denied command as a call
})
