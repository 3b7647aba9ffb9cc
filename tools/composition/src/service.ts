/**
 * A consumer's service, wired the way the six READMEs show, through the packages' public entries only (no
 * adapter, no cast): `@tierkit/metrics`' observer handed to redis-aside as it is (`observer: metrics.observer`,
 * nothing watching the L1 that redis-aside records), an `L1Cache` as redis-aside's `l1`, the invalidation bus
 * given the cache only (`caches: [users]`), the README's `Store` over the database, the three writers and a
 * flusher, cdn-headers' Fastify plugin with the README's policy, and a worker pool over `tasks.ts`. Each part says
 * which README it comes from.
 */
import { definePolicy } from '@tierkit/cdn-headers'
import { fastifyCdnHeaders } from '@tierkit/cdn-headers/fastify'
import {
  type BusEvent,
  createFlusher,
  createInvalidationBus,
  deleteOnUpdate,
  type Flusher,
  type Store,
  writeBehind,
  writeThrough,
} from '@tierkit/invalidation'
import { L1Cache } from '@tierkit/l1-cache'
import { type CacheMetricsEvent, createCacheMetrics } from '@tierkit/metrics'
import { type CacheEvent, createCache } from '@tierkit/redis-aside'
import { createPool, type PoolEvent } from '@tierkit/worker-pool'
import Fastify from 'fastify'
import { Redis } from 'ioredis'
import type { Database, User } from './db.js'

/** Options of {@link startInstance}. */
export interface InstanceOptions {
  /** This instance's name (the bus's `instanceId`). */
  name: string
  redisUrl: string
  db: Database
  /** The bus channel every instance shares. */
  channel: string
  /** The write-behind queue's name. */
  queue: string
  /** Run the queue's flusher in this instance. @default false */
  flusher?: boolean
}

/** One running instance of the service. */
export type Instance = Awaited<ReturnType<typeof startInstance>>

/** Starts one instance: its Redis client, metrics, L1, cache, bus, writers, HTTP server and worker pool. */
export async function startInstance(o: InstanceOptions) {
  const { db } = o
  const events = { metrics: [] as CacheMetricsEvent[], cache: [] as CacheEvent[], bus: [] as BusEvent[] }
  const pool_events: PoolEvent[] = []

  // @tierkit/metrics README, "One source per layer": redis-aside records l1, l2 and db itself, so the observer
  // goes to it and nothing watches the L1
  const metrics = createCacheMetrics({ onEvent: (event) => events.metrics.push(event) })

  // @tierkit/redis-aside README, Usage (the Redis call bound left at its default of 1 s: this shared machine is
  // slow enough that 200 ms would turn a few reads into l2 errors and make the counts depend on its load)
  const redis = new Redis(o.redisUrl)
  const l1 = new L1Cache<string, unknown>({ max: 10_000 })
  const users = createCache({
    redis, // a Redis or a Cluster
    l1, // optional in-process layer
    namespace: 'users',
    ttl: 5 * 60_000, // fresh for 5 minutes
    grace: 60 * 60_000, // then servable stale for 1 hour if the database fails
    timeouts: { soft: 50, hard: 2_000 },
    jitter: 0.1,
    eagerRefresh: 0.8, // reload hot keys in the background after 80% of the TTL
    lock: { distributed: true },
    breaker: { threshold: 5, cooldown: 5_000 },
    observer: metrics.observer, // or anything with record(layer, outcome, duration)
    onEvent: (event) => {
      events.cache.push(event)
    },
  })

  // @tierkit/invalidation README, Usage: the bus needs only the cache
  const bus = createInvalidationBus({
    redis,
    channel: o.channel,
    caches: [users],
    instanceId: o.name,
    onEvent: (event) => {
      events.bus.push(event)
    },
  })
  await bus.ready() // at most readyTimeout (10 s)

  // the database: apply a write only when its version is newer (write-behind passes one)
  const store: Store<User> = {
    save: (key, value, { version }) => db.upsertUser(key, value, version), // true (applied) or false (older: skipped)
    remove: (key, { version }) => db.deleteUser(key, version),
  }
  const deleting = deleteOnUpdate({ cache: users, store, bus })
  const through = writeThrough({ cache: users, store, bus, ttl: 60_000, jitter: 0.1 })
  const queue = writeBehind<User>({ redis, name: o.queue, cache: users, bus })
  const flusher: Flusher | undefined = o.flusher ? createFlusher({ redis, name: o.queue, store }) : undefined

  // the read path of the redis-aside README: one loader context, the caller's signal
  const readUser = (id: number, signal?: AbortSignal): Promise<User | null> =>
    users.getOrLoad<User | null>(
      `user:${id}`,
      (ctx) => db.findUser(id, { signal: ctx.signal }),
      signal === undefined ? undefined : { signal },
    )
  // null for the ids the loader's Map does not hold (cached as "not found")
  const readUsers = (ids: readonly number[]): Promise<Array<User | null>> =>
    users.getOrLoadMany<User>(
      ids.map((id) => `user:${id}`),
      (missing) => db.findUsers(missing),
    )

  // @tierkit/cdn-headers README, Usage: its two rules (cache the public API 10 minutes, bypass authenticated routes)
  const policy = definePolicy([
    { name: 'authenticated', path: '/api/me*', authenticated: true },
    {
      name: 'public api',
      path: '/api/public/*',
      maxAge: 600, // Cache-Control: max-age=600 (seconds, like the directive)
      cdnMaxAge: 600, // CDN-Cache-Control: max-age=600
      staleWhileRevalidate: 60,
      tags: ['public'],
    },
  ])
  const app = Fastify()
  await app.register(fastifyCdnHeaders, { policy })
  app.get<{ Params: { id: string } }>('/api/public/users/:id', async (req, reply) => {
    const user = await readUser(Number(req.params.id))
    if (user === null) return reply.code(404).send({ error: 'not found' })
    return { id: user.id, name: user.name }
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  const url = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`

  // @tierkit/worker-pool README, Usage
  const pool = createPool<typeof import('./tasks.js').default>({
    tasks: new URL('./tasks.js', import.meta.url), // tasks.ts in development, dist/tasks.js once built
    maxThreads: 2,
    maxQueue: 64,
    onEvent: (event) => {
      pool_events.push(event)
    },
  })

  let closing: Promise<void> | undefined
  return {
    name: o.name,
    url,
    redis,
    metrics,
    l1,
    users,
    bus,
    store,
    deleting,
    through,
    queue,
    flusher,
    pool,
    events: { ...events, pool: pool_events },
    readUser,
    readUsers,
    /** The README's shutdown order: the queue drains, the flusher drains, then the bus; then the rest. */
    close(): Promise<void> {
      closing ??= (async () => {
        await app.close()
        await queue.close({ timeout: 10_000 }) // waits until what it acknowledged is in the database
        await flusher?.close()
        await bus.close()
        await users.close({ timeout: 2_000 })
        await l1.close()
        await pool.close({ timeout: 10_000 })
        await redis.quit()
      })()
      return closing
    },
  }
}
