import { setTimeout as sleep } from 'node:timers/promises'
import type { Cluster, Redis } from 'ioredis'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { type CacheEvent, createCache, RedisUnavailableError } from '../src/index.js'
import {
  eventually,
  MapL1,
  proxiesFor,
  ready,
  recordingObserver,
  startTopology,
  TOPOLOGIES,
  type Topology,
  uniqueNs,
} from './helpers.js'

describe.each(TOPOLOGIES)('Redis faults on %s', (topology) => {
  let t: Topology
  beforeAll(async () => {
    t = await startTopology(topology)
  }, 60_000)
  afterAll(async () => {
    await t?.close()
  })
  beforeEach(async () => {
    await t.ensureRunning()
  }, 60_000)

  it('stopping the Redis server mid-run fails no call; the breaker opens, then closes by itself when Redis is back', async () => {
    const redis = t.client()
    await ready(redis)
    const events: CacheEvent[] = []
    const obs = recordingObserver()
    const cache = createCache({
      redis,
      namespace: uniqueNs(),
      ttl: 60_000,
      timeouts: { redis: 100 },
      breaker: { threshold: 3, cooldown: 100 },
      observer: obs,
      onEvent: (e) => events.push(e),
    })
    let loads = 0
    const loader = async (id: number) => {
      loads++
      await sleep(1)
      return { id }
    }
    const results: Array<Promise<unknown>> = []
    const run = async (round: number) => {
      for (let i = 0; i < 5; i++) {
        const id = round * 5 + i
        results.push(cache.getOrLoad(`user:${id % 7}`, () => loader(id % 7)))
      }
      await sleep(5)
    }
    let round = 0
    for (; round < 10; round++) await run(round)
    await t.stopServers() // really stop redis-server (SIGTERM, waits for exit)
    // keep the load on until the failed reads have opened the breaker (bounded: at most 400 rounds)
    const opened = () => events.some((e) => e.type === 'breaker' && e.state === 'open')
    for (const first = round; round < first + 20 || (!opened() && round < first + 400); round++)
      await run(round)
    // let the calls made while Redis was down finish (each is bounded by timeouts.redis)
    await Promise.allSettled(results)
    for (const first = round; round < first + 5; round++) await run(round)
    expect(cache.breakerState).not.toBe('closed')
    expect(opened()).toBe(true)
    await t.restartServers()
    for (const first = round; round < first + 10; round++) await run(round)
    // every call resolved with the loader's answer
    const settled = await Promise.allSettled(results)
    expect(settled.filter((s) => s.status === 'rejected')).toEqual([])
    for (let i = 0; i < results.length; i++) {
      const r = Math.floor(i / 5)
      const id = (r * 5 + (i % 5)) % 7
      expect((settled[i] as PromiseFulfilledResult<unknown>).value).toEqual({ id })
    }
    // the cache recovers by itself: the breaker closes and values reach Redis again
    await eventually(async () => {
      await cache.getOrLoad(`after:${Date.now()}`, () => 'x')
      return cache.breakerState === 'closed'
    }, 20_000)
    await cache.set('back', 'yes')
    const fresh = createCache({ redis, namespace: cache.namespace, ttl: 60_000 })
    expect(await fresh.get('back')).toBe('yes')
    expect(events.some((e) => e.type === 'breaker' && e.state === 'closed')).toBe(true)
    expect(obs.count('l2:error')).toBeGreaterThan(0)
    expect(loads).toBeGreaterThan(0)
    await cache.close()
    await fresh.close()
    redis.disconnect()
  }, 60_000)

  it('an open breaker does not stop a delete or a set once Redis is back: invalidations are not held for the cool-down', async () => {
    const redis = t.client({ enableOfflineQueue: false })
    await ready(redis)
    const ns = uniqueNs('brk-writes')
    const events: CacheEvent[] = []
    const cache = createCache({
      redis,
      namespace: ns,
      ttl: 600_000,
      timeouts: { redis: 100 },
      breaker: { threshold: 2, cooldown: 600_000 }, // stays open for the whole test unless a call gets through
      onEvent: (e) => events.push(e),
    })
    await cache.set('k', 'old')
    await cache.set('w', 'old')
    await t.stopServers()
    for (let i = 0; i < 5; i++) await cache.get('k') // the key's own breaker (its node's on a Cluster) opens
    expect(cache.breakerState).toBe('open')
    // still down: the write tries Redis (bounded by timeouts.redis) and fails loudly, saying which call on
    // which key, and why
    const down = await cache.delete('k').then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(down).toBeInstanceOf(RedisUnavailableError)
    expect(down).toMatchObject({ code: 'E_REDIS_UNAVAILABLE', operation: 'delete', key: 'k' })
    expect((down as Error).message).toMatch(/^redis unavailable for delete "k": \S/)
    expect((down as Error).message).toBe(
      `redis unavailable for delete "k": ${(down as RedisUnavailableError).reason}`,
    )
    await t.restartServers()
    await eventually(() => redis.status === 'ready', 20_000)
    // Redis is back, the breaker still open: the delete and the set go through anyway, and close it (on a
    // Cluster: the breakers of the nodes they reached)
    const closedBefore = events.filter((e) => e.type === 'breaker' && e.state === 'closed').length
    await cache.delete('k')
    await cache.set('w', 'new')
    expect(events.filter((e) => e.type === 'breaker' && e.state === 'closed').length).toBeGreaterThan(
      closedBefore,
    )
    const other = createCache({ redis, namespace: ns, ttl: 600_000 })
    expect(await other.get('k')).toBeUndefined()
    expect(await other.get('w')).toBe('new')
    await other.close()
    await cache.close()
    redis.disconnect()
  }, 60_000)

  it('explicit writes while Redis is down reject with E_REDIS_UNAVAILABLE; reads still resolve', async () => {
    // without the offline queue a write fails at once instead of being replayed after the outage
    const redis = t.client({ enableOfflineQueue: false })
    await ready(redis)
    const cache = createCache({
      redis,
      namespace: uniqueNs(),
      ttl: 60_000,
      l1: new MapL1(),
      // no offline queue: calls fail at once while Redis is down, so no tight timeout is needed
      timeouts: { redis: 5000 },
      breaker: { threshold: 2, cooldown: 50 },
    })
    await cache.set('k', 'v1')
    await t.stopServers()
    const err = await cache.set('k', 'v2').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RedisUnavailableError)
    expect(err).toMatchObject({
      code: 'E_REDIS_UNAVAILABLE',
      name: 'RedisUnavailableError',
      operation: 'set',
      key: 'k',
    })
    // why: the connection's own error (also the cause), or the timeout when ioredis held the command
    const cause = (err as RedisUnavailableError).cause as Error | undefined
    const reason = cause === undefined ? 'timed out after 5000 ms' : cause.message
    expect((err as RedisUnavailableError).reason).toBe(reason)
    expect((err as Error).message).toBe(`redis unavailable for set "k": ${reason}`)
    expect(await cache.get('k')).toBe('v2') // the L1 part was applied
    await expect(cache.delete('k')).rejects.toMatchObject({ code: 'E_REDIS_UNAVAILABLE' })
    expect(await cache.get('other')).toBeUndefined()
    expect(await cache.getMany(['a', 'b'])).toEqual([undefined, undefined])
    expect(await cache.getOrLoad('c', () => 'loaded')).toBe('loaded')
    await t.restartServers()
    await eventually(async () => {
      try {
        await cache.set('k', 'v3')
        return true
      } catch {
        return false
      }
    }, 20_000)
    cache.evictLocal('k')
    expect(await cache.get('k')).toBe('v3')
    await cache.close()
    redis.disconnect()
  }, 60_000)

  it('a slow Redis (delaying proxy) is bounded by timeouts.redis: the loader answers instead', async () => {
    const proxies = await proxiesFor(t, 0)
    const redis: Redis | Cluster = t.client({ proxied: proxies })
    await ready(redis)
    const ns = uniqueNs()
    const writer = createCache({ redis, namespace: ns, ttl: 60_000 })
    await writer.set('k', 'cached')
    await writer.close()
    const events: CacheEvent[] = []
    const obs = recordingObserver()
    const cache = createCache({
      redis,
      namespace: ns,
      ttl: 60_000,
      timeouts: { redis: 150 },
      breaker: { threshold: 1000, cooldown: 10 },
      observer: obs,
      onEvent: (e) => events.push(e),
    })
    for (const p of proxies) p.setLatency(1000) // each way: an answer would take 2 s
    let loaded = 0
    const value = await cache.getOrLoad('k', () => {
      loaded++
      return 'from loader'
    })
    expect(value).toBe('from loader')
    expect(loaded).toBe(1)
    const timeouts = events.filter(
      (e) =>
        e.type === 'redis-error' && String((e.error as Error).message).includes('timed out after 150 ms'),
    )
    expect(timeouts.length).toBeGreaterThan(0)
    // the read of "k" is named, with the reason
    const readOfK = events.find((e) => e.type === 'redis-error' && e.operation === 'get' && e.key === 'k')
    expect(readOfK).toMatchObject({
      error: { code: 'E_REDIS_UNAVAILABLE', reason: 'timed out after 150 ms' },
    })
    expect((readOfK as { error: Error }).error.message).toBe(
      'redis unavailable for get "k": timed out after 150 ms',
    )
    expect(obs.count('l2:error')).toBeGreaterThan(0)
    // the proxy really holds the bytes: a raw GET through it is still pending when the cache already answered
    let rawDone = false
    const raw = redis.get('ra:probe').then(() => {
      rawDone = true
    })
    expect(await cache.getOrLoad('k2', () => 'quick')).toBe('quick')
    expect(rawDone).toBe(false)
    // an event-loop stall while a call waits gives it one more timeout from the resume, not a pass: a slow
    // Redis is still timed out after a stall (and twice, after two)
    const stalledRead = cache.getOrLoad('k4', () => 'after a stall')
    for (let i = 0; i < 2; i++) {
      await new Promise((r) => setTimeout(r, 20))
      const end = performance.now() + 400
      while (performance.now() < end) {
        // busy: the loop is blocked
      }
    }
    expect(await stalledRead).toBe('after a stall')
    expect(rawDone).toBe(false)
    expect(events.some((e) => e.type === 'redis-error' && e.operation === 'get' && e.key === 'k4')).toBe(true)
    for (const p of proxies) p.setLatency(0)
    await raw
    // a black-holed Redis is bounded too
    for (const p of proxies) {
      await p.setMode('blackhole')
      p.dropConnections()
    }
    expect(await cache.getOrLoad('k3', () => 'still answered')).toBe('still answered')
    await cache.close()
    redis.disconnect()
    for (const p of proxies) await p.close()
  }, 60_000)
})
