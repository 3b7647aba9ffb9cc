import { createCache, parseRedisKey } from '@tierkit/redis-aside'
import { type RedisServer, startRedis } from '@tierkit/testkit'
import type { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import {
  type BusEvent,
  ClosedError,
  createInvalidationBus,
  createTrackingInvalidator,
  InvalidationError,
  ReadyTimeoutError,
  TierkitTypeError,
  type TrackingEvent,
  writeBehind,
} from '../src/index.js'
import { MapL1 } from './helpers/cache.js'
import { lazyRedisClient, notConnected, redisClient } from './helpers/clients.js'
import { MemoryStore } from './helpers/memory-store.js'

// A client made with `lazyConnect: true` stays in status 'wait' until its first command; its duplicates
// inherit that option. The bus and the tracking invalidator only send commands once their duplicate is
// ready, so before the fix their ready() never resolved. Under node-redis the client not connected yet is a
// `createClient()` whose `connect()` was never called (helpers/clients.ts), passed as it is. Here ready() is bounded by a short timeout, so a
// regression shows as a rejected ready() (E_READY_TIMEOUT), not as a hung test.
const READY_MS = 15_000

let server: RedisServer
let url: string
const closers: Array<() => Promise<unknown>> = []
beforeAll(async () => {
  server = await startRedis()
  url = server.url
})
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => {})
})

/** A client not connected yet (see lazyRedisClient; under node-redis one never connected); `lazyConnect: false`: connected. */
function lazyClient(at = url, extra: { lazyConnect?: boolean } = {}): Redis {
  const r =
    extra.lazyConnect === false
      ? redisClient(at, { maxRetriesPerRequest: 1 })
      : lazyRedisClient(at, { maxRetriesPerRequest: 1 })
  r.on('error', () => {})
  closers.push(async () => r.disconnect())
  return r
}

describe('lazyConnect: true clients', () => {
  it('the bus connects its waiting duplicate: ready() resolves and messages flow', async () => {
    const ra = lazyClient()
    const rb = lazyClient()
    expect(notConnected(ra)).toBe(true)
    const evicted: string[][] = []
    const eventsB: BusEvent[] = []
    const a = createInvalidationBus({ redis: ra, channel: 'lazy-bus' })
    const b = createInvalidationBus({
      redis: rb,
      channel: 'lazy-bus',
      caches: [{ evictLocal: (k) => k !== undefined && evicted.push([k].flat()) }],
      onEvent: (e) => eventsB.push(e),
    })
    closers.push(
      () => a.close(),
      () => b.close(),
    )
    await Promise.all([a.ready({ timeout: READY_MS }), b.ready({ timeout: READY_MS })])
    expect(eventsB[0]).toEqual({ type: 'ready' })
    // publishing goes through the user's own lazy client (it connects on its first command)
    await a.publish({ keys: ['k1', 'k2'], tags: ['t'] })
    await vi.waitFor(() => expect(eventsB.some((e) => e.type === 'message')).toBe(true), {
      timeout: 30_000,
      interval: 5,
    })
    const m = eventsB.find((e) => e.type === 'message')!
    expect(m).toEqual({ type: 'message', message: { keys: ['k1', 'k2'], tags: ['t'], from: a.instanceId } })
    expect(evicted).toEqual([['k1', 'k2']])
    expect(b.stats().received).toBe(1)
  })

  it('write-behind (producer, in-process flusher and bus) works on a lazy client', async () => {
    const redis = lazyClient()
    const other = lazyClient()
    const l1 = new MapL1()
    const cache = createCache({ redis, l1, namespace: 'lazywb', ttl: 60_000 })
    closers.push(() => cache.close())
    const bus = createInvalidationBus({ redis, channel: 'lazy-wb' })
    const heard: BusEvent[] = []
    const peer = createInvalidationBus({ redis: other, channel: 'lazy-wb', onEvent: (e) => heard.push(e) })
    closers.push(
      () => bus.close(),
      () => peer.close(),
    )
    await Promise.all([bus.ready({ timeout: READY_MS }), peer.ready({ timeout: READY_MS })])
    const store = new MemoryStore<{ n: number }>()
    const wb = writeBehind<{ n: number }>({
      redis,
      name: 'lazywb',
      cache,
      bus,
      flusher: { store, pollInterval: 50 },
    })
    closers.push(() => wb.close({ timeout: 5_000 }))
    for (let i = 0; i < 5; i++) await wb.write(`k${i}`, { n: i })
    await wb.flush({ timeout: READY_MS })
    for (let i = 0; i < 5; i++) expect(store.value(`k${i}`)).toEqual({ n: i })
    expect(await cache.get('k3')).toEqual({ n: 3 })
    await vi.waitFor(
      () => expect(heard.some((e) => e.type === 'message' && e.message.keys.includes('k4'))).toBe(true),
      { timeout: 30_000, interval: 5 },
    )
    await wb.close({ timeout: READY_MS })
    expect(wb.flusher?.stats().saved).toBeGreaterThanOrEqual(5)
  })

  it('the client-side-caching channel connects its waiting duplicate and evicts on outside writes', async () => {
    const redis = lazyClient()
    const l1 = new MapL1()
    const cache = createCache({ redis, l1, namespace: 'lazytrk', ttl: 60_000 })
    closers.push(() => cache.close())
    const events: TrackingEvent[] = []
    const tracking = createTrackingInvalidator({
      redis,
      prefixes: ['ra:7:lazytrk:v:'],
      toKey: (k) => parseRedisKey(k)?.key,
      caches: [cache],
      onEvent: (e) => events.push(e),
    })
    closers.push(() => tracking.close())
    await tracking.ready({ timeout: READY_MS })
    await cache.set('user:1', 'v1')
    expect(await cache.get('user:1')).toBe('v1')
    expect(l1.size).toBe(1) // NOLOOP: its own write did not evict it
    const outsider = redisClient(url)
    closers.push(async () => outsider.disconnect())
    await outsider.del('ra:7:lazytrk:v:user:1')
    await vi.waitFor(() => expect(events.some((ev) => ev.type === 'invalidate')).toBe(true), {
      timeout: 30_000,
      interval: 5,
    })
    const e = events.find((ev) => ev.type === 'invalidate')!
    expect(e).toEqual({ type: 'invalidate', keys: ['user:1'] })
    expect(await cache.get('user:1')).toBeUndefined()
  })
})

describe('ready() is bounded', () => {
  it('rejects with ReadyTimeoutError (E_READY_TIMEOUT) when Redis is unreachable, and resolves once it is back', async () => {
    const down = await startRedis()
    await down.stop()
    for (const lazy of [true, false]) {
      const redis = lazyClient(down.url, { lazyConnect: lazy })
      const events: BusEvent[] = []
      const bus = createInvalidationBus({
        redis,
        channel: 'down',
        readyTimeout: 300,
        onEvent: (e) => events.push(e),
      })
      closers.push(() => bus.close())
      const err = await bus.ready().catch((e: unknown) => e)
      expect(err).toBeInstanceOf(ReadyTimeoutError)
      expect(err).toBeInstanceOf(InvalidationError)
      expect(err).toMatchObject({
        code: 'E_READY_TIMEOUT',
        name: 'ReadyTimeoutError',
        timeout: 300,
        what: 'the invalidation bus',
      })
      // the cause is the connection error the subscriber saw (it did try to connect), and the message says it
      expect(String((err as Error).cause)).toMatch(/ECONNREFUSED/)
      expect((err as Error).message).toBe(
        `bus.ready: the invalidation bus was not ready within 300 ms (last connection error: ${((err as Error).cause as Error).message}); it keeps retrying, a later ready() may resolve`,
      )
      expect(events.some((e) => e.type === 'error')).toBe(true)
      // a per-call bound overrides the option
      await expect(bus.ready({ timeout: 50 })).rejects.toMatchObject({ code: 'E_READY_TIMEOUT', timeout: 50 })
      // state intact: publishing still fails with its own typed error, not a hang or a crash
      await expect(bus.publish({ keys: ['k'] })).rejects.toMatchObject({ code: 'E_PUBLISH_FAILED' })
      expect(bus.stats()).toEqual({ published: 0, received: 0, ignoredOwn: 0, reconnects: 0 })
      if (!lazy) {
        // the bus kept retrying: once Redis is back a later ready() resolves
        await down.restart()
        await bus.ready({ timeout: READY_MS })
        expect(events.filter((e) => e.type === 'ready')).toHaveLength(1)
        await down.stop()
      }
      // a ready() waiting when the bus is closed rejects with ClosedError, as does every later one, at once
      const waiting = bus.ready({ timeout: READY_MS }).catch((e: unknown) => e)
      await bus.close()
      if (!lazy)
        expect(await waiting).toBeUndefined() // it was subscribed already: resolved
      else expect(await waiting).toBeInstanceOf(ClosedError)
      await expect(bus.ready({ timeout: 50 })).rejects.toMatchObject({
        code: 'E_CLOSED',
        message: 'the invalidation bus is closed',
      })
    }

    const redis = lazyClient(down.url)
    const tracking = createTrackingInvalidator({
      redis,
      prefixes: ['p:'],
      toKey: (k) => k,
      caches: [],
      readyTimeout: 250,
    })
    closers.push(() => tracking.close())
    await expect(tracking.ready()).rejects.toMatchObject({
      name: 'ReadyTimeoutError',
      code: 'E_READY_TIMEOUT',
      timeout: 250,
      what: 'the tracking invalidator',
    })
    const closing = tracking.close()
    expect(tracking.close()).toBe(closing) // idempotent
    await closing
    await expect(tracking.ready()).rejects.toBeInstanceOf(ClosedError)
  })

  it('refuses a bad readyTimeout with an exact message', () => {
    const redis = lazyClient()
    for (const [bad, shown] of [
      [-1, '-1'],
      [1.5, '1.5'],
      [Number.NaN, 'NaN'],
      [Number.POSITIVE_INFINITY, 'Infinity'],
      ['100', '"100"'],
    ] as const) {
      expect(() => createInvalidationBus({ redis, channel: 'c', readyTimeout: bad as number })).toThrowError(
        new TierkitTypeError(
          `createInvalidationBus: readyTimeout must be a duration in ms, an integer from 0 to 2147483647, got ${shown}`,
        ),
      )
      expect(() =>
        createTrackingInvalidator({
          redis,
          prefixes: ['p:'],
          toKey: (k) => k,
          caches: [],
          readyTimeout: bad as number,
        }),
      ).toThrowError(
        new TierkitTypeError(
          `createTrackingInvalidator: readyTimeout must be a duration in ms, an integer from 0 to 2147483647, got ${shown}`,
        ),
      )
    }
    expect(() => createInvalidationBus({ redis, channel: 'c', readyTimeoutMs: 5 } as never)).toThrowError(
      new TierkitTypeError(
        'createInvalidationBus: readyTimeoutMs must be left out (renamed readyTimeout), got 5',
      ),
    )
    expect(notConnected(redis)).toBe(true) // nothing was created or connected
  })

  it('refuses a bad per-call timeout without touching the bus', async () => {
    const redis = lazyClient()
    const bus = createInvalidationBus({ redis, channel: 'bad-call' })
    closers.push(() => bus.close())
    await expect(bus.ready({ timeout: -5 })).rejects.toThrowError(
      new TierkitTypeError(
        'bus.ready: options.timeout must be a duration in ms, an integer from 0 to 2147483647, got -5',
      ),
    )
    await expect(bus.ready(100 as never)).rejects.toThrowError(
      new TierkitTypeError('bus.ready: options must be an object, got 100'),
    )
    await bus.ready({ timeout: READY_MS })
  })
})
