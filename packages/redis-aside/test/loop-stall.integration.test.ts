// Defect 10 (redis-aside's part) of issue 15: a blocked event loop is not a slow Redis. A reply that
// arrived while the loop was blocked must not be declared timed out when the loop resumes.
import type { Cluster, Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type CacheEvent, createCache } from '../src/index.js'
import { CLIENT, ready, startTopology, TOPOLOGIES, type Topology, uniqueNs } from './helpers.js'

/** Blocks the event loop (a synchronous busy loop, like a long JSON.parse or a GC pause). */
function blockFor(ms: number): void {
  const end = performance.now() + ms
  while (performance.now() < end) {
    // busy
  }
}

describe.each(TOPOLOGIES)('event-loop stalls on %s', (topology) => {
  let t: Topology
  let redis: Redis | Cluster
  beforeAll(async () => {
    t = await startTopology(topology)
    redis = t.client()
    await ready(redis)
  }, 60_000)
  afterAll(async () => {
    await t?.close()
  })

  it('300 ms stalls while 120 calls are in flight against a healthy Redis: zero Redis timeouts, the breaker stays closed', async () => {
    const events: CacheEvent[] = []
    const ns = uniqueNs('stall')
    const cache = createCache({
      redis,
      namespace: ns,
      ttl: 600_000,
      timeouts: { redis: 50 },
      breaker: { threshold: 3, cooldown: 10_000 },
      onEvent: (e) => events.push(e),
    })
    const keys = Array.from({ length: 100 }, (_, i) => `k${i}`)
    for (const key of keys) await cache.set(key, key)
    let loads = 0
    for (let round = 0; round < 3; round++) {
      const reads = Promise.all(
        keys.map((key) =>
          cache.getOrLoad(key, () => {
            loads++
            return 'loaded'
          }),
        ),
      )
      const writes = Promise.allSettled(Array.from({ length: 20 }, (_, i) => cache.set(`w${i}`, round)))
      // the coalesced reads leave on process.nextTick: let them go out, then block the loop while the
      // replies come back (node-redis writes its queue to the socket on setImmediate: wait for that one)
      await new Promise((r) => (CLIENT.startsWith('node-redis') ? setImmediate(r) : process.nextTick(r)))
      blockFor(300)
      const settled = await writes
      const values = await reads
      const failed = settled.filter((s) => s.status === 'rejected')
      const redisErrors = events.filter((e) => e.type === 'redis-error')
      expect({ round, redisErrors: redisErrors.length, failedWrites: failed.length }).toEqual({
        round,
        redisErrors: 0,
        failedWrites: 0,
      })
      expect(values).toEqual(keys)
    }
    expect(events.filter((e) => e.type === 'breaker')).toEqual([])
    expect(cache.breakerState).toBe('closed')
    expect(loads).toBe(0)
    await cache.close()
  })
})
