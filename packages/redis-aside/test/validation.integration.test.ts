// Defect 5 of issue 15: every duration and size is validated as a safe integer in a sane range (options and
// per call), with a TypeError naming it, before anything is stored; and a Redis error reply is never
// "Redis unavailable" and never opens the breaker.
import type { Cluster, Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type Cache,
  type CacheEvent,
  type CacheOptions,
  createCache,
  LoaderError,
  RedisReplyError,
} from '../src/index.js'
import { keyPrefix } from '../src/keys.js'
import { MapL1, ready, startTopology, TOPOLOGIES, type Topology, uniqueNs } from './helpers.js'

const MAX_TTL = 315_360_000_000 // 10 years
const MAX_TIMER = 2_147_483_647 // what setTimeout accepts
const BAD_NUMBERS = [
  1.5,
  1500.5,
  0.5,
  1e300,
  Number.NaN,
  -1,
  Number.POSITIVE_INFINITY,
  '10' as unknown as number,
]

describe.each(TOPOLOGIES)('durations, sizes and reply errors on %s', (topology) => {
  let t: Topology
  let redis: Redis | Cluster
  const caches: Cache[] = []
  const make = (o: Partial<CacheOptions> = {}): Cache => {
    const c = createCache({ redis, namespace: uniqueNs('val'), ttl: 60_000, timeouts: { redis: 5000 }, ...o })
    caches.push(c)
    return c
  }

  beforeAll(async () => {
    t = await startTopology(topology)
    redis = t.client()
    await ready(redis)
  }, 60_000)
  afterAll(async () => {
    await Promise.all(caches.map((c) => c.close()))
    await t?.close()
  })

  it('createCache refuses non-integer, huge, NaN and negative durations with a TypeError naming the option', () => {
    const cases: Array<[string, (v: number) => Partial<CacheOptions>, string]> = [
      ['ttl', (v) => ({ ttl: v }), `from 1 to ${MAX_TTL}`],
      ['grace', (v) => ({ grace: v }), `from 0 to ${MAX_TTL}`],
      ['nullTtl', (v) => ({ nullTtl: v }), `from 0 to ${MAX_TTL}`],
      ['tombstoneTtl', (v) => ({ tombstoneTtl: v }), `from 1 to ${MAX_TTL}`],
      ['timeouts.soft', (v) => ({ timeouts: { soft: v } }), `from 0 to ${MAX_TIMER}`],
      ['timeouts.hard', (v) => ({ timeouts: { hard: v } }), `from 0 to ${MAX_TIMER}`],
      ['timeouts.redis', (v) => ({ timeouts: { redis: v } }), `from 1 to ${MAX_TIMER}`],
      ['lock.lease', (v) => ({ lock: { distributed: true, lease: v } }), `from 3 to ${MAX_TIMER}`],
      ['lock.waitTimeout', (v) => ({ lock: { waitTimeout: v } }), `from 1 to ${MAX_TIMER}`],
      ['graceRetry', (v) => ({ graceRetry: v }), `from 0 to ${MAX_TIMER}`],
      ['breaker.threshold', (v) => ({ breaker: { threshold: v } }), `from 1 to ${MAX_TIMER}`],
      ['breaker.coolDown', (v) => ({ breaker: { coolDown: v } }), `from 1 to ${MAX_TIMER}`],
      ['maxValueBytes', (v) => ({ maxValueBytes: v }), 'from 1 to 536870912'],
    ]
    const seen: string[] = []
    for (const [name, opt, range] of cases) {
      for (const bad of BAD_NUMBERS) {
        const message = `redis-aside: ${name} must be an integer ${range}`
        expect(() => createCache({ redis, namespace: 'x', ttl: 1000, ...opt(bad) })).toThrow(
          new TypeError(message),
        )
        seen.push(name)
      }
    }
    expect(new Set(seen).size).toBe(cases.length)
    // the bounds themselves are accepted
    expect(() =>
      createCache({
        redis,
        namespace: 'x',
        ttl: MAX_TTL,
        grace: 0,
        timeouts: { redis: MAX_TIMER },
        lock: { lease: 3 },
      }),
    ).not.toThrow()
    expect(() => createCache({ redis, namespace: 'x', ttl: MAX_TTL + 1 })).toThrow(
      new TypeError(`redis-aside: ttl must be an integer from 1 to ${MAX_TTL}`),
    )
  })

  it('per-call ttl/grace and ctx.setTtl are validated the same way; nothing is stored and the state is intact', async () => {
    const l1 = new MapL1()
    const cache = make({ l1 })
    const reader = make({ namespace: cache.namespace })
    await cache.set('keep', 'v1')
    for (const bad of BAD_NUMBERS) {
      await expect(cache.set('keep', 'v2', { ttl: bad })).rejects.toThrow(
        new TypeError(`redis-aside: ttl must be an integer from 1 to ${MAX_TTL}`),
      )
      await expect(cache.set('keep', 'v2', { grace: bad })).rejects.toThrow(
        new TypeError(`redis-aside: grace must be an integer from 0 to ${MAX_TTL}`),
      )
      await expect(cache.getOrLoad('new', () => 'n', { ttl: bad })).rejects.toThrow(
        new TypeError(`redis-aside: ttl must be an integer from 1 to ${MAX_TTL}`),
      )
      await expect(cache.getOrLoadMany(['new'], () => ['n'], { grace: bad })).rejects.toThrow(
        new TypeError(`redis-aside: grace must be an integer from 0 to ${MAX_TTL}`),
      )
    }
    // ctx.setTtl: the loader's call throws the TypeError, which reaches the caller as the LoaderError's cause
    const err = await cache
      .getOrLoad('new', (ctx) => {
        ctx.setTtl(1500.5)
        return 'n'
      })
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(LoaderError)
    expect((err as LoaderError).cause).toEqual(
      new TypeError(`redis-aside: ttl must be an integer from 1 to ${MAX_TTL}`),
    )
    // intact: the old value in L1 and in Redis, nothing stored for 'new', the breaker closed
    expect(await cache.get('keep')).toBe('v1')
    expect(await reader.get('keep')).toBe('v1')
    expect(await redis.exists(`${keyPrefix(cache.namespace)}v:new`)).toBe(0)
    expect(cache.breakerState).toBe('closed')
    expect(await cache.getOrLoad('new', () => 'n', { ttl: 1500 })).toBe('n')
  })

  it('a Redis error reply on a write (OOM) is E_REDIS_REPLY, not E_REDIS_UNAVAILABLE; the breaker stays closed and the L1 does not keep the refused value', async () => {
    const l1 = new MapL1()
    const events: CacheEvent[] = []
    const cache = make({ l1, breaker: { threshold: 2, coolDown: 60_000 }, onEvent: (e) => events.push(e) })
    await cache.set('k', 'v1')
    await t.onEveryNode(['CONFIG', 'SET', 'maxmemory', '1']) // noeviction: every write is refused with OOM
    try {
      for (let i = 0; i < 6; i++) {
        const err = await cache.set('k', `v${i + 2}`).catch((e: unknown) => e)
        expect((err as RedisReplyError).code).toBe('E_REDIS_REPLY')
        expect(err).toBeInstanceOf(RedisReplyError)
        expect(String((err as RedisReplyError).message)).toMatch(/OOM/)
      }
      expect(cache.breakerState).toBe('closed')
      expect(events.filter((e) => e.type === 'breaker')).toEqual([])
      // Redis still holds v1, and so does every read: the refused values are not served from the L1
      expect(await cache.get('k')).toBe('v1')
    } finally {
      await t.onEveryNode(['CONFIG', 'SET', 'maxmemory', '0'])
    }
    // Redis is used normally afterwards (the breaker never opened)
    await cache.set('k', 'v9')
    expect(await make({ namespace: cache.namespace }).get('k')).toBe('v9')
  })
})
