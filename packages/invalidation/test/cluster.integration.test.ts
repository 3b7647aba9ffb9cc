/** Everything that must work on a Redis Cluster (3 masters): tags, the bus, write-behind, deleteOnUpdate. */
import { setTimeout as sleep } from 'node:timers/promises'
import { createCache } from '@tierkit/redis-aside'
import { type RedisCluster, type RedisClusterNode, startRedisCluster } from '@tierkit/testkit'
import { Cluster, Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type BusEvent,
  createFlusher,
  createInvalidationBus,
  createTags,
  deleteOnUpdate,
  queueKeys,
  TagsUnavailableError,
  writeBehind,
} from '../src/index.js'
import { MapL1 } from './helpers/cache.js'
import { eventLog } from './helpers/events.js'
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
  const log = eventLog<BusEvent>()
  const bus =
    channel === undefined
      ? undefined
      : createInvalidationBus({ redis, channel, caches: [cache], onEvent: log.onEvent })
  if (bus) closers.push(() => bus.close())
  return {
    redis,
    l1,
    cache,
    bus,
    events: log.events,
    next: log.next,
    tags: createTags({ redis, cache, namespace }),
  }
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
    const all = b.next((e: BusEvent) => {
      if (e.type !== 'message') return false
      for (const k of e.message.keys) seen.add(k)
      return seen.size === keys.length
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
    const flusher = createFlusher({ redis, name: 'cluster-q', store, pollInterval: 100 })
    closers.push(() => flusher.close({ timeout: 5_000 }))
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

  it('bus: when its subscriber connection on a node drops, the instance clears its L1 (messages were missed) and keeps receiving', async () => {
    const b = instance('buskill', 'inv:kill')
    const events = b.events
    await b.bus!.ready()
    const keys = Array.from({ length: 1500 }, (_, i) => `k${i}`)
    for (let i = 0; i < keys.length; i += 100) {
      await Promise.all(keys.slice(i, i + 100).map((k) => b.cache.set(k, 'old')))
    }
    expect(b.l1.size).toBe(keys.length)
    // the node holding B's subscriber connection (the only subscriber of this channel)
    const holder = await subscriberNode('inv:kill')
    const other = cluster.nodes.find((n) => n !== holder)!
    const pub = new Redis(other.port, other.host)
    pub.on('error', () => {}) // a later test kills nodes while this client is still open
    closers.push(() => pub.quit())
    // another instance's evictions, one key per message, in small bursts spread over ~150 ms; B's
    // subscriber connection is killed in the middle, so some of these messages are never delivered to it
    const flood = (async () => {
      for (let i = 0; i < keys.length; i += 10) {
        const p = pub.pipeline()
        for (const k of keys.slice(i, i + 10)) p.publish('inv:kill', JSON.stringify({ i: 'other', k: [k] }))
        await p.exec()
        await sleep(1)
      }
    })()
    await sleep(40)
    const killer = new Redis(holder.port, holder.host)
    expect(await killer.call('CLIENT', 'KILL', 'TYPE', 'pubsub')).toBeGreaterThanOrEqual(1)
    await killer.quit()
    await flood
    // a last message once B is subscribed again (bounded wait), so every message of the flood was handled
    let seen = false
    for (let i = 0; i < 100 && !seen; i++) {
      await pub.publish('inv:kill', JSON.stringify({ i: 'other', k: ['sentinel'] }))
      await sleep(100)
      seen = events.some((e) => e.type === 'message' && e.message.keys[0] === 'sentinel')
    }
    expect(seen).toBe(true)
    const left = keys.filter((k) => b.l1.map.has(`ra:7:buskill:v:${k}`))
    expect({ left: left.length, first: left.slice(0, 3) }).toEqual({ left: 0, first: [] })
    expect(b.bus!.stats().reconnects).toBeGreaterThanOrEqual(1)
  })

  it('bus: when the master holding its subscriber dies, the bus moves to another node, clears L1 and keeps receiving', async () => {
    const b = instance('busdead', 'inv:dead')
    const events = b.events
    await b.bus!.ready()
    for (const k of ['x', 'y', 'z']) await b.cache.set(k, 'old')
    expect(b.l1.size).toBe(3)
    const node = await subscriberNode('inv:dead')
    const other = cluster.nodes.find((n) => n !== node)!
    await node.kill()
    try {
      for (let i = 0; i < 200 && !events.some((e) => e.type === 'reconnect'); i++) await sleep(100)
      expect(events.find((e) => e.type === 'reconnect')).toEqual({ type: 'reconnect', cleared: 1 })
      expect(b.l1.size).toBe(0)
      // still receiving while the dead node is down
      const pub = new Redis(other.port, other.host)
      pub.on('error', () => {}) // a later test kills nodes while this client is still open
      closers.push(() => pub.quit())
      let got = false
      for (let i = 0; i < 100 && !got; i++) {
        await pub.publish('inv:dead', JSON.stringify({ i: 'other', k: ['ping'] }))
        await sleep(100)
        got = events.some((e) => e.type === 'message' && e.message.keys[0] === 'ping')
      }
      expect(got).toBe(true)
    } finally {
      await node.restart()
      await waitClusterOk()
    }
  })

  // last in the file: it kills a master (no replicas, so the whole cluster is down until it is back)
  it('tags: a dead master fails tag operations with a typed error in bounded time (never raw redirection errors, never a hang); they work again once it is back', async () => {
    const a = instance('tgdown')
    await a.tags.set('p:1', 1, { tags: ['t'] })
    expect(await a.tags.get('p:1')).toBe(1)
    const node = await masterOf(await slotOf('tk:{tgdown}:t'))
    await node.kill()
    const bounded = <T>(p: Promise<T>): Promise<T> =>
      Promise.race([
        p,
        sleep(30_000).then(() => {
          throw new Error('a tag operation hung for 30 s')
        }),
      ])
    const inv = await bounded(a.tags.invalidateTags(['t'])).catch((e: unknown) => e)
    expect(inv).toMatchObject({ code: 'E_TAGS_UNAVAILABLE', operation: 'invalidateTags', tags: ['t'] })
    expect(inv).toBeInstanceOf(TagsUnavailableError)
    const set = await bounded(a.tags.set('p:2', 2, { tags: ['t'] })).catch((e: unknown) => e)
    expect(set).toBeInstanceOf(TagsUnavailableError)
    expect(set).toMatchObject({ code: 'E_TAGS_UNAVAILABLE', operation: 'set' })
    // reads degrade: a value that cannot be validated is not served, the loader answers
    expect(await bounded(a.tags.get('p:1'))).toBeUndefined()
    expect(await bounded(a.tags.getOrLoad('p:1', () => 'from the database', { tags: ['t'] }))).toBe(
      'from the database',
    )
    await node.restart()
    await waitClusterOk()
    // bounded: the cluster client needs a moment to see the node again
    let ok = false
    for (let i = 0; i < 100 && !ok; i++) {
      ok = await a.tags.invalidateTags(['t']).then(
        () => true,
        () => false,
      )
      if (!ok) await sleep(200)
    }
    expect(ok).toBe(true)
    expect(await a.tags.get('p:1')).toBeUndefined() // invalidated
    await a.tags.set('p:1', 3, { tags: ['t'] })
    expect(await a.tags.get('p:1')).toBe(3)
  })
})

/** The node where the (only) subscriber of `channel` is connected. */
async function subscriberNode(channel: string): Promise<RedisClusterNode> {
  for (const n of cluster.nodes) {
    const r = new Redis(n.port, n.host)
    const [, count] = (await r.call('PUBSUB', 'NUMSUB', channel)) as [string, number]
    await r.quit()
    if (count > 0) return n
  }
  throw new Error(`no node has a subscriber of ${channel}`)
}

/** The hash slot of `key`, as the Cluster computes it. */
async function slotOf(key: string): Promise<number> {
  const r = new Redis(cluster.nodes[0]!.port, cluster.nodes[0]!.host)
  const slot = Number(await r.call('CLUSTER', 'KEYSLOT', key))
  await r.quit()
  return slot
}

/** The master node serving `slot`. */
async function masterOf(slot: number): Promise<RedisClusterNode> {
  const r = new Redis(cluster.nodes[0]!.port, cluster.nodes[0]!.host)
  const slots = (await r.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number, string]]>
  await r.quit()
  const range = slots.find(([from, to]) => slot >= from && slot <= to)
  const node = cluster.nodes.find((n) => n.port === Number(range?.[2][1]))
  if (node === undefined) throw new Error(`no master for slot ${slot}`)
  return node
}

/** Waits (bounded) until every node reports cluster_state:ok. */
async function waitClusterOk(): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const states = await Promise.all(
      cluster.nodes.map(async (n) => {
        const r = new Redis(n.port, n.host, { maxRetriesPerRequest: 0, retryStrategy: () => null })
        r.on('error', () => {})
        const info = (await r.call('CLUSTER', 'INFO').catch(() => '')) as string
        r.disconnect()
        return info.includes('cluster_state:ok')
      }),
    )
    if (states.every(Boolean)) return
    await sleep(100)
  }
  throw new Error('the cluster did not come back within 30 s')
}
