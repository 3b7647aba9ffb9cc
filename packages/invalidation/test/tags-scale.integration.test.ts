/**
 * A tag invalidation costs O(1) Redis commands and leaves no index keys (issue 19): 10^6 tagged keys are
 * written (the stored entry of a real `tags.set`, copied by a pipeline under 10^6 keys of the cache), then
 * one `deleteByTag` and one `expireByTag` are counted with `INFO commandstats` and `DBSIZE`.
 */

import { createCache } from '@tierkit/redis-aside'
import { type RedisServer, startRedis } from '@tierkit/testkit'
import type { Redis } from 'ioredis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createTags } from '../src/index.js'
import { MapL1 } from './helpers/cache.js'
import { adminClient, redisClient } from './helpers/clients.js'

const KEYS = 1_000_000
let server: RedisServer
const closers: Array<() => unknown> = []
beforeAll(async () => {
  server = await startRedis()
})
afterAll(async () => {
  for (const c of closers.reverse()) await c()
  await server.close()
})

/** Calls per command since the last CONFIG RESETSTAT. */
async function commandCalls(redis: Redis): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  for (const m of (await redis.info('commandstats')).matchAll(/cmdstat_([^:]+):calls=(\d+)/g)) {
    out[m[1]!] = Number(m[2])
  }
  return out
}

it(`one tag invalidation over ${KEYS.toLocaleString('en')} tagged keys: O(1) commands, no index keys`, async () => {
  const redis = redisClient(server.url)
  closers.push(() => redis.disconnect())
  const cache = createCache({ redis, l1: new MapL1(), namespace: 'scale', ttl: 600_000 })
  closers.push(() => cache.close())
  const tags = createTags<{ n: number }>({ redis, cache, namespace: 'scale' })
  // the test's own doings (KEYS, the pipeline of copies, DBSIZE, CONFIG, INFO) on an admin connection: the
  // package's client may be the least-privileged ACL user (the secure run)
  const admin = adminClient(server.url)
  closers.push(() => admin.disconnect())
  await tags.set('seed', { n: 1 }, { tags: ['products', 'brand:7'] })
  const [seedKey] = await admin.keys('*seed*')
  expect(seedKey).toBeDefined()
  const payload = (await admin.getBuffer(seedKey!))!
  const prefix = seedKey!.slice(0, seedKey!.length - 'seed'.length)
  for (let i = 0; i < KEYS; i += 10_000) {
    const p = admin.pipeline()
    for (let j = i; j < i + 10_000; j++) p.set(`${prefix}p:${j}`, payload, 'PX', 600_000)
    await p.exec()
  }
  const size = await admin.dbsize()
  // the values, the seed, and one version key per tag: nothing else
  expect(size).toBe(KEYS + 1 + 2)
  // a copied entry is served as a tagged value
  expect(await tags.get('p:123456')).toEqual({ n: 1 })

  // the scripts loaded once (EVALSHA, then EVAL after NOSCRIPT the first time), on a tag of no key
  await tags.deleteByTag(['warm'])
  await tags.expireByTag(['warm'])
  expect(await admin.dbsize()).toBe(size + 2)
  await admin.config('RESETSTAT')
  await tags.deleteByTag(['brand:7'])
  const hard = await commandCalls(admin)
  await admin.config('RESETSTAT')
  await tags.expireByTag(['products'])
  const soft = await commandCalls(admin)
  // one script each, a handful of commands inside it, whatever the number of keys
  for (const calls of [hard, soft]) {
    const total = Object.entries(calls)
      .filter(([c]) => c !== 'config|resetstat' && c !== 'info' && c !== 'config')
      .reduce((n, [, v]) => n + v, 0)
    expect(total).toBeLessThanOrEqual(12)
    expect((calls.evalsha ?? 0) + (calls.eval ?? 0)).toBe(1)
  }
  console.log('commands of one deleteByTag', hard, 'of one expireByTag', soft)
  // no key was added or removed, except the soft stamp of 'products' (one key per tag)
  expect(await admin.dbsize()).toBe(size + 2 + 1)
  expect(await tags.get('p:123456')).toBeUndefined()
}, 240_000)
