/**
 * The L1-hit path of `tags.getOrLoad` (issue 19, "tag checks without a round trip"): with a cache that has
 * `peekLocal` (redis-aside's) and a subscribed bus, a hit reads the L1 copy synchronously and judges it with
 * the versions this process knows: no `cache.get`, no Redis command, one L1 hit counted. What the map does
 * not vouch for is still judged (a tag invalidated elsewhere, an `expire`), and a frozen copy (an L1 that
 * freezes its values) is served too.
 */
import { createCache } from '@tierkit/redis-aside'
import { type RedisServer, startRedis } from '@tierkit/testkit'
import type { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { AbortedError, createInvalidationBus, createTags, type InvalidationBus } from '../src/index.js'
import { MapL1 } from './helpers/cache.js'
import { redisClient } from './helpers/clients.js'

let server: RedisServer
const closers: Array<() => Promise<unknown>> = []
beforeAll(async () => {
  server = await startRedis()
})
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c().catch(() => {})
})
afterAll(async () => {
  await server.close()
})

/** Freezes `x` and everything it holds. */
function deepFreeze(x: unknown): unknown {
  if (typeof x === 'object' && x !== null && !Object.isFrozen(x)) {
    Object.freeze(x)
    for (const v of Object.values(x)) deepFreeze(v)
  }
  return x
}

/** An L1 that deep-freezes what it is given (as immutable-value caches do): the tag wrapper is frozen too. */
class FreezingL1 extends MapL1 {
  override set(key: string, value: unknown): void {
    super.set(key, deepFreeze(value))
  }
}

interface Counted {
  redis: Redis
  /** Commands this client sent since the last `reset()`. */
  commands: string[]
  /** `cache.get` calls made by the tags object since the last `reset()`. */
  gets: number
  records: string[]
  reset(): void
}

async function instance(
  namespace: string,
  l1: MapL1 = new MapL1(),
): Promise<Counted & { tags: ReturnType<typeof createTags<{ n: number }>>; bus: InvalidationBus }> {
  const redis = redisClient(server.url)
  redis.on('error', () => {})
  const c: Counted = {
    redis,
    commands: [],
    gets: 0,
    records: [],
    reset() {
      this.commands.length = 0
      this.gets = 0
      this.records.length = 0
    },
  }
  // every command this client sends (counted, not changed: the real Redis answers)
  const send = redis.sendCommand.bind(redis)
  redis.sendCommand = ((cmd: { name: string }) => {
    c.commands.push(cmd.name)
    return send(cmd as never)
  }) as typeof redis.sendCommand
  const cache = createCache({
    redis,
    l1,
    namespace,
    ttl: 600_000,
    observer: { record: (layer, outcome) => c.records.push(`${layer}:${outcome}`) },
  })
  const counting = new Proxy(cache, {
    get(target, prop, receiver) {
      if (prop === 'get') c.gets++
      const v = Reflect.get(target, prop, receiver) as unknown
      return typeof v === 'function' ? v.bind(target) : v
    },
  })
  const bus = createInvalidationBus({
    redis: redisClient(server.url),
    channel: `ch:${namespace}`,
    caches: [cache],
  })
  await bus.ready({ timeout: 10_000 })
  const tags = createTags<{ n: number }>({ redis, cache: counting, namespace, bus, versionTtl: 60_000 })
  closers.push(
    () => bus.close(),
    () => cache.close(),
    async () => redis.disconnect(),
  )
  return Object.assign(c, { tags, bus })
}

const TAGS = ['products', 'brand:7', 'category:3']

describe('tags.getOrLoad on an L1 hit', () => {
  it('reads the L1 copy synchronously: no cache.get, no Redis command, one L1 hit counted per call', async () => {
    const a = await instance('hit1')
    let loads = 0
    const loader = () => ({ n: ++loads })
    expect(await a.tags.getOrLoad('p:1', loader, { tags: TAGS })).toEqual({ n: 1 })
    a.reset()
    const got = []
    for (let i = 0; i < 50; i++) got.push(await a.tags.getOrLoad('p:1', loader, { tags: TAGS }))
    expect(got).toHaveLength(50)
    expect(new Set(got).size).toBe(1) // the one object the L1 holds
    expect(got[0]).toEqual({ n: 1 })
    expect(loads).toBe(1)
    expect(a.gets).toBe(0)
    expect(a.commands).toEqual([])
    expect(a.records).toEqual(Array.from({ length: 50 }, () => 'l1:hit'))
  })

  it('a copy the map no longer vouches for is judged: a tag deleted by another instance is never served', async () => {
    const a = await instance('hit2')
    const b = await instance('hit2')
    let loads = 0
    const loader = () => ({ n: ++loads })
    expect(await a.tags.getOrLoad('p:1', loader, { tags: TAGS })).toEqual({ n: 1 })
    // A's copy sits in its L1; B removes the brand, which A hears over the bus (a hit until then is within the
    // staleness bound); from then on A's copy is refused and loaded again
    await b.tags.deleteByTag(['brand:7'])
    await vi.waitFor(async () => expect((await a.tags.getOrLoad('p:1', loader, { tags: TAGS })).n).toBe(2), {
      timeout: 5000,
      interval: 10,
    })
    expect(loads).toBe(2)
    const now = await a.tags.getOrLoad('p:1', loader, { tags: TAGS })
    expect(now.n).toBe(loads) // the newest load, from then on an L1 hit again
    a.reset()
    expect(await a.tags.getOrLoad('p:1', loader, { tags: TAGS })).toBe(now)
    expect(a.commands).toEqual([])
  })

  it('an expired key (expire) is not taken for fresh by the fast path: without grace the next read loads', async () => {
    const a = await instance('hit3')
    let loads = 0
    const loader = () => ({ n: ++loads })
    await a.tags.getOrLoad('p:1', loader, { tags: TAGS })
    expect(await a.tags.expire('p:1')).toBe(true)
    // without grace the stale copy is not served: a load
    expect(await a.tags.getOrLoad('p:1', loader, { tags: TAGS })).toEqual({ n: 2 })
    expect(loads).toBe(2)
  })

  it('an already aborted signal rejects even when the value is in the L1', async () => {
    const a = await instance('hit4')
    await a.tags.getOrLoad('p:1', () => ({ n: 1 }), { tags: TAGS })
    const signal = AbortSignal.abort(new Error('gone'))
    await expect(a.tags.getOrLoad('p:1', () => ({ n: 2 }), { tags: TAGS, signal })).rejects.toBeInstanceOf(
      AbortedError,
    )
  })

  it('a frozen copy (an L1 that freezes its values) is served from the L1 as well', async () => {
    const l1 = new FreezingL1()
    const a = await instance('hit5', l1)
    let loads = 0
    const loader = () => ({ n: ++loads })
    await a.tags.getOrLoad('p:1', loader, { tags: TAGS })
    const held = l1.map.values().next().value as { value: unknown }
    expect(Object.isFrozen(held.value)).toBe(true) // the tag wrapper itself
    a.reset()
    for (let i = 0; i < 5; i++)
      expect(await a.tags.getOrLoad('p:1', loader, { tags: TAGS })).toEqual({ n: 1 })
    expect(loads).toBe(1)
    expect(a.commands).toEqual([])
  })
})
