// Client tracking on a Redis Cluster: one session per master, so a change by ANY client on ANY master evicts the
// L1 copy; the instance's own writes (NOLOOP on the Cluster's own connections) do not; a master killed under load
// and restarted gets tracking again, and the caches are cleared (changes may have been missed meanwhile).
import { createCache, parseRedisKey } from '@tierkit/redis-aside'
import { type RedisCluster, startRedisCluster } from '@tierkit/testkit'
import { Cluster } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { createTrackingInvalidator, type TrackingEvent } from '../src/index.js'
import { MapL1 } from './helpers/cache.js'

let cluster: RedisCluster
const closers: Array<() => Promise<unknown>> = []
beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3 })
}, 60_000)
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => {})
})

function client(): Cluster {
  // keep trying while a master is down (ioredis's default gives up when every refresh fails)
  const c = new Cluster(
    cluster.nodes.map((n) => ({ host: n.host, port: n.port })),
    { clusterRetryStrategy: (n: number) => Math.min(50 * n, 500) },
  )
  c.on('error', () => {})
  closers.push(async () => c.disconnect())
  return c
}

/** A cache with an L1 on its own Cluster client, and a tracking invalidator on that client, ready. */
async function trackedCache(ns: string) {
  const redis = client()
  const cache = createCache({ redis, l1: new MapL1(), namespace: ns, ttl: 60_000 })
  closers.push(() => cache.close())
  const events: TrackingEvent[] = []
  const tracking = createTrackingInvalidator({
    redis,
    prefixes: [`ra:${ns.length}:${ns}:v:`],
    toKey: (k) => parseRedisKey(k)?.key,
    caches: [cache],
    onEvent: (e) => events.push(e),
  })
  closers.push(() => tracking.close())
  await tracking.ready({ timeout: 30_000 })
  return { redis, cache, events }
}

describe('createTrackingInvalidator on a Cluster', () => {
  it('every master reports: a delete by an outsider on any node evicts; own writes do not', async () => {
    const { redis, cache, events } = await trackedCache('ctrk')
    const keys = Array.from({ length: 30 }, (_, i) => `k${i}`)
    for (const k of keys) await cache.set(k, `v-${k}`)
    // the keys are spread over every master
    const perMaster = await Promise.all(redis.nodes('master').map((n) => n.dbsize()))
    expect(perMaster).toHaveLength(3)
    for (const n of perMaster) expect(n).toBeGreaterThan(0)
    for (const k of keys) expect(await cache.get(k)).toBe(`v-${k}`)
    // own writes: no invalidation of this instance's fresh copies
    expect(events.filter((e) => e.type === 'invalidate')).toEqual([])
    const outsider = client()
    for (const k of keys) await outsider.del(`ra:4:ctrk:v:${k}`)
    await vi.waitFor(
      () => {
        const evicted = new Set(events.flatMap((e) => (e.type === 'invalidate' ? e.keys : [])))
        expect(keys.filter((k) => !evicted.has(k))).toEqual([])
      },
      { timeout: 10_000 },
    )
    for (const k of keys) expect(await cache.get(k)).toBeUndefined()
  }, 90_000)

  it('a master killed under load and restarted: tracking comes back there, the caches are cleared', async () => {
    const { cache, events } = await trackedCache('ctrk2')
    const keys = Array.from({ length: 30 }, (_, i) => `m${i}`)
    for (const k of keys) await cache.set(k, 'before')
    // load: reads keep going while the master dies
    let stop = false
    let reads = 0
    const load = (async () => {
      while (!stop) {
        await Promise.all(keys.map((k) => cache.getOrLoad(k, () => 'loaded').then(() => reads++)))
        // L1 hits settle in microtasks: let timers and sockets run between rounds
        await new Promise((r) => setTimeout(r, 5))
      }
    })()
    const victim = cluster.nodes[1]!
    await victim.kill()
    await new Promise((r) => setTimeout(r, 1500))
    await victim.restart()
    // the restarted master's session (the same connection reconnecting, or a new one for a replaced node) clears
    // the caches once tracking is on there again: what changed meanwhile was reported to nobody
    await vi.waitFor(() => expect(events.some((e) => e.type === 'cleared')).toBe(true), { timeout: 30_000 })
    // tracking is on again on the restarted master: an outsider's write there is reported
    const outsider = client()
    await vi.waitFor(
      async () => {
        for (const k of keys) await outsider.set(`ra:5:ctrk2:v:${k}`, 'x', 'PX', 60_000)
        const evicted = new Set(events.flatMap((e) => (e.type === 'invalidate' ? e.keys : [])))
        // every key, on every master (the restarted one included), was reported
        expect(keys.filter((k) => !evicted.has(k))).toEqual([])
      },
      { timeout: 30_000, interval: 500 },
    )
    stop = true
    await load
    expect(reads).toBeGreaterThan(30)
  }, 120_000)
})
