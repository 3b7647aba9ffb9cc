// Defect 5 of issue 15: every duration and size is validated as a safe integer in a sane range (options and
// per call), with a TierkitTypeError naming it in the family's one message shape, before anything is stored;
// and a Redis error reply is never "Redis unavailable" and never opens the breaker.
import { describeValue } from '@tierkit/contracts'
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
import {
  expectInvalidArgument,
  MapL1,
  ready,
  rejection,
  startTopology,
  TOPOLOGIES,
  type Topology,
  thrown,
  uniqueNs,
} from './helpers.js'

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

  it('createCache refuses non-integer, huge, NaN and negative durations with a TierkitTypeError naming the option', () => {
    const duration = (min: number, max: number) => `a duration in ms, an integer from ${min} to ${max}`
    const cases: Array<[string, (v: number) => Partial<CacheOptions>, string]> = [
      ['ttl', (v) => ({ ttl: v }), duration(1, MAX_TTL)],
      ['grace', (v) => ({ grace: v }), duration(0, MAX_TTL)],
      ['nullTtl', (v) => ({ nullTtl: v }), duration(0, MAX_TTL)],
      ['tombstoneTtl', (v) => ({ tombstoneTtl: v }), duration(1, MAX_TTL)],
      ['timeouts.soft', (v) => ({ timeouts: { soft: v } }), duration(0, MAX_TIMER)],
      ['timeouts.hard', (v) => ({ timeouts: { hard: v } }), duration(0, MAX_TIMER)],
      ['timeouts.redis', (v) => ({ timeouts: { redis: v } }), duration(1, MAX_TIMER)],
      ['lock.lease', (v) => ({ lock: { distributed: true, lease: v } }), duration(3, MAX_TIMER)],
      ['lock.waitTimeout', (v) => ({ lock: { waitTimeout: v } }), duration(1, MAX_TIMER)],
      ['graceRetry', (v) => ({ graceRetry: v }), duration(0, MAX_TIMER)],
      ['breaker.threshold', (v) => ({ breaker: { threshold: v } }), `an integer from 1 to ${MAX_TIMER}`],
      ['breaker.cooldown', (v) => ({ breaker: { cooldown: v } }), duration(1, MAX_TIMER)],
      ['maxValueBytes', (v) => ({ maxValueBytes: v }), 'an integer from 1 to 536870912'],
    ]
    const seen: string[] = []
    for (const [name, opt, rule] of cases) {
      for (const bad of BAD_NUMBERS) {
        const e = thrown(() => createCache({ redis, namespace: 'x', ttl: 1000, ...opt(bad) }))
        expectInvalidArgument(e, `createCache: ${name} must be ${rule}, got ${describeValue(bad)}`)
        seen.push(name)
      }
    }
    expect(new Set(seen).size).toBe(cases.length)
    // one of them spelled out
    expectInvalidArgument(
      thrown(() => createCache({ redis, namespace: 'x', ttl: 1.5 })),
      'createCache: ttl must be a duration in ms, an integer from 1 to 315360000000, got 1.5',
    )
    expectInvalidArgument(
      thrown(() => createCache({ redis, namespace: 'x', ttl: 1, breaker: { cooldown: '10' as never } })),
      'createCache: breaker.cooldown must be a duration in ms, an integer from 1 to 2147483647, got "10"',
    )
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
    expectInvalidArgument(
      thrown(() => createCache({ redis, namespace: 'x', ttl: MAX_TTL + 1 })),
      `createCache: ttl must be a duration in ms, an integer from 1 to ${MAX_TTL}, got ${MAX_TTL + 1}`,
    )
  })

  it('per-call ttl/grace and ctx.setTtl are validated the same way; nothing is stored and the state is intact', async () => {
    const l1 = new MapL1()
    const cache = make({ l1 })
    const reader = make({ namespace: cache.namespace })
    await cache.set('keep', 'v1')
    const ttlRule = `a duration in ms, an integer from 1 to ${MAX_TTL}`
    const graceRule = `a duration in ms, an integer from 0 to ${MAX_TTL}`
    for (const bad of BAD_NUMBERS) {
      const got = describeValue(bad)
      expectInvalidArgument(
        await rejection(cache.set('keep', 'v2', { ttl: bad })),
        `Cache.set: options.ttl must be ${ttlRule}, got ${got}`,
      )
      expectInvalidArgument(
        await rejection(cache.set('keep', 'v2', { grace: bad })),
        `Cache.set: options.grace must be ${graceRule}, got ${got}`,
      )
      expectInvalidArgument(
        await rejection(cache.getOrLoad('new', () => 'n', { ttl: bad })),
        `Cache.getOrLoad: options.ttl must be ${ttlRule}, got ${got}`,
      )
      expectInvalidArgument(
        await rejection(cache.getOrLoadMany(['new'], () => ['n'], { grace: bad })),
        `Cache.getOrLoadMany: options.grace must be ${graceRule}, got ${got}`,
      )
    }
    expectInvalidArgument(
      await rejection(cache.set('keep', 'v2', { ttl: 1500.5 })),
      'Cache.set: options.ttl must be a duration in ms, an integer from 1 to 315360000000, got 1500.5',
    )
    // ctx.setTtl: the loader's call throws the TypeError, which reaches the caller as the LoaderError's cause
    const err = await rejection(
      cache.getOrLoad('new', (ctx) => {
        ctx.setTtl(1500.5)
        return 'n'
      }),
    )
    expect(err).toBeInstanceOf(LoaderError)
    expectInvalidArgument(
      (err as LoaderError).cause,
      'ctx.setTtl: ttl must be a duration in ms, an integer from 1 to 315360000000, got 1500.5',
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
    const cache = make({ l1, breaker: { threshold: 2, cooldown: 60_000 }, onEvent: (e) => events.push(e) })
    await cache.set('k', 'v1')
    await t.onEveryNode(['CONFIG', 'SET', 'maxmemory', '1']) // noeviction: every write is refused with OOM
    try {
      for (let i = 0; i < 6; i++) {
        const err = await rejection(cache.set('k', `v${i + 2}`))
        expect((err as RedisReplyError).code).toBe('E_REDIS_REPLY')
        expect(err).toBeInstanceOf(RedisReplyError)
        expect(err).toMatchObject({ operation: 'set', key: 'k' })
        expect(String((err as RedisReplyError).message)).toMatch(/^redis refused set "k": OOM/)
      }
      const del = await rejection(cache.deleteMany(['k']))
      expect(del).toBeInstanceOf(RedisReplyError)
      expect(String((del as RedisReplyError).message)).toMatch(/^redis refused deleteMany "k": OOM/)
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
