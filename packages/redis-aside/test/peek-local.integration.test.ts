import { setTimeout as sleep } from 'node:timers/promises'
import { ClosedError } from '@tierkit/contracts'
import { L1Cache } from '@tierkit/l1-cache'
import type { Cluster, Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createCache } from '../src/index.js'
import {
  commandCalls,
  expectInvalidArgument,
  MapL1,
  ready,
  recordingObserver,
  startTopology,
  type Topology,
  thrown,
  uniqueNs,
} from './helpers.js'

// `peekLocal`: this process's fresh L1 copy, synchronously (issue 19: what a tag check reads on an L1 hit).
describe('Cache.peekLocal', () => {
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

  it('returns the fresh L1 copy synchronously (null for a cached "not found"), and asks Redis nothing', async () => {
    const obs = recordingObserver()
    const cache = createCache({
      redis,
      l1: new L1Cache({ max: 100 }),
      namespace: uniqueNs(),
      ttl: 60_000,
      observer: obs,
    })
    const user = { id: 7 }
    await cache.getOrLoad('u:7', () => user)
    await cache.getOrLoad('u:8', () => null)
    await t.onEveryNode(['CONFIG', 'RESETSTAT'])
    const before = obs.events.length
    const got = cache.peekLocal('u:7')
    expect(got).not.toBeInstanceOf(Promise)
    expect(got).toBe(user) // the very object the L1 holds
    expect(cache.peekLocal('u:8')).toBeNull()
    expect(cache.peekLocal('u:9')).toBeUndefined() // absent: nothing loaded, nothing read from Redis
    const infos = await t.onEveryNode(['INFO', 'commandstats'])
    expect(commandCalls(infos, 'get') + commandCalls(infos, 'evalsha') + commandCalls(infos, 'mget')).toBe(0)
    // two hits counted; the absent key counts nothing (the get or getOrLoad that follows counts its miss)
    expect(obs.events.slice(before)).toEqual(['l1:hit', 'l1:hit'])
    await cache.close()
  })

  it('is undefined for a copy past its ttl (even within grace), for an evicted key, and without an L1', async () => {
    const l1 = new MapL1()
    const cache = createCache({ redis, l1, namespace: uniqueNs(), ttl: 40, grace: 60_000 })
    await cache.set('short', 'v')
    expect(cache.peekLocal('short')).toBe('v')
    await sleep(120) // well past the ttl and the coarse clock's millisecond
    expect(l1.map.size).toBe(1) // still held, within its grace
    expect(cache.peekLocal('short')).toBeUndefined()
    await cache.set('kept', 'w')
    cache.evictLocal('kept')
    expect(cache.peekLocal('kept')).toBeUndefined()
    expect(await cache.get('kept')).toBe('w') // Redis still has it: only the local copy went
    await cache.close()

    const noL1 = createCache({ redis, namespace: uniqueNs(), ttl: 60_000 })
    await noL1.set('k', 1)
    expect(noL1.peekLocal('k')).toBeUndefined()
    await noL1.close()
  })

  it('refuses a bad key with the family error, and throws ClosedError after close()', async () => {
    const cache = createCache({ redis, l1: new MapL1(), namespace: uniqueNs(), ttl: 60_000 })
    expectInvalidArgument(
      thrown(() => cache.peekLocal(42 as unknown as string)),
      'Cache.peekLocal: key must be a non-empty string of at most 65536 characters, got 42',
    )
    expectInvalidArgument(
      thrown(() => cache.peekLocal('')),
      'Cache.peekLocal: key must be a non-empty string of at most 65536 characters, got ""',
    )
    await cache.set('k', 1)
    await cache.close()
    const e = thrown(() => cache.peekLocal('k'))
    expect(e).toBeInstanceOf(ClosedError)
    expect(e).toMatchObject({ code: 'E_CLOSED' })
  })
})
