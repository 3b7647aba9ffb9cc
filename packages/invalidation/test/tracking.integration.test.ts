import { createCache, parseRedisKey } from '@tierkit/redis-aside'
import { startRedis } from '@tierkit/testkit'
import type { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createTrackingInvalidator,
  TierkitTypeError,
  type TrackingEvent,
  type TrackingInvalidator,
} from '../src/index.js'
import { MapL1 } from './helpers/cache.js'
import { adminClient, redisClient } from './helpers/clients.js'

let url: string
const closers: Array<() => Promise<unknown>> = []
beforeAll(async () => {
  url = (await startRedis()).url
})
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => {})
})

function client(): Redis {
  const r = redisClient(url)
  closers.push(() => r.quit())
  return r
}

/** A client that does not use tierkit (think redis-cli): the admin connection in the secure run. */
function outsiderClient(): Redis {
  const r = adminClient(url)
  closers.push(() => r.quit())
  return r
}

function next(events: TrackingEvent[], pred: (e: TrackingEvent) => boolean): Promise<TrackingEvent> {
  return new Promise((resolve) => {
    const t = setInterval(() => {
      const e = events.find(pred)
      if (e) {
        clearInterval(t)
        resolve(e)
      }
    }, 5)
  })
}

/** `p`, or a rejection after `ms` (a bounded wait: it only turns a hang into a failure). */
function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  return Promise.race([
    p,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms),
    ),
  ])
}

function instance(namespace: string, track: boolean) {
  const redis = client()
  const l1 = new MapL1()
  const cache = createCache({ redis, l1, namespace, ttl: 60_000 })
  closers.push(() => cache.close())
  const events: TrackingEvent[] = []
  let tracking: TrackingInvalidator | undefined
  if (track) {
    tracking = createTrackingInvalidator({
      redis,
      prefixes: [`ra:${namespace.length}:${namespace}:v:`],
      toKey: (k) => parseRedisKey(k)?.key,
      caches: [cache],
      onEvent: (e) => events.push(e),
    })
    closers.push(() => tracking!.close())
  }
  return { redis, l1, cache, tracking, events }
}

describe('createTrackingInvalidator (Redis client-side caching, BCAST + REDIRECT)', () => {
  it('evicts L1 when a client that does not use tierkit changes the key', async () => {
    const tracked = instance('trk', true)
    const plain = instance('trk', false)
    await tracked.tracking!.ready()
    await tracked.cache.set('user:1', 'v1')
    await tracked.cache.set('user:2', 'v2')
    expect(await tracked.cache.get('user:1')).toBe('v1')
    expect(await plain.cache.get('user:1')).toBe('v1')
    tracked.events.length = 0
    // an unrelated client (think redis-cli or another service) deletes the key in Redis
    const outsider = outsiderClient()
    const [redisKey] = (await outsider.keys('ra:3:trk:v:user:1'))!
    expect(redisKey).toBeDefined()
    await outsider.del(redisKey!)
    const e = await next(tracked.events, (ev) => ev.type === 'invalidate' && ev.keys.includes('user:1'))
    expect(e).toEqual({ type: 'invalidate', keys: ['user:1'] })
    expect(await tracked.cache.get('user:1')).toBeUndefined()
    // without tracking, the L1 copy is still served
    expect(await plain.cache.get('user:1')).toBe('v1')
    expect(await tracked.cache.get('user:2')).toBe('v2')
  })

  it('picks up a new value written by another client, and ignores keys outside its prefixes', async () => {
    const tracked = instance('trk2', true)
    await tracked.tracking!.ready()
    await tracked.cache.set('a', 'old')
    await tracked.cache.set('b', 'new')
    tracked.events.length = 0
    const outsider = outsiderClient()
    await outsider.set('unrelated', 'x')
    await outsider.copy('ra:4:trk2:v:b', 'ra:4:trk2:v:a', 'REPLACE')
    await next(tracked.events, (ev) => ev.type === 'invalidate' && ev.keys.includes('a'))
    expect(await tracked.cache.get('a')).toBe('new')
    expect(tracked.events.every((ev) => ev.type !== 'invalidate' || !ev.keys.includes('unrelated'))).toBe(
      true,
    )
  })

  it('clears L1 on FLUSHALL and when its connection comes back', async () => {
    const tracked = instance('trk3', true)
    await tracked.tracking!.ready()
    await tracked.cache.set('x', 1)
    expect(tracked.l1.size).toBe(1) // NOLOOP: our own write did not evict our fresh copy
    const outsider = outsiderClient()
    await outsider.flushall()
    await next(tracked.events, (ev) => ev.type === 'cleared' && ev.reason === 'flush')
    expect(tracked.l1.size).toBe(0)
    await tracked.cache.set('y', 2)
    expect(tracked.l1.size).toBe(1)
    expect(await outsider.call('CLIENT', 'KILL', 'TYPE', 'pubsub')).toBeGreaterThanOrEqual(1)
    await next(tracked.events, (ev) => ev.type === 'cleared' && ev.reason === 'reconnect')
    expect(tracked.l1.size).toBe(0)
    // tracking is on again after the reconnect
    await tracked.cache.set('z', 3)
    tracked.events.length = 0
    await outsider.del('ra:4:trk3:v:z')
    await next(tracked.events, (ev) => ev.type === 'invalidate' && ev.keys.includes('z'))
    expect(tracked.tracking!.stats().clears).toBe(2)
    // the data client reconnects (its tracking state is lost with the connection): on again, L1 cleared
    await tracked.cache.set('w', 4)
    tracked.events.length = 0
    const back = new Promise((r) => tracked.redis.once('ready', r))
    await outsider.call('CLIENT', 'KILL', 'ID', String(await tracked.redis.call('CLIENT', 'ID')))
    await back
    await next(tracked.events, (ev) => ev.type === 'cleared' && ev.reason === 'reconnect')
    expect(tracked.l1.size).toBe(0)
    await tracked.cache.set('w', 5)
    expect(tracked.l1.size).toBe(1)
    await outsider.del('ra:4:trk3:v:w')
    await next(tracked.events, (ev) => ev.type === 'invalidate' && ev.keys.includes('w'))
    expect(tracked.l1.size).toBe(0)
  })

  it('without noloop, tracking runs on its own connection and reports own writes too', async () => {
    const redis = client()
    const l1 = new MapL1()
    const cache = createCache({ redis, l1, namespace: 'trk4', ttl: 60_000 })
    closers.push(() => cache.close())
    const events: TrackingEvent[] = []
    const tracking = createTrackingInvalidator({
      redis,
      noloop: false,
      prefixes: ['ra:4:trk4:v:'],
      toKey: (k) => parseRedisKey(k)?.key,
      caches: [cache],
      onEvent: (e) => events.push(e),
    })
    closers.push(() => tracking.close())
    await tracking.ready()
    await cache.set('own', 1)
    await next(events, (ev) => ev.type === 'invalidate' && ev.keys.includes('own'))
    expect(l1.size).toBe(0)
  })

  it('notices tracking turned off or redirected to another client (a reused id after a restart), turns it on again and clears L1 (issue 15, defect 9)', async () => {
    const tracked = instance('trk5', true)
    await tracked.tracking!.ready()
    const outsider = outsiderClient()
    for (const redirect of ['off', 'elsewhere'] as const) {
      await tracked.cache.set('a', 1)
      expect(tracked.l1.size).toBe(1)
      tracked.events.length = 0
      await tracked.redis.call('CLIENT', 'TRACKING', 'off')
      if (redirect === 'elsewhere') {
        const other = (await outsider.call('CLIENT', 'ID')) as number
        await tracked.redis.call(
          ...([
            'CLIENT',
            'TRACKING',
            'on',
            'REDIRECT',
            other,
            'BCAST',
            'NOLOOP',
            'PREFIX',
            'ra:4:trk5:v:',
          ] as [string, ...Array<string | number>]),
        )
      }
      // a change nobody reports to the invalidator now
      await outsider.del('ra:4:trk5:v:a')
      await within(
        20_000,
        `tracking ${redirect}: L1 cleared`,
        next(tracked.events, (ev) => ev.type === 'cleared' && ev.reason === 'reconnect'),
      )
      expect(tracked.l1.size).toBe(0)
      // reported again
      await tracked.cache.set('b', 2)
      tracked.events.length = 0
      await outsider.del('ra:4:trk5:v:b')
      await within(
        20_000,
        `tracking ${redirect}: invalidation of b`,
        next(tracked.events, (ev) => ev.type === 'invalidate' && ev.keys.includes('b')),
      )
    }
  })

  it('refuses bad options with exact messages', () => {
    const redis = client()
    expect(() =>
      createTrackingInvalidator({ redis, prefixes: [], toKey: (k) => k, caches: [] }),
    ).toThrowError(
      new TierkitTypeError(
        'createTrackingInvalidator: prefixes must be a non-empty array of non-empty strings, got an array',
      ),
    )
    expect(() =>
      createTrackingInvalidator({ redis, prefixes: ['p'], toKey: 1 as never, caches: [] }),
    ).toThrowError(new TierkitTypeError('createTrackingInvalidator: toKey must be a function, got 1'))
    expect(() =>
      createTrackingInvalidator({ redis, prefixes: ['p'], toKey: (k) => k, caches: [{} as never] }),
    ).toThrowError(
      new TierkitTypeError(
        'createTrackingInvalidator: caches[0] must be a cache with an evictLocal method, got an object',
      ),
    )
    for (const verifyInterval of [0, -5, 1.5, Number.NaN]) {
      expect(() =>
        createTrackingInvalidator({ redis, prefixes: ['p'], toKey: (k) => k, caches: [], verifyInterval }),
      ).toThrowError(
        new TierkitTypeError(
          `createTrackingInvalidator: verifyInterval must be a duration in ms, an integer from 1 to 2147483647, got ${verifyInterval}`,
        ),
      )
    }
    for (const [old, value, instead] of [
      ['verifyMs', 100, 'renamed verifyInterval'],
      ['l1', [], 'removed: list the cache in caches, its evictLocal() clears its L1'],
    ] as const) {
      expect(() =>
        createTrackingInvalidator({
          redis,
          prefixes: ['p'],
          toKey: (k: string) => k,
          caches: [],
          [old]: value,
        } as never),
      ).toThrowError(
        new TierkitTypeError(
          `createTrackingInvalidator: ${old} must be left out (${instead}), got ${typeof value === 'number' ? value : 'an array'}`,
        ),
      )
    }
  })
})
