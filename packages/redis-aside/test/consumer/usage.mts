// Type-checked against the packed package by the publish-and-consume check.
import {
  AbortedError,
  type BatchLoaderContext,
  type Cache,
  type CacheEvent,
  type CacheLayer,
  type CacheObserver,
  type CacheOptions,
  type ClosedError,
  createCache,
  errors,
  exactSerializer,
  type L1Store,
  type LoaderContext,
  LoaderError,
  LoaderTimeoutError,
  parseRedisKey,
  RedisAsideError,
  type RedisAsideErrorCode,
  RedisUnavailableError,
  type Serializer,
  ValueTooLargeError,
} from '@tierkit/redis-aside'

interface User {
  id: number
  name: string
  createdAt: Date
}

declare const redis: CacheOptions['redis']
declare const l1: L1Store

const layers: CacheLayer[] = ['l1', 'l2', 'db']
const observer: CacheObserver = {
  record(layer, outcome, duration) {
    const label: string = `${layer}:${outcome}`
    void label
    void duration
  },
}

// a serializer that wraps the default one
const serializer: Serializer = {
  encode: (v) => exactSerializer.encode(v),
  decode: (s) => exactSerializer.decode(s),
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
  lock: { distributed: true, lease: 10_000, waitTimeout: 30_000 },
  breaker: { threshold: 5, cooldown: 5_000 },
  maxValueBytes: 512 * 1024,
  serializer,
  observer,
  onEvent: (e: CacheEvent) => {
    if (e.type === 'corrupt') console.warn(e.key, e.error.code)
    if (e.type === 'breaker') console.warn(e.state, e.node, layers)
  },
})

export async function findUser(id: number, signal?: AbortSignal): Promise<User | null> {
  try {
    return await cache.getOrLoad<User | null>(
      `user:${id}`,
      async (ctx: LoaderContext<User | null>) => {
        if (ctx.signal.aborted) ctx.skipCache()
        ctx.setTtl(60_000)
        return ctx.stale ?? { id, name: ctx.key, createdAt: new Date() }
      },
      { signal },
    )
  } catch (e) {
    if (e instanceof AbortedError) return null
    if (e instanceof LoaderTimeoutError) return e.timeout > 0 ? null : null
    if (e instanceof LoaderError || e instanceof ValueTooLargeError) throw e
    if (e instanceof RedisAsideError) console.error(e.code, e.key)
    throw e
  }
}

export async function cached(id: number): Promise<User | null | undefined> {
  return cache.get<User>(`user:${id}`)
}

export async function findUsers(ids: number[]): Promise<Array<User | null>> {
  return cache.getOrLoadMany<User>(
    ids.map((id) => `user:${id}`),
    async (missing, ctx: BatchLoaderContext<User>) =>
      new Map(
        missing
          .filter(() => !ctx.signal.aborted)
          .map((k) => [k, ctx.stale.get(k) ?? { id: 0, name: k, createdAt: new Date() }]),
      ),
  )
}

export async function save(user: User): Promise<void> {
  try {
    await cache.set(`user:${user.id}`, user, { ttl: 60_000 })
  } catch (e) {
    if (e instanceof RedisUnavailableError) console.warn(e.operation, e.reason)
    else throw e
  }
}

export async function shutdown(): Promise<void> {
  await cache.close({ timeout: 1_000 })
  const code: RedisAsideErrorCode = 'E_CLOSED'
  const Closed: typeof ClosedError = errors[code]
  void Closed
  void parseRedisKey('ra:5:users:v:user:1')?.key
}
