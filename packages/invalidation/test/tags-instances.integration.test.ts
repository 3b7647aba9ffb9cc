/**
 * Tags across three instances (issue 19): each with its own clients, L1, redis-aside cache, bus and tags
 * object, against one real Redis. Hard (`deleteByTag`, `delete`) and soft (`expireByTag`, `expire`)
 * invalidation; the versions an L1 hit is checked against come from the bus, not from a round trip; a
 * Redis fault (the server stopped) keeps the soft refresh at most one per instance.
 */

import { setTimeout as sleep } from 'node:timers/promises'
import { createCache } from '@tierkit/redis-aside'
import { type RedisServer, startRedis } from '@tierkit/testkit'
import type { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  type BusEvent,
  createInvalidationBus,
  createTags,
  type InvalidationBus,
  MAX_TAG_LENGTH,
  type Tags,
  TierkitTypeError,
} from '../src/index.js'
import { MapL1 } from './helpers/cache.js'
import { redisClient } from './helpers/clients.js'

interface Instance {
  name: string
  redis: Redis
  l1: MapL1
  bus: InvalidationBus
  tags: Tags<string>
  /** Resolves once this instance's bus applied a message naming `tag` (or `key`). */
  heard(what: { tag?: string; key?: string }): Promise<void>
  close(): Promise<void>
}

let server: RedisServer
let instances: Instance[] = []
beforeAll(async () => {
  server = await startRedis()
})
afterAll(async () => {
  await server.close()
})
afterEach(async () => {
  await Promise.all(instances.map((i) => i.close()))
  instances = []
})

function makeInstance(name: string, namespace: string, channel: string): Instance {
  const redis = redisClient(server.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 })
  redis.on('error', () => {})
  const l1 = new MapL1()
  const cache = createCache({ redis, l1, namespace, ttl: 600_000, breaker: { threshold: 1000 } })
  const waiters: Array<{ match: (e: BusEvent) => boolean; done: () => void }> = []
  const onEvent = (e: BusEvent): void => {
    for (const w of [...waiters]) {
      if (w.match(e)) {
        waiters.splice(waiters.indexOf(w), 1)
        w.done()
      }
    }
  }
  const bus = createInvalidationBus({ redis, channel, caches: [cache], onEvent, heartbeatInterval: 200 })
  const tags = createTags<string>({ redis, cache, namespace, bus, versionTtl: 60_000, timeout: 300 })
  return {
    name,
    redis,
    l1,
    bus,
    tags,
    heard: (what) =>
      new Promise<void>((done) => {
        waiters.push({
          match: (e) =>
            e.type === 'message' &&
            ((what.tag !== undefined && e.message.tags.includes(what.tag)) ||
              (what.key !== undefined && e.message.keys.includes(what.key))),
          done,
        })
      }),
    async close() {
      await bus.close()
      await cache.close()
      redis.disconnect()
    },
  }
}

async function three(namespace: string): Promise<Instance[]> {
  instances = ['a', 'b', 'c'].map((n) => makeInstance(n, namespace, `ch:${namespace}`))
  await Promise.all(instances.map((i) => i.bus.ready({ timeout: 10_000 })))
  return instances
}

/** The server's count of calls of one command (INFO commandstats), through a fresh connection. */
async function calls(command: string): Promise<number> {
  const r = redisClient(server.url)
  try {
    const info = await r.info('commandstats')
    const m = new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info)
    return m === null ? 0 : Number(m[1])
  } finally {
    r.disconnect()
  }
}

/** Reads `key` on every instance until each serves `expected` (bounded: the bound only turns a hang into a failure). */
async function untilAll(
  list: Instance[],
  read: (i: Instance) => Promise<string | undefined>,
  expected: string,
) {
  let seen: Array<string | undefined> = []
  for (let attempt = 0; attempt < 200; attempt++) {
    seen = await Promise.all(list.map(read))
    if (seen.every((v) => v === expected)) break
    await sleep(25)
  }
  return seen
}

describe('tags across three instances', () => {
  it('an L1 hit is checked against the versions the bus brought: no Redis read of the versions', async () => {
    const [a, b, c] = await three('t3-l1')
    await a!.tags.set('p:1', 'v1', { tags: ['products', 'brand:7', 'sale'] })
    const loader = async () => 'never'
    for (const i of [b!, c!])
      expect(await i.tags.getOrLoad('p:1', loader, { tags: ['products', 'brand:7', 'sale'] })).toBe('v1')
    const mget0 = await calls('mget')
    const get0 = await calls('get')
    for (let n = 0; n < 50; n++) {
      for (const i of [a!, b!, c!])
        expect(await i.tags.getOrLoad('p:1', loader, { tags: ['products', 'brand:7', 'sale'] })).toBe('v1')
    }
    // 150 L1 hits, not one round trip for the versions (nor for the value)
    expect(await calls('mget')).toBe(mget0)
    expect(await calls('get')).toBe(get0)
  })

  it('hard: deleteByTag is seen by all three (the bus brings the new versions); a read loads', async () => {
    const [a, b, c] = await three('t3-hard')
    let loads = 0
    const loader = async () => `v${++loads}`
    const opts = { tags: ['products', 'brand:7'] }
    for (const i of [a!, b!, c!]) expect(await i.tags.getOrLoad('p:1', loader, opts)).toBe('v1')
    expect([a!, b!, c!].map((i) => i.l1.size)).toEqual([1, 1, 1])
    const heard = [b!.heard({ tag: 'brand:7' }), c!.heard({ tag: 'brand:7' })]
    await a!.tags.deleteByTag(['brand:7'])
    expect(await a!.tags.get('p:1')).toBeUndefined() // the invalidating instance: at once
    await Promise.all(heard)
    expect(await b!.tags.get('p:1')).toBeUndefined()
    expect(await c!.tags.get('p:1')).toBeUndefined()
    expect(await c!.tags.getOrLoad('p:1', loader, opts)).toBe('v2')
    expect(await b!.tags.getOrLoad('p:1', loader, opts)).toBe('v2')
    expect(loads).toBe(2)
    // per key: delete(key) is gone in every instance
    const heardKey = [a!.heard({ key: 'p:1' }), b!.heard({ key: 'p:1' })]
    await c!.tags.delete('p:1')
    await Promise.all(heardKey)
    for (const i of [a!, b!, c!]) expect(await i.tags.get('p:1')).toBeUndefined()
  })

  it('soft: expireByTag serves the old value within grace and refreshes it exactly once across the three', async () => {
    const [a, b, c] = await three('t3-soft')
    let loads = 0
    let current = 'old'
    const loader = async () => {
      loads++
      await sleep(50)
      return current
    }
    const opts = { tags: ['products', 'brand:7'], grace: 60_000 }
    for (const i of [a!, b!, c!]) expect(await i.tags.getOrLoad('p:1', loader, opts)).toBe('old')
    expect(loads).toBe(1)
    current = 'new'
    const heard = [b!.heard({ tag: 'brand:7' }), c!.heard({ tag: 'brand:7' })]
    await a!.tags.expireByTag(['brand:7'])
    await Promise.all(heard)
    // the next reads, five in each instance at once: the old value, at once
    const first = await Promise.all(
      [a!, b!, c!].flatMap((i) => [1, 2, 3, 4, 5].map(() => i.tags.getOrLoad('p:1', loader, opts))),
    )
    expect(first).toEqual(Array(15).fill('old'))
    const seen = await untilAll([a!, b!, c!], (i) => i.tags.getOrLoad('p:1', loader, opts), 'new')
    expect(seen).toEqual(['new', 'new', 'new'])
    expect(loads).toBe(2) // one refresh across the three instances
    // a read without grace does not serve a stale value: it loads
    current = 'newest'
    const heard2 = [a!.heard({ tag: 'products' }), c!.heard({ tag: 'products' })]
    await b!.tags.expireByTag(['products'])
    await Promise.all(heard2)
    expect(await c!.tags.getOrLoad('p:1', loader, { tags: opts.tags, grace: 0 })).toBe('newest')
    expect(await a!.tags.get('p:1')).toBeUndefined() // stale, and get has no grace by default
  })

  it('soft, per key: expire(key) serves the old value within grace and refreshes it once', async () => {
    const [a, b, c] = await three('t3-expire')
    let loads = 0
    let current = 'old'
    const loader = async () => {
      loads++
      return current
    }
    const opts = { tags: ['products'], grace: 60_000 }
    for (const i of [a!, b!, c!]) expect(await i.tags.getOrLoad('p:9', loader, opts)).toBe('old')
    current = 'new'
    const heard = [b!.heard({ key: 'p:9' }), c!.heard({ key: 'p:9' })]
    expect(await a!.tags.expire('p:9')).toBe(true)
    expect(await a!.tags.expire('absent')).toBe(false)
    await Promise.all(heard)
    const first = await Promise.all([a!, b!, c!].map((i) => i.tags.getOrLoad('p:9', loader, opts)))
    expect(first).toEqual(['old', 'old', 'old'])
    const seen = await untilAll([a!, b!, c!], (i) => i.tags.getOrLoad('p:9', loader, opts), 'new')
    expect(seen).toEqual(['new', 'new', 'new'])
    expect(loads).toBe(2)
  })

  it('soft under a Redis fault (server stopped): the old value within grace, at most one refresh per instance', async () => {
    const [a, b, c] = await three('t3-fault')
    const loads = new Map<string, number>()
    const loaderOf = (i: Instance) => async () => {
      loads.set(i.name, (loads.get(i.name) ?? 0) + 1)
      return 'new'
    }
    const opts = { tags: ['products', 'brand:7'], grace: 60_000 }
    for (const i of [a!, b!, c!]) expect(await i.tags.getOrLoad('p:1', async () => 'old', opts)).toBe('old')
    const heard = [b!.heard({ tag: 'brand:7' }), c!.heard({ tag: 'brand:7' })]
    await a!.tags.expireByTag(['brand:7'])
    await Promise.all(heard)
    await server.stop()
    try {
      for (let round = 0; round < 4; round++) {
        const got = await Promise.all(
          [a!, b!, c!].flatMap((i) => [1, 2, 3].map(() => i.tags.getOrLoad('p:1', loaderOf(i), opts))),
        )
        expect(got).toEqual(Array(9).fill('old')) // L1 copies, stale within grace
        await sleep(100)
      }
      // Redis cannot hand out the claim: each instance refreshes, once (its own claim), whatever its reads
      expect(Object.fromEntries(loads)).toEqual({ a: 1, b: 1, c: 1 })
    } finally {
      await server.restart()
    }
  })

  it('a refresh whose loader throws is reported and given back: a later read refreshes again', async () => {
    const [a, b] = await three('t3-refresh-fails')
    const events: unknown[] = []
    const redis = redisClient(server.url)
    const tags = createTags<string>({
      redis,
      cache: createCache({ redis, l1: new MapL1(), namespace: 't3-refresh-fails', ttl: 600_000 }),
      namespace: 't3-refresh-fails',
      bus: a!.bus,
      grace: 60_000,
      onEvent: (e) => events.push(e),
    })
    try {
      let loads = 0
      const loader = async () => {
        loads++
        if (loads === 2) throw new Error('the database is away')
        return `v${loads}`
      }
      const opts = { tags: ['t'] }
      expect(await tags.getOrLoad('k', loader, opts)).toBe('v1')
      const heard = b!.heard({ tag: 't' })
      await tags.expireByTag(['t'])
      await heard
      expect(await tags.getOrLoad('k', loader, opts)).toBe('v1') // stale within grace; its refresh fails
      for (let i = 0; i < 100 && events.length === 0; i++) await sleep(20)
      expect(events).toMatchObject([{ type: 'error', operation: 'refresh', key: 'k' }])
      const seen = await untilAll([b!], () => tags.getOrLoad('k', loader, opts), 'v3')
      expect(seen).toEqual(['v3'])
      expect(loads).toBe(3)
      // a detached listener hears nothing more
      const heardBy: string[][] = []
      const detach = a!.bus.attachTags({ tagVersions: (t) => heardBy.push([...t]), subscription: () => {} })
      detach()
      const heard2 = a!.heard({ tag: 'u' })
      await b!.tags.deleteByTag(['u'])
      await heard2
      expect(heardBy).toEqual([])
    } finally {
      redis.disconnect()
    }
  })

  it('tag names: typed errors for empty, oversized and non-string names; __proto__ and constructor are tags', async () => {
    const [a, b] = await three('t3-names')
    for (const bad of [[''], ['t'.repeat(MAX_TAG_LENGTH + 1)], [1], [null], ['ok', {}]]) {
      for (const call of [
        () => a!.tags.deleteByTag(bad as never),
        () => a!.tags.expireByTag(bad as never),
        () => a!.tags.set('k', 'v', { tags: bad as never }),
        () => a!.tags.getOrLoad('k', () => 'v', { tags: bad as never }),
      ]) {
        const err = await call().catch((e: unknown) => e)
        expect(err).toBeInstanceOf(TierkitTypeError)
        expect((err as TierkitTypeError).code).toBe('E_INVALID_ARGUMENT')
      }
    }
    await expect(a!.tags.deleteByTag(['t'.repeat(MAX_TAG_LENGTH + 1)])).rejects.toThrow(
      `tags.deleteByTag: tags[0] must be a non-empty string of at most ${MAX_TAG_LENGTH} characters`,
    )
    await a!.tags.set('k:max', 'v', { tags: ['t'.repeat(MAX_TAG_LENGTH)] }) // the bound itself is a tag
    expect(await b!.tags.get('k:max')).toBe('v')
    for (const tag of ['__proto__', 'constructor']) {
      await a!.tags.set(`k:${tag}`, 'v', { tags: [tag] })
      await a!.tags.set(`k:${tag}:other`, 'w', { tags: ['plain'] })
      expect(await b!.tags.get(`k:${tag}`)).toBe('v')
      const heard = b!.heard({ tag })
      await a!.tags.deleteByTag([tag])
      await heard
      expect(await b!.tags.get(`k:${tag}`)).toBeUndefined()
      expect(await b!.tags.get(`k:${tag}:other`)).toBe('w')
      const v = await b!.tags.getOrLoad(`k:${tag}`, () => 'v2', { tags: [tag], grace: 60_000 })
      expect(v).toBe('v2')
      const heard2 = a!.heard({ tag })
      await b!.tags.expireByTag([tag])
      await heard2
      expect(await a!.tags.get(`k:${tag}`, { grace: 60_000 })).toBe('v2') // stale, within grace
      expect(await a!.tags.get(`k:${tag}`)).toBeUndefined() // without grace: not served
    }
  })
})
