/**
 * One tag invalidation reaches every layer (issue 19, "the same call reaches the CDN"): `createTags({ cdn })`
 * purges the CDN with the same tags, hard for `deleteByTag`, soft for `expireByTag`, only after Redis and the
 * bus (when the CDN asks for the URL again, every instance already answers the new value), and resolves with
 * each layer's result and time. A layer that fails: a CDN failure is in the report, the rest still done; a
 * bus failure rejects after the CDN was purged; a Redis failure purges nothing. Real Redis; the purger here is
 * a recording one (the real nginx purge is in tools/composition's tags-cdn test).
 */
import { createCache } from '@tierkit/redis-aside'
import { type RedisServer, startRedis } from '@tierkit/testkit'
import { afterAll, beforeAll, expect, expectTypeOf, it } from 'vitest'
import {
  type CdnPurgeReport,
  type CdnPurger,
  createInvalidationBus,
  createTags,
  PublishError,
  type TagInvalidation,
  TagsUnavailableError,
  TierkitTypeError,
} from '../src/index.js'
import { MapL1 } from './helpers/cache.js'
import { redisClient } from './helpers/clients.js'

let server: RedisServer
const closers: Array<() => Promise<unknown>> = []
beforeAll(async () => {
  server = await startRedis()
})
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => {})
  await server.close()
})

/** A purger that records its calls and, at each call, what `probe` saw then. */
function recordingPurger(probe: () => Promise<unknown>, fail?: 'report' | 'throw') {
  const calls: Array<{ tags: readonly string[]; mode: string | undefined; seen: unknown }> = []
  const purger: CdnPurger = {
    async purgeTags(tags, options) {
      calls.push({ tags: [...tags], mode: options?.mode, seen: await probe() })
      if (fail === 'throw') throw new Error('purger bug')
      if (fail === 'report') {
        const error = new Error('CDN answered 503')
        return {
          purged: [],
          hardened: [],
          failed: tags.map((tag) => ({ tag, reason: 'unavailable', error })),
        }
      }
      return { purged: [...tags], hardened: [], failed: [] }
    },
  }
  return { purger, calls }
}

async function instance(namespace: string, cdn?: CdnPurger, withBus = true) {
  const redis = redisClient(server.url)
  closers.push(() => redis.quit())
  const cache = createCache({ redis, l1: new MapL1(), namespace, ttl: 60_000 })
  closers.push(() => cache.close())
  const bus = withBus
    ? createInvalidationBus({ redis, channel: `ch:${namespace}`, caches: [cache] })
    : undefined
  if (bus) {
    closers.push(() => bus.close())
    await bus.ready()
  }
  const tags = createTags<string>({
    redis,
    cache,
    namespace,
    grace: 60_000,
    ...(bus ? { bus } : {}),
    ...(cdn ? { cdn } : {}),
  })
  return { tags, redis }
}

const loader = (): string => 'new'

it('the types: deleteByTag/expireByTag resolve with a TagInvalidation; the purger is structural', () => {
  expectTypeOf<ReturnType<ReturnType<typeof createTags>['deleteByTag']>>().toEqualTypeOf<
    Promise<TagInvalidation>
  >()
  expectTypeOf<ReturnType<ReturnType<typeof createTags>['expireByTag']>>().toEqualTypeOf<
    Promise<TagInvalidation>
  >()
  expectTypeOf<TagInvalidation['cdn']>().toEqualTypeOf<
    { readonly ms: number; readonly report: CdnPurgeReport } | undefined
  >()
})

it('deleteByTag: the CDN is purged hard with the same tags after the other instances stopped serving the value', async () => {
  let other: Awaited<ReturnType<typeof instance>> | undefined
  const { purger, calls } = recordingPurger(async () => other?.tags.get('p:42'))
  const a = await instance('cdn1', purger)
  other = await instance('cdn1')
  await a.tags.set('p:42', 'old', { tags: ['product:42', 'category:7'] })
  expect(await other.tags.get('p:42')).toBe('old') // in B's L1
  const r = await a.tags.deleteByTag(['product:42'])
  expect(calls).toEqual([{ tags: ['product:42'], mode: 'hard', seen: undefined }]) // B no longer served it
  expect(r.tags).toEqual(['product:42'])
  expect(r.mode).toBe('hard')
  expect(r.cdn?.report).toEqual({ purged: ['product:42'], hardened: [], failed: [] })
  // each layer's time, from the call, in the order they ran
  expect(r.redis.ms).toBeGreaterThan(0)
  expect(r.bus?.ms).toBeGreaterThan(r.redis.ms)
  expect(r.cdn?.ms).toBeGreaterThan(r.bus?.ms ?? Number.POSITIVE_INFINITY)
})

it('expireByTag: a soft purge; at that point every instance serves the old value stale and refreshes it', async () => {
  let other: Awaited<ReturnType<typeof instance>> | undefined
  const { purger, calls } = recordingPurger(async () =>
    other?.tags.getOrLoad('p:1', loader, { tags: ['category:7'], grace: 0 }),
  )
  const a = await instance('cdn2', purger)
  other = await instance('cdn2')
  await a.tags.set('p:1', 'old', { tags: ['category:7'] })
  expect(await other.tags.get('p:1')).toBe('old')
  const r = await a.tags.expireByTag(['category:7'])
  expect(r.mode).toBe('soft')
  // the CDN's re-fetch (a read without grace, as an origin answers it) gets the new value, not the stale one
  expect(calls).toEqual([{ tags: ['category:7'], mode: 'soft', seen: 'new' }])
  // a reader with grace is served the stale value while it refreshes (no miss)
  expect(await a.tags.get('p:1', { grace: 60_000 })).toBeDefined()
})

it('a CDN failure is in the report: Redis and the bus are still done', async () => {
  const { purger } = recordingPurger(async () => undefined, 'report')
  const a = await instance('cdn3', purger)
  const b = await instance('cdn3')
  await a.tags.set('k', 'old', { tags: ['t'] })
  expect(await b.tags.get('k')).toBe('old')
  const r = await a.tags.deleteByTag(['t'])
  expect(r.cdn?.report.purged).toEqual([])
  expect(r.cdn?.report.failed.map((f) => [f.tag, f.reason])).toEqual([['t', 'unavailable']])
  expect(await b.tags.get('k')).toBeUndefined()
  expect(await a.tags.get('k')).toBeUndefined()
})

it('a purger that throws: every tag failed with reason error, the invalidation still done', async () => {
  const { purger } = recordingPurger(async () => undefined, 'throw')
  const a = await instance('cdn4', purger)
  await a.tags.set('k', 'old', { tags: ['t', 'u'] })
  const r = await a.tags.deleteByTag(['t', 'u'])
  expect(r.cdn?.report.failed.map((f) => [f.tag, f.reason, (f.error as Error).message])).toEqual([
    ['t', 'error', 'purger bug'],
    ['u', 'error', 'purger bug'],
  ])
  expect(await a.tags.get('k')).toBeUndefined()
})

it('the bus failing: the CDN is still purged, then the call rejects with PublishError', async () => {
  const { purger, calls } = recordingPurger(async () => undefined)
  const redis = redisClient(server.url)
  closers.push(() => redis.quit())
  const cache = createCache({ redis, l1: new MapL1(), namespace: 'cdn5', ttl: 60_000 })
  closers.push(() => cache.close())
  const bus = {
    publish: async () => {
      throw new Error('bus down')
    },
  }
  const tags = createTags<string>({ redis, cache, namespace: 'cdn5', bus, cdn: purger })
  await tags.set('k', 'old', { tags: ['t'] })
  const e = await tags.deleteByTag(['t']).then(
    () => undefined,
    (x: unknown) => x,
  )
  expect(e).toBeInstanceOf(PublishError)
  expect(calls.map((c) => c.tags)).toEqual([['t']])
  // what each layer did is not lost with the rejection
  const done = (e as PublishError).invalidation
  expect(done?.tags).toEqual(['t'])
  expect(done?.cdn?.report.purged).toEqual(['t'])
  expect(done?.redis.ms).toBeGreaterThan(0)
  expect(await tags.get('k')).toBeUndefined()
})

it('Redis failing: TagsUnavailableError and the CDN is not purged (call it again)', async () => {
  const { purger, calls } = recordingPurger(async () => undefined)
  const dead = await startRedis()
  const redis = redisClient(dead.url)
  redis.on('error', () => {})
  closers.push(async () => redis.disconnect())
  const cache = createCache({ redis, l1: new MapL1(), namespace: 'cdn6', ttl: 60_000 })
  closers.push(() => cache.close())
  const tags = createTags<string>({ redis, cache, namespace: 'cdn6', cdn: purger, timeout: 100 })
  await dead.stop()
  const e = await tags.deleteByTag(['t']).then(
    () => undefined,
    (x: unknown) => x,
  )
  expect(e).toBeInstanceOf(TagsUnavailableError)
  expect(calls).toEqual([])
})

it('without cdn or bus the result says so; a cdn without purgeTags is a TierkitTypeError', async () => {
  const a = await instance('cdn7', undefined, false)
  const r = await a.tags.expireByTag(['t'])
  expect([r.bus, r.cdn]).toEqual([undefined, undefined])
  expect(() =>
    createTags({
      redis: a.redis,
      cache: createCache({ redis: a.redis, namespace: 'x', ttl: 1000 }),
      cdn: {} as never,
    }),
  ).toThrow(TierkitTypeError)
  const cache = createCache({ redis: a.redis, namespace: 'y', ttl: 1000 })
  const { purger } = recordingPurger(async () => undefined)
  expect(() => createTags({ redis: a.redis, cache, cdn: purger, cdnDelay: -1 })).toThrow(/cdnDelay/)
})
