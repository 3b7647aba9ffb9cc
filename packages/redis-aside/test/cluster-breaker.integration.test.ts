// Defect 8 (redis-aside's part) of issue 15: on a Redis Cluster, one dead master must not stop Redis for
// the keys of the healthy masters: the circuit breaker is per node (the master owning the key's slot).
import { setTimeout as sleep } from 'node:timers/promises'
import type { Cluster } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type CacheEvent, createCache } from '../src/index.js'
import { keyPrefix } from '../src/keys.js'
import { keySlot } from '../src/slot.js'
import { eventually, ready, startTopology, type Topology, uniqueNs } from './helpers.js'

describe('per-node circuit breakers on a Redis Cluster', () => {
  let t: Topology
  beforeAll(async () => {
    t = await startTopology('cluster')
    // a cache cluster keeps serving the slots it still has when one master is gone
    await t.onEveryNode(['CONFIG', 'SET', 'cluster-require-full-coverage', 'no'])
  }, 60_000)
  afterAll(async () => {
    await t?.close()
  })

  it('SIGKILL of one master: keys on the healthy masters keep using Redis (no loader call for them), the dead one is bypassed', async () => {
    const redis = t.client() as Cluster
    await ready(redis)
    const events: CacheEvent[] = []
    const ns = uniqueNs('nodes')
    const cache = createCache({
      redis,
      namespace: ns,
      ttl: 600_000,
      timeouts: { redis: 200 },
      breaker: { threshold: 3, cooldown: 10_000 },
      onEvent: (e) => events.push(e),
    })
    const keys = Array.from({ length: 60 }, (_, i) => `item:${i}`)
    const loads = new Map<string, number>()
    const loader = (key: string) => () => {
      loads.set(key, (loads.get(key) ?? 0) + 1)
      return { key }
    }
    for (const key of keys) await cache.getOrLoad(key, loader(key))
    const victim = t.cluster!.nodes[0]!
    const victimId = `${victim.host}:${victim.port}`
    const ownerOf = (key: string) => redis.slots[keySlot(`${keyPrefix(ns)}v:${key}`)]?.[0]
    const onVictim = keys.filter((k) => ownerOf(k) === victimId)
    const healthy = keys.filter((k) => ownerOf(k) !== victimId)
    expect(onVictim.length).toBeGreaterThan(0)
    expect(healthy.length).toBeGreaterThan(0)
    loads.clear()
    await victim.kill()
    try {
      // 4 s of reads of every key: longer than the cluster's node timeout (3 s), so the survivors mark the
      // victim as failed during the run
      const until = Date.now() + 4000
      let rounds = 0
      while (Date.now() < until) {
        const values = await Promise.all(keys.map((key) => cache.getOrLoad(key, loader(key))))
        expect(values).toEqual(keys.map((key) => ({ key })))
        rounds++
        await sleep(20)
      }
      expect(rounds).toBeGreaterThan(5)
      const healthyLoads = healthy.reduce((n, k) => n + (loads.get(k) ?? 0), 0)
      const victimLoads = onVictim.reduce((n, k) => n + (loads.get(k) ?? 0), 0)
      expect({ healthyLoads }).toEqual({ healthyLoads: 0 })
      expect(victimLoads).toBeGreaterThanOrEqual(onVictim.length * rounds)
      // the victim's breaker opened; that is the only breaker that changed
      const breakerEvents = events.filter((e) => e.type === 'breaker') as Array<
        Extract<CacheEvent, { type: 'breaker' }>
      >
      expect(breakerEvents.some((e) => e.state === 'open' && e.node === victimId)).toBe(true)
      expect(breakerEvents.filter((e) => e.node !== victimId)).toEqual([])
      expect(cache.breakerState).toBe('open') // the worst node
    } finally {
      await victim.restart()
      await eventually(async () => {
        const info = String(await t.onEveryNode(['CLUSTER', 'INFO']).catch(() => ''))
        return !info.includes('cluster_state:fail')
      }, 30_000)
    }
    await cache.close()
    redis.disconnect()
  }, 60_000)
})
