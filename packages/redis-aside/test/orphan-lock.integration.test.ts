// Defect 4 of issue 15: a distributed-lock acquisition whose reply was lost (a Redis stall longer than
// timeouts.redis) must not leave a lock that nobody holds, and waiters must not wait on such a lock.
import type { Cluster, Redis } from 'ioredis'
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { type Cache, type CacheOptions, createCache } from '../src/index.js'
import { keyPrefix } from '../src/keys.js'
import { proxiesFor, ready, startTopology, TOPOLOGIES, type Topology, uniqueNs } from './helpers.js'

describe.each(TOPOLOGIES)('the distributed lock under a Redis stall on %s', (topology) => {
  let t: Topology
  let redis: Redis | Cluster
  const caches: Cache[] = []
  const make = (client: Redis | Cluster, o: Partial<CacheOptions> & { namespace: string }): Cache => {
    const c = createCache({
      redis: client,
      ttl: 60_000,
      lock: { distributed: true }, // default lease: 10 s
      timeouts: { redis: 100, hard: 3000 },
      ...o,
    })
    caches.push(c)
    return c
  }
  const lockKey = (ns: string, key: string) => `${keyPrefix(ns)}l:${key}`

  beforeAll(async () => {
    t = await startTopology(topology)
    redis = t.client()
    await ready(redis)
  }, 60_000)
  afterAll(async () => {
    await Promise.all(caches.map((c) => c.close()))
    await t?.close()
  })
  beforeEach(async () => {
    await t.ensureRunning()
  })

  it('a lock acquisition whose reply is lost in a 500 ms stall is released: once Redis is healthy the next getOrLoad, here and in another instance, calls the loader', async () => {
    const proxies = await proxiesFor(t, 0)
    const stalled = t.client({ proxied: proxies })
    await ready(stalled)
    const ns = uniqueNs('orphan')
    const a = make(stalled, { namespace: ns })
    const b = make(t.client(), { namespace: ns })
    for (const p of proxies) p.setLatency(250) // 500 ms round trips: every call of A times out after 100 ms
    for (const key of ['k', 'k2']) {
      const err = await a.getOrLoad(key, () => Promise.reject(new Error('db down'))).catch((e: unknown) => e)
      expect((err as { code?: string }).code).toBe('E_LOADER_FAILED')
    }
    for (const p of proxies) p.setLatency(0)
    // A treated the unanswered acquisitions as its own and released them by token. Not at once: a script that
    // the server did not know yet is sent again as EVAL after its NOSCRIPT reply (500 ms late here), so the
    // order of A's bytes says nothing about when the release lands; within 2 s, well inside the 10 s lease
    // that would keep an orphaned lock.
    await vi.waitFor(
      async () => {
        expect(await redis.exists(lockKey(ns, 'k'))).toBe(0)
        expect(await redis.exists(lockKey(ns, 'k2'))).toBe(0)
      },
      { timeout: 2000, interval: 20 },
    )
    let loads = 0
    const loader = () => {
      loads++
      return 'v'
    }
    expect(await b.getOrLoad('k', loader)).toBe('v') // another instance
    expect(await a.getOrLoad('k2', loader)).toBe('v') // the same instance
    expect(loads).toBe(2)
    for (const p of proxies) await p.close()
  })

  it('a waiter does not wait on a lock that nobody renews: it takes the lock over and loads', async () => {
    const ns = uniqueNs('ghost')
    const cache = make(t.client(), { namespace: ns })
    // a holder that vanished 3 s ago without ever renewing its 10 s lease, and one that set no expiry at all
    await redis.set(lockKey(ns, 'k'), 'ghost-token', 'PX', 7000)
    await redis.set(lockKey(ns, 'k2'), 'ghost-token')
    let loads = 0
    const loader = () => {
      loads++
      return 'v'
    }
    expect(await cache.getOrLoad('k', loader)).toBe('v')
    expect(await cache.getOrLoad('k2', loader)).toBe('v')
    expect(loads).toBe(2)
  })
})
