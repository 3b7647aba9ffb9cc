import { createCache } from '@tierkit/redis-aside'
import { startRedis } from '@tierkit/testkit'
import type { Cluster } from 'ioredis'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTags, InvalidArgumentError, UnknownTagError } from '../src/index.js'
import { MapL1 } from './helpers/cache.js'

const closers: Array<() => Promise<unknown>> = []
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => {})
})

function instance(redis: Redis | Cluster, namespace: string) {
  const l1 = new MapL1()
  const cache = createCache({ redis, l1, namespace, ttl: 60_000 })
  closers.push(() => cache.close())
  return { l1, cache, tags: createTags({ redis, cache, namespace }) }
}

describe('tags on one Redis', () => {
  let url: string
  beforeAll(async () => {
    url = (await startRedis()).url
  })
  function client(): Redis {
    const r = new Redis(url)
    closers.push(() => r.quit())
    return r
  }

  it('after invalidateTags resolves, no instance serves a value tagged before the call (L1 or L2)', async () => {
    const a = instance(client(), 'tg1')
    const b = instance(client(), 'tg1')
    await a.tags.set('p:1', { n: 1 }, { tags: ['products', 'brand:7'] })
    await a.tags.set('p:2', { n: 2 }, { tags: ['products', 'brand:8'] })
    await a.tags.set('c:1', { n: 3 }, { tags: ['categories'] })
    // B reads them into its L1
    expect(await b.tags.get('p:1')).toEqual({ n: 1 })
    expect(await b.tags.get('p:2')).toEqual({ n: 2 })
    expect(b.l1.size).toBe(2)
    await a.tags.invalidateTags(['brand:7'])
    // no bus needed: B's L1 copy is refused at once
    expect(await b.tags.get('p:1')).toBeUndefined()
    expect(await a.tags.get('p:1')).toBeUndefined()
    expect(await b.tags.get('p:2')).toEqual({ n: 2 })
    await b.tags.invalidateTags(['products'])
    expect(await a.tags.get('p:2')).toBeUndefined()
    expect(await a.tags.get('c:1')).toEqual({ n: 3 })
    // values tagged after the invalidation are served again
    await a.tags.set('p:1', { n: 10 }, { tags: ['products', 'brand:7'] })
    expect(await b.tags.get('p:1')).toEqual({ n: 10 })
  })

  it('a load that overlaps an invalidation is not served afterwards', async () => {
    const a = instance(client(), 'tg2')
    let release!: () => void
    const gate = new Promise<void>((r) => {
      release = r
    })
    let started!: () => void
    const loaderStarted = new Promise<void>((r) => {
      started = r
    })
    const loading = a.tags.getOrLoad(
      'k',
      async () => {
        started()
        await gate
        return 'loaded before the invalidation'
      },
      { tags: ['t'] },
    )
    await loaderStarted
    await a.tags.invalidateTags(['t'])
    release()
    expect(await loading).toBe('loaded before the invalidation')
    expect(await a.tags.get('k')).toBeUndefined()
    expect(await a.tags.getOrLoad('k', () => 'fresh', { tags: ['t'] })).toBe('fresh')
    expect(await a.tags.get('k')).toBe('fresh')
  })

  it('refuses empty and unknown tags with typed errors; nothing changes', async () => {
    const redis = client()
    const { cache } = instance(redis, 'tg3')
    const tags = createTags({ redis, cache, namespace: 'tg3', knownTags: ['users', 'orgs'] })
    await tags.set('u', 1, { tags: ['users'] })
    const unknown = await tags.invalidateTags(['users', 'nope']).catch((e: unknown) => e)
    expect(unknown).toBeInstanceOf(UnknownTagError)
    expect(unknown).toMatchObject({ code: 'E_UNKNOWN_TAG', tag: 'nope' })
    expect(await tags.get('u')).toBe(1) // 'users' was not invalidated either
    for (const bad of [[], [''], [1], 'users', null]) {
      const err = await tags.invalidateTags(bad as never).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(InvalidArgumentError)
      expect((err as InvalidArgumentError).code).toBe('E_INVALID_ARGUMENT')
    }
    await expect(tags.set('', 1, { tags: ['users'] })).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' })
    await expect(tags.set('v', 2, { tags: ['other'] })).rejects.toMatchObject({ code: 'E_UNKNOWN_TAG' })
    await expect(tags.set('v', 2, {} as never)).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' })
    expect(await cache.get('v')).toBeUndefined()
    expect(await tags.get('u')).toBe(1)
    expect(await redis.keys('tk:{tg3}:*')).toEqual([])
  })
})
