import { describe, expect, it } from 'vitest'
import {
  type BusEvent,
  ClosedError,
  createInvalidationBus,
  deleteOnUpdate,
  InvalidArgumentError,
  type InvalidationBus,
} from '../src/index.js'
import { makeCache } from './helpers/cache.js'
import { MemoryStore } from './helpers/memory-store.js'
import { useRedisFixture } from './helpers/redis.js'

const fx = useRedisFixture()
const { closers } = fx
const client = fx.client

/** Resolves with the first event matching `pred`. */
function next(bus: InvalidationBus, pred: (e: BusEvent) => boolean): Promise<BusEvent> {
  return new Promise((resolve) => {
    const off = bus.subscribe((e) => {
      if (pred(e)) {
        off()
        resolve(e)
      }
    })
  })
}

function instance(channel: string, namespace: string) {
  const c = makeCache(fx.url(), namespace)
  closers.push(() => c.redis.quit())
  const events: BusEvent[] = []
  const bus = createInvalidationBus({
    redis: c.redis,
    channel,
    caches: [c.cache],
    l1: [c.l1],
    onEvent: (e) => events.push(e),
  })
  closers.push(() => bus.close())
  return { ...c, bus, events }
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

    const arrived = next(b.bus, (e) => e.type === 'message')
    const store = new MemoryStore()
    await deleteOnUpdate({ cache: a.cache, store, bus: a.bus }).write('k', 'new')
    const e = await arrived
    expect(e).toEqual({ type: 'message', message: { keys: ['k'], tags: [], from: a.bus.instanceId } })
    expect(await b.cache.get('k')).toBeUndefined()

    // B publishes after A: once A received B's message it had seen (and ignored) its own earlier one
    const back = next(a.bus, (ev) => ev.type === 'message')
    await b.bus.publish({ keys: ['other'], tags: ['t'] })
    await back
    expect(a.bus.stats()).toEqual({ published: 1, received: 1, ignoredOwn: 1, reconnects: 0 })
    expect(b.bus.stats()).toMatchObject({ published: 1, received: 1 })
  })

  it('clears L1 and reports it when the subscriber reconnects', async () => {
    const a = instance('ch2', 'ns2')
    await a.bus.ready()
    await a.cache.set('x', 1)
    await a.cache.set('y', 2)
    expect(a.l1.size).toBe(2)
    const reconnected = next(a.bus, (e) => e.type === 'reconnect')
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
    const got = next(a.bus, (e) => e.type === 'message')
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
    const pending = a.cache.getOrLoad('inflight', async () => {
      await gate
      return 'maybe-old'
    })
    const reconnected = next(a.bus, (e) => e.type === 'reconnect')
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
    const bad = next(a.bus, (e) => e.type === 'invalid-message')
    const raw = client()
    await raw.publish('ch3', 'not json')
    await raw.publish('ch3', JSON.stringify({ i: 'x', k: [1, 2] }))
    expect(await bad).toEqual({ type: 'invalid-message', payload: 'not json' })
    const ok = next(a.bus, (e) => e.type === 'message')
    await b.bus.publish({ keys: ['fine'] })
    expect(await ok).toMatchObject({ message: { keys: ['fine'] } })
    expect(a.events.filter((e) => e.type === 'invalid-message')).toHaveLength(2)
  })

  it('refuses bad input with typed errors and publishes nothing', async () => {
    const a = instance('ch4', 'ns4')
    await a.bus.ready()
    for (const m of [{ keys: [''] }, { keys: ['ok', 5] }, { tags: [''] }, {}, { keys: [], tags: [] }, null]) {
      const err = await a.bus.publish(m as never).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(InvalidArgumentError)
      expect((err as InvalidArgumentError).code).toBe('E_INVALID_ARGUMENT')
    }
    expect(a.bus.stats().published).toBe(0)
    expect(() => createInvalidationBus({ redis: a.redis, channel: '' })).toThrow(
      'createInvalidationBus: channel must be a non-empty string',
    )
    expect(() => createInvalidationBus({ redis: {} as never, channel: 'c' })).toThrow(
      'createInvalidationBus: redis must be an ioredis Redis or Cluster',
    )
    expect(() => createInvalidationBus({ redis: a.redis, channel: 'c', caches: [{} as never] })).toThrow(
      'createInvalidationBus: every cache must have an evictLocal method',
    )
    await a.bus.close()
    await expect(a.bus.publish({ keys: ['k'] })).rejects.toBeInstanceOf(ClosedError)
  })
})
