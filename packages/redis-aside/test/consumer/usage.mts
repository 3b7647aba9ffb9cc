// Type-checked against the packed package by the publish-and-consume check.
import {
  type Cache,
  type CacheEvent,
  type CacheObserver,
  type CacheOptions,
  createCache,
  type L1Store,
  type LoaderContext,
  LoaderError,
  LoaderTimeoutError,
  RedisAsideError,
  ValueTooLargeError,
} from '@tierkit/redis-aside'

interface User {
  id: number
  name: string
  createdAt: Date
}

declare const redis: CacheOptions['redis']
declare const l1: L1Store

const observer: CacheObserver = {
  record(layer, outcome, durationMs) {
    const label: string = `${layer}:${outcome}`
    void label
    void durationMs
  },
}

export const cache: Cache = createCache({
  redis,
  l1,
  namespace: 'users',
  ttl: 300_000,
  grace: 3_600_000,
  timeouts: { soft: 50, hard: 2_000, redis: 200 },
  jitter: 0.1,
  eagerRefresh: 0.8,
  nullTtl: 10_000,
  lock: { distributed: true },
  maxValueBytes: 512 * 1024,
  observer,
  onEvent: (e: CacheEvent) => {
    if (e.type === 'corrupt') console.warn(e.key, e.error.code)
  },
})

export async function findUser(id: number): Promise<User | null> {
  try {
    return await cache.getOrLoad<User | null>(`user:${id}`, async (ctx: LoaderContext<User | null>) => {
      if (ctx.signal.aborted) ctx.skipCache()
      ctx.setTtl(60_000)
      return { id, name: 'Ada', createdAt: new Date() }
    })
  } catch (e) {
    if (e instanceof LoaderTimeoutError) return null
    if (e instanceof LoaderError || e instanceof ValueTooLargeError) throw e
    if (e instanceof RedisAsideError) console.error(e.code)
    throw e
  }
}

export async function findUsers(ids: number[]): Promise<Array<User | null>> {
  return cache.getOrLoadMany<User | null>(
    ids.map((id) => `user:${id}`),
    async (missing) => new Map(missing.map((k) => [k, null])),
  )
}
