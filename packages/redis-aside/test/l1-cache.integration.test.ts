import { setTimeout as sleep } from 'node:timers/promises'
import { L1Cache } from '@tierkit/l1-cache'
import type { Cluster, Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createCache } from '../src/index.js'
import { commandCalls, ready, recordingObserver, startTopology, type Topology, uniqueNs } from './helpers.js'

// The real L1Cache of @tierkit/l1-cache as redis-aside's L1 (one Redis for this file).
describe('with L1Cache from @tierkit/l1-cache as l1', () => {
  let t: Topology
  let redis: Redis | Cluster
  beforeAll(async () => {
    t = await startTopology('redis')
    redis = t.client()
    await ready(redis)
  }, 60_000)
  afterAll(async () => {
    await t?.close()
  })

  it('serves hits from L1Cache without Redis, honours its TTL, and evictLocal drops its copy', async () => {
    const l1 = new L1Cache({ max: 1000 })
    const obs = recordingObserver()
    const cache = createCache({ redis, l1, namespace: uniqueNs(), ttl: 60_000, observer: obs })
    let loads = 0
    const loader = () => {
      loads++
      return { id: 7, when: new Date(0) }
    }
    expect(await cache.getOrLoad('u:7', loader)).toEqual({ id: 7, when: new Date(0) })
    await t.onEveryNode(['CONFIG', 'RESETSTAT'])
    const hits = await Promise.all(Array.from({ length: 100 }, () => cache.getOrLoad('u:7', loader)))
    expect(new Set(hits).size).toBe(1)
    expect(loads).toBe(1)
    expect(commandCalls(await t.onEveryNode(['INFO', 'commandstats']), 'get')).toBe(0)
    expect(obs.count('l1:hit')).toBe(100)
    cache.evictLocal('u:7')
    expect(await cache.getOrLoad('u:7', loader)).toEqual({ id: 7, when: new Date(0) })
    expect(loads).toBe(1)
    expect(obs.count('l2:hit')).toBe(1)
    await cache.close()
  })

  it('an entry leaves L1Cache when its TTL (ttl + grace) passes', async () => {
    const l1 = new L1Cache({ max: 1000 })
    const cache = createCache({ redis, l1, namespace: uniqueNs(), ttl: 30 })
    await cache.set('short', 1)
    expect(l1.size).toBe(1)
    await sleep(60)
    expect(await cache.get('short')).toBeUndefined()
    await cache.close()
  })
})
