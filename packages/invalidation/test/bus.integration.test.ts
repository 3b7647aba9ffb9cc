import { describe, expect, it } from 'vitest'
import {
  type BusEvent,
  ClosedError,
  createInvalidationBus,
  deleteOnUpdate,
  TierkitTypeError,
} from '../src/index.js'
import { makeCache } from './helpers/cache.js'
import { eventLog } from './helpers/events.js'
import { MemoryStore } from './helpers/memory-store.js'
import { useRedisFixture } from './helpers/redis.js'

const fx = useRedisFixture()
const { closers } = fx
const client = fx.admin // the test's own doings (KEYS, CLIENT KILL, publishing garbage): the admin connection

/** One instance: a redis-aside cache (its L1 a MapL1) and a bus given only the cache (its evictLocal() clears the L1). */
function instance(channel: string, namespace: string) {
  const c = makeCache(fx.url(), namespace)
  closers.push(() => c.redis.quit())
  const log = eventLog<BusEvent>()
  const bus = createInvalidationBus({ redis: c.redis, channel, caches: [c.cache], onEvent: log.onEvent })
  closers.push(() => bus.close())
  return { ...c, bus, events: log.events, next: log.next }
}

describe('createInvalidationBus', () => {
  it('evicts the keys from the other instances L1 and ignores its own messages', async () => {
    const a = instance('ch1', 'ns1')
    const b = instance('ch1', 'ns1')
    await Promise.all([a.bus.ready(), b.bus.ready()])
    await a.cache.set('k', 'old')
    expect(await b.cache.get('k')).toBe('old') // now in B's L1
    // change Redis behind B's back: B keeps serving its L1 copy
    const raw = client()
    const [redisKey] = await raw.keys('*ns1*')
    await raw.del(redisKey!)
    expect(await b.cache.get('k')).toBe('old')

    const arrived = b.next((e) => e.type === 'message')
    const store = new MemoryStore()
    await deleteOnUpdate({ cache: a.cache, store, bus: a.bus }).write('k', 'new')
    const e = await arrived
    expect(e).toEqual({ type: 'message', message: { keys: ['k'], tags: [], from: a.bus.instanceId } })
    expect(await b.cache.get('k')).toBeUndefined()

    // B publishes after A: once A received B's message it had seen (and ignored) its own earlier one
    const back = a.next((ev) => ev.type === 'message')
    await b.bus.publish({ keys: ['other'], tags: ['t'] })
    await back
    expect(a.bus.stats()).toEqual({ published: 1, received: 1, ignoredOwn: 1, reconnects: 0 })
    expect(b.bus.stats()).toMatchObject({ published: 1, received: 1 })
  })

  it('clears L1 (through the cache, given once) and reports it when the subscriber reconnects', async () => {
    const a = instance('ch2', 'ns2')
    await a.bus.ready()
    await a.cache.set('x', 1)
    await a.cache.set('y', 2)
    expect(a.l1.size).toBe(2)
    const reconnected = a.next((e) => e.type === 'reconnect')
    // a real disconnect: the server drops every pub/sub connection
    const killed = await client().call('CLIENT', 'KILL', 'TYPE', 'pubsub')
    expect(killed).toBeGreaterThanOrEqual(1)
    expect(await reconnected).toEqual({ type: 'reconnect', cleared: 1 })
    expect(a.l1.size).toBe(0)
    expect(a.bus.stats().reconnects).toBe(1)
    // still subscribed after the reconnect
    const b = instance('ch2', 'ns2')
    await b.bus.ready()
    await a.cache.set('x', 1)
    const got = a.next((e) => e.type === 'message')
    await b.bus.publish({ keys: ['x'] })
    await got
    expect(a.l1.size).toBe(0)
  })

  it('after a reconnect, a load that was in flight during the disconnect does not fill the L1', async () => {
    const a = instance('ch2b', 'ns2b')
    await a.bus.ready()
    let release!: () => void
    const gate = new Promise<void>((r) => {
      release = r
    })
    // the load read the database before a write whose message the bus may have missed while disconnected
    let started!: () => void
    const loading = new Promise<void>((r) => {
      started = r
    })
    const pending = a.cache.getOrLoad('inflight', async () => {
      started()
      await gate
      return 'maybe-old'
    })
    // the disconnect comes once the loader runs (with node-redis the cache's first reads can still be on their
    // way when CLIENT KILL lands: the load then starts after the reconnect, and may fill the L1)
    await loading
    const reconnected = a.next((e) => e.type === 'reconnect')
    expect(await client().call('CLIENT', 'KILL', 'TYPE', 'pubsub')).toBeGreaterThanOrEqual(1)
    await reconnected
    release()
    expect(await pending).toBe('maybe-old')
    expect(a.l1.size).toBe(0)
    expect(await a.cache.get('inflight')).toBeUndefined()
  })

  it('ignores payloads that are not bus messages and keeps working', async () => {
    const a = instance('ch3', 'ns3')
    const b = instance('ch3', 'ns3')
    await Promise.all([a.bus.ready(), b.bus.ready()])
    const bad = a.next((e) => e.type === 'invalid-message')
    const raw = client()
    await raw.publish('ch3', 'not json')
    await raw.publish('ch3', JSON.stringify({ i: 'x', k: [1, 2] }))
    expect(await bad).toEqual({ type: 'invalid-message', payload: 'not json' })
    const ok = a.next((e) => e.type === 'message')
    await b.bus.publish({ keys: ['fine'] })
    expect(await ok).toMatchObject({ message: { keys: ['fine'] } })
    expect(a.events.filter((e) => e.type === 'invalid-message')).toHaveLength(2)
  })

  it('a message from elsewhere with an empty key still evicts its other keys (an empty key names no entry)', async () => {
    const a = instance('ch3b', 'ns3b')
    await a.bus.ready()
    await a.cache.set('k', 'old')
    const raw = client()
    const [redisKey] = await raw.keys('*ns3b*')
    await raw.del(redisKey!) // A keeps serving its L1 copy until it is told
    expect(await a.cache.get('k')).toBe('old')
    const arrived = a.next((e) => e.type === 'message')
    await raw.publish('ch3b', JSON.stringify({ i: 'elsewhere', k: ['', 'k'] }))
    expect(await arrived).toEqual({ type: 'message', message: { keys: ['k'], tags: [], from: 'elsewhere' } })
    expect(a.events.filter((e) => e.type === 'error')).toEqual([])
    expect(await a.cache.get('k')).toBeUndefined()
  })

  it('refuses bad input with typed errors and publishes nothing', async () => {
    const a = instance('ch4', 'ns4')
    await a.bus.ready()
    for (const m of [{ keys: [''] }, { keys: ['ok', 5] }, { tags: [''] }, {}, { keys: [], tags: [] }, null]) {
      const err = await a.bus.publish(m as never).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(TierkitTypeError)
      expect(err).toBeInstanceOf(TypeError)
      expect((err as TierkitTypeError).code).toBe('E_INVALID_ARGUMENT')
    }
    await expect(a.bus.publish({ keys: ['ok', 5 as never] })).rejects.toThrowError(
      new TierkitTypeError(
        'bus.publish: message.keys[1] must be a non-empty string of at most 65536 characters, got 5',
      ),
    )
    await expect(a.bus.publish({})).rejects.toThrowError(
      new TierkitTypeError(
        'bus.publish: message must be an object with at least one key or tag, got an object',
      ),
    )
    expect(a.bus.stats().published).toBe(0)
    expect(() => createInvalidationBus({ redis: a.redis, channel: '' })).toThrowError(
      new TierkitTypeError(
        'createInvalidationBus: channel must be a non-empty string of at most 65536 characters, got ""',
      ),
    )
    expect(() => createInvalidationBus({ redis: {} as never, channel: 'c' })).toThrowError(
      new TierkitTypeError('createInvalidationBus: redis must be an ioredis Redis or Cluster, got an object'),
    )
    expect(() => createInvalidationBus({ redis: a.redis, channel: 'c', caches: [{} as never] })).toThrowError(
      new TierkitTypeError(
        'createInvalidationBus: caches[0] must be a cache with an evictLocal method, got an object',
      ),
    )
    for (const [name, value] of [
      ['publishTimeout', 0],
      ['heartbeatInterval', 1.5],
    ] as const) {
      expect(() => createInvalidationBus({ redis: a.redis, channel: 'c', [name]: value })).toThrowError(
        new TierkitTypeError(
          `createInvalidationBus: ${name} must be a duration in ms, an integer from 1 to 2147483647, got ${value}`,
        ),
      )
    }
    // the options of 0.1 are refused with what to do instead, never silently ignored
    expect(() =>
      createInvalidationBus({ redis: a.redis, channel: 'c', caches: [a.cache], l1: [a.l1] } as never),
    ).toThrowError(
      new TierkitTypeError(
        'createInvalidationBus: l1 must be left out (removed: list the cache in caches, its evictLocal() clears its L1), got an array',
      ),
    )
    expect(() =>
      createInvalidationBus({ redis: a.redis, channel: 'c', heartbeatMs: 100 } as never),
    ).toThrowError(
      new TierkitTypeError(
        'createInvalidationBus: heartbeatMs must be left out (renamed heartbeatInterval), got 100',
      ),
    )
    expect('subscribe' in a.bus).toBe(false) // events through onEvent only
  })

  it('close() is idempotent; afterwards publish, ready and attach throw ClosedError, stats still answer', async () => {
    const a = instance('ch5', 'ns5')
    await a.bus.ready()
    await a.bus.publish({ keys: ['k'] })
    const first = a.bus.close()
    expect(a.bus.close()).toBe(first)
    await first
    await expect(a.bus.close({ timeout: 10 })).resolves.toBeUndefined()
    const err = await a.bus.publish({ keys: ['k'] }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ClosedError)
    expect(err).toMatchObject({ code: 'E_CLOSED', message: 'the invalidation bus is closed' })
    await expect(a.bus.ready()).rejects.toBeInstanceOf(ClosedError)
    expect(() => a.bus.attach(a.cache)).toThrow(ClosedError)
    expect(a.bus.stats()).toMatchObject({ published: 1 })
    await expect(instance('ch6', 'ns6').bus.close({ timeout: -1 })).rejects.toThrowError(
      new TierkitTypeError(
        'bus.close: options.timeout must be a duration in ms, an integer from 0 to 2147483647, got -1',
      ),
    )
  })
})
