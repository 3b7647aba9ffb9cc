// Defect 2 of issue 15: a load that started before a write must never store its value after it, in any
// process (a fencing check at the fill, as memcache's leases do), and an eviction from the bus must stop the
// in-flight loads and reads of this process from filling the L1. The interleavings are forced with gated
// loaders in another process (the race worker), never with sleeps.
import { setTimeout as sleep } from 'node:timers/promises'
import type { Cluster, Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Cache, type CacheOptions, createCache, exactSerializer } from '../src/index.js'
import { keyPrefix } from '../src/keys.js'
import { eventually, MapL1, ready, startTopology, TOPOLOGIES, type Topology, uniqueNs } from './helpers.js'
import { WorkerProcess } from './worker.js'

describe.each(TOPOLOGIES)('fencing on %s', (topology) => {
  let t: Topology
  let redis: Redis | Cluster
  let a: WorkerProcess
  const caches: Cache[] = []
  const make = (o: Partial<CacheOptions> & { namespace: string }): Cache => {
    const c = createCache({ redis: t.client(), ttl: 600_000, timeouts: { redis: 5000 }, ...o })
    caches.push(c)
    return c
  }
  const rkey = (ns: string, key: string) => `${keyPrefix(ns)}v:${key}`
  /** Instance A, in the worker process, on namespace `ns`. */
  const prepA = async (ns: string, options: Record<string, unknown> = {}) => {
    a.command({ cmd: 'prep', topology, nodes: t.nodes(), namespace: ns, options })
    expect(await a.nextJson()).toEqual({ ok: 'prepared' })
  }

  beforeAll(async () => {
    t = await startTopology(topology)
    redis = t.client()
    await ready(redis)
    a = new WorkerProcess('race-worker.mjs')
    expect(await a.nextJson()).toEqual({ ok: 'ready' })
  }, 60_000)
  afterAll(async () => {
    a?.kill()
    await Promise.all(caches.map((c) => c.close()))
    await t?.close()
  })

  it('a delete on B while A (another process) loads the key: A never stores its old value, and A, B and C read the new state', async () => {
    const ns = uniqueNs('fence-del')
    await prepA(ns)
    const b = make({ namespace: ns, l1: new MapL1() })
    const c = make({ namespace: ns })
    a.command({ cmd: 'load', id: 'l1', key: 'k', value: 'v1' })
    expect(await a.nextJson()).toEqual({ loading: 'l1' }) // A missed Redis and its loader read v1
    await b.delete('k') // the database now holds v2: the writer deletes the cache entry
    a.command({ cmd: 'release', id: 'l1' })
    // A's own caller gets what it read (its read started before the write)...
    expect(await a.nextJson()).toEqual({ loaded: 'l1', value: 'v1' })
    // ...but nobody is served v1 after the delete
    expect(await b.get('k')).toBeUndefined()
    expect(await c.getOrLoad('k', () => 'v2')).toBe('v2')
    a.command({ cmd: 'get', key: 'k' })
    expect(await a.nextJson()).toEqual({ got: 'v2' })
  })

  it('a set on B while A loads: A never overwrites the newer value, in Redis or in its L1', async () => {
    const ns = uniqueNs('fence-set')
    await prepA(ns)
    const b = make({ namespace: ns, l1: new MapL1() })
    const c = make({ namespace: ns })
    a.command({ cmd: 'load', id: 's1', key: 'k', value: 'v1' })
    expect(await a.nextJson()).toEqual({ loading: 's1' })
    await b.set('k', 'v2') // write-through of the new version
    a.command({ cmd: 'release', id: 's1' })
    expect(await a.nextJson()).toEqual({ loaded: 's1', value: 'v1' })
    expect(await c.get('k')).toBe('v2')
    a.command({ cmd: 'get', key: 'k' })
    expect(await a.nextJson()).toEqual({ got: 'v2' })
  })

  it('evictLocal (what the bus calls) during a load in this process: the load fills neither the L1 nor Redis', async () => {
    const ns = uniqueNs('fence-evict')
    await prepA(ns)
    const c = make({ namespace: ns })
    a.command({ cmd: 'load', id: 'e1', key: 'k', value: 'v1' })
    expect(await a.nextJson()).toEqual({ loading: 'e1' })
    // the write happened elsewhere (another Redis, an outsider); only the bus tells A
    a.command({ cmd: 'evict', key: 'k' })
    expect(await a.nextJson()).toEqual({ ok: 'evicted' })
    a.command({ cmd: 'release', id: 'e1' })
    expect(await a.nextJson()).toEqual({ loaded: 'e1', value: 'v1' })
    a.command({ cmd: 'get', key: 'k' })
    expect(await a.nextJson()).toEqual({ got: null })
    expect(await c.get('k')).toBeUndefined()
  })

  it('an expired tombstone never lets an old fill land: the fill expects the lease of the load, never an empty key', async () => {
    const ns = uniqueNs('fence-expired')
    await prepA(ns, { tombstoneTtl: 400 })
    const b = make({ namespace: ns, tombstoneTtl: 400 })
    const c = make({ namespace: ns })
    a.command({ cmd: 'load', id: 'x1', key: 'k', value: 'v1' })
    expect(await a.nextJson()).toEqual({ loading: 'x1' })
    await b.delete('k')
    // wait (bounded) until Redis has dropped whatever the delete left behind
    await eventually(async () => (await redis.exists(rkey(ns, 'k'))) === 0)
    a.command({ cmd: 'release', id: 'x1' })
    expect(await a.nextJson()).toEqual({ loaded: 'x1', value: 'v1' })
    expect(await c.get('k')).toBeUndefined()
    expect(await redis.exists(rkey(ns, 'k'))).toBe(0)
  })

  it('Redis losing its data during a load (FLUSHALL after the delete) never lets the old value land', async () => {
    const ns = uniqueNs('fence-flush')
    await prepA(ns)
    const b = make({ namespace: ns })
    const c = make({ namespace: ns })
    a.command({ cmd: 'load', id: 'f1', key: 'k', value: 'v1' })
    expect(await a.nextJson()).toEqual({ loading: 'f1' })
    await b.delete('k')
    await t.onEveryNode(['FLUSHALL']) // the tombstone (and whatever else) is gone
    a.command({ cmd: 'release', id: 'f1' })
    expect(await a.nextJson()).toEqual({ loaded: 'f1', value: 'v1' })
    expect(await c.get('k')).toBeUndefined()
    expect(await redis.exists(rkey(ns, 'k'))).toBe(0)
  })

  it('getOrLoadMany: a delete of one key during the batch load keeps that key out of Redis, the others are stored', async () => {
    const ns = uniqueNs('fence-many')
    await prepA(ns)
    const b = make({ namespace: ns })
    const c = make({ namespace: ns })
    a.command({ cmd: 'loadMany', id: 'm', keys: ['m1', 'm2'], value: 'v1' })
    expect(await a.nextJson()).toEqual({ loading: 'm', missing: ['m1', 'm2'] })
    await b.delete('m1')
    a.command({ cmd: 'release', id: 'm' })
    expect(await a.nextJson()).toEqual({ loaded: 'm', value: ['m1=v1', 'm2=v1'] })
    expect(await c.getMany(['m1', 'm2'])).toEqual([undefined, 'm2=v1'])
  })

  it('a Redis read in flight when evictLocal arrives does not copy what it read into the L1 (getOrLoad, get, getMany)', async () => {
    const ns = uniqueNs('fence-read')
    const writer = make({ namespace: ns })
    for (const k of ['g1', 'g2', 'g3']) await writer.set(k, `${k}-old`)
    const l1 = new MapL1()
    let evictDuringDecode: string | undefined
    let cache: Cache | undefined
    // decode runs when the reply has arrived, before the L1 fill: the eviction lands exactly in between
    const serializer = {
      encode: (v: unknown) => exactSerializer.encode(v),
      decode: (s: string) => {
        if (evictDuringDecode !== undefined) {
          cache!.evictLocal([evictDuringDecode])
          evictDuringDecode = undefined
        }
        return exactSerializer.decode(s)
      },
    }
    cache = make({ namespace: ns, l1, serializer })
    const inL1 = (key: string) => l1.map.has(`${keyPrefix(ns)}v:${key}`)
    evictDuringDecode = 'g1'
    expect(await cache.getOrLoad('g1', () => 'loaded')).toBe('g1-old')
    evictDuringDecode = 'g2'
    expect(await cache.get('g2')).toBe('g2-old')
    evictDuringDecode = 'g3'
    expect(await cache.getMany(['g3'])).toEqual(['g3-old'])
    expect([inL1('g1'), inL1('g2'), inL1('g3')]).toEqual([false, false, false])
    // without an eviction the reads do fill the L1
    expect(await cache.get('g2')).toBe('g2-old')
    expect(inL1('g2')).toBe(true)
  })

  it('evictLocal() with no keys (what a bus calls after it missed messages) clears the L1 and stops every read and load in flight from filling it', async () => {
    const ns = uniqueNs('fence-all')
    const writer = make({ namespace: ns })
    for (const k of ['a1', 'a2']) await writer.set(k, `${k}-old`)
    const l1 = new MapL1()
    let evictAll = false
    let cache: Cache | undefined
    const serializer = {
      encode: (v: unknown) => exactSerializer.encode(v),
      decode: (s: string) => {
        if (evictAll) {
          evictAll = false
          cache!.evictLocal()
        }
        return exactSerializer.decode(s)
      },
    }
    cache = make({ namespace: ns, l1, serializer })
    const inL1 = (key: string) => l1.map.has(`${keyPrefix(ns)}v:${key}`)
    // something else in the L1 is gone too
    await cache.set('other', 'x')
    expect(inL1('other')).toBe(true)
    evictAll = true
    expect(await cache.get('a1')).toBe('a1-old')
    expect([inL1('a1'), inL1('other')]).toEqual([false, false])
    // a load in flight when everything is evicted returns its value but caches it nowhere
    let release!: () => void
    const gate = new Promise<void>((r) => {
      release = r
    })
    const pending = cache.getOrLoad('fresh', async () => {
      await gate
      return 'loaded'
    })
    await sleep(50)
    cache.evictLocal()
    release()
    expect(await pending).toBe('loaded')
    expect(inL1('fresh')).toBe(false)
    expect(await writer.get('fresh')).toBeUndefined()
  })

  it('a deleted key reads as a miss with nothing stale to serve, and its tombstone is replaced by the next load', async () => {
    const ns = uniqueNs('fence-tomb')
    const b = make({ namespace: ns })
    const reader = make({ namespace: ns, grace: 600_000 })
    await b.set('k', 'old', { ttl: 600_000, grace: 600_000 })
    await b.delete('k')
    expect(await reader.get('k')).toBeUndefined()
    const err = await reader.getOrLoad('k', () => Promise.reject(new Error('db down'))).catch((e) => e)
    expect((err as { code?: string }).code).toBe('E_LOADER_FAILED') // not 'old'
    expect(await reader.getOrLoad('k', () => 'new')).toBe('new')
    expect(await b.get('k')).toBe('new')
  })
})
