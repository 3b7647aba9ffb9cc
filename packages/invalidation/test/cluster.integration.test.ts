/** Everything that must work on a Redis Cluster (3 masters): tags, the bus, write-behind, deleteOnUpdate. */
import { createCache } from '@tierkit/redis-aside'
import { type RedisCluster, startRedisCluster } from '@tierkit/testkit'
import { Cluster, Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type BusEvent,
  createFlusher,
  createInvalidationBus,
  createTags,
  deleteOnUpdate,
  queueKeys,
  writeBehind,
} from '../src/index.js'
import { MapL1 } from './helpers/cache.js'
import { MemoryStore } from './helpers/memory-store.js'

let cluster: RedisCluster
const closers: Array<() => Promise<unknown>> = []
beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3 })
})
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => {})
  await cluster.stop()
})

function mk(): Cluster {
  const c = new Cluster(cluster.nodes.map(({ host, port }) => ({ host, port })))
  closers.push(() => c.quit())
  return c
}

function instance(namespace: string, channel?: string) {
  const redis = mk()
  const l1 = new MapL1()
  const cache = createCache({ redis, l1, namespace, ttl: 60_000 })
  closers.push(() => cache.close())
  const bus =
    channel === undefined ? undefined : createInvalidationBus({ redis, channel, caches: [cache], l1: [l1] })
  if (bus) closers.push(() => bus.close())
  return { redis, l1, cache, bus, tags: createTags({ redis, cache, namespace }) }
}

async function perNodeKeys(): Promise<number[]> {
  return Promise.all(
    cluster.nodes.map(async (n) => {
      const r = new Redis(n.port, n.host)
      const size = await r.dbsize()
      await r.quit()
      return size
    }),
  )
}

describe('on a Redis Cluster', () => {
  it('tags: invalidates tagged values spread over every master, in every instance', async () => {
    const a = instance('tgc')
    const b = instance('tgc')
    const keys = Array.from({ length: 60 }, (_, i) => `item:${i}`)
    for (const [i, k] of keys.entries()) await a.tags.set(k, i, { tags: [i % 2 ? 'odd' : 'even', 'all'] })
    for (const [i, k] of keys.entries()) expect(await b.tags.get(k)).toBe(i)
    expect((await perNodeKeys()).filter((c) => c > 0).length).toBe(3) // really spread over the masters
    await a.tags.invalidateTags(['odd'])
    for (const [i, k] of keys.entries()) expect(await b.tags.get(k)).toBe(i % 2 ? undefined : i)
    await b.tags.invalidateTags(['all'])
    for (const k of keys) expect(await a.tags.get(k)).toBeUndefined()
  })

  it('bus + deleteOnUpdate: the other instance drops its L1 copy', async () => {
    const a = instance('busc', 'inv:cluster')
    const b = instance('busc', 'inv:cluster')
    await Promise.all([a.bus!.ready(), b.bus!.ready()])
    const keys = Array.from({ length: 20 }, (_, i) => `user:${i}`)
    for (const k of keys) await a.cache.set(k, 'old')
    for (const k of keys) expect(await b.cache.get(k)).toBe('old')
    const store = new MemoryStore<string>()
    const writer = deleteOnUpdate({ cache: a.cache, store, bus: a.bus! })
    const seen = new Set<string>()
    const all = new Promise<void>((resolve) => {
      b.bus!.subscribe((e: BusEvent) => {
        if (e.type !== 'message') return
        for (const k of e.message.keys) seen.add(k)
        if (seen.size === keys.length) resolve()
      })
    })
    for (const k of keys) await writer.write(k, 'new')
    await all
    expect(b.l1.size).toBe(0)
    for (const k of keys) expect(await b.cache.getOrLoad(k, () => store.load(k) as string)).toBe('new')
  })

  it('write-behind: the queue (one hash slot) and its scripts work; every write is applied', async () => {
    const redis = mk()
    const { cache } = instance('wbc')
    const store = new MemoryStore<number>()
    const wb = writeBehind<number>({ redis, name: 'cluster-q', cache })
    const flusher = createFlusher({ redis, name: 'cluster-q', store, blockMs: 100 })
    closers.push(() => flusher.close(5_000))
    const last = new Map<string, number>()
    for (let i = 0; i < 300; i++) {
      const k = `k${i % 30}`
      await wb.write(k, i)
      last.set(k, i)
    }
    expect(await cache.get('k29')).toBe(299)
    await wb.flush()
    for (const [k, v] of last) expect(store.value(k)).toBe(v)
    expect(await redis.xlen(queueKeys('cluster-q').stream)).toBe(0)
  })
})
