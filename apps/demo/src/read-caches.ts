/**
 * The read caches of products and users: redis-aside (L1 → Redis → database) when Redis is there, else the
 * in-process L1 alone. One source per layer: with Redis, redis-aside records l1, l2 and db through the observer;
 * without it, the L1s' own stats() are the l1 layer and the store records db (db/recorded.ts).
 */
import { computeETag } from '@tierkit/cdn-headers'
import { L1Cache } from '@tierkit/l1-cache'
import type { CacheMetrics } from '@tierkit/metrics'
import { type Cache, type CacheEvent, createCache } from '@tierkit/redis-aside'
import type { DemoConfig } from './config.js'
import type { Product, User } from './db/types.js'
import { l1OnlyCache, type ReadCache } from './l1-only.js'
import { type CircuitRecord, pushRecent } from './records.js'
import type { PackageRedis } from './redis-client.js'

/** A cached product: the JSON body and its strong ETag, computed once per load (null: no such product). */
export interface CachedProduct {
  json: string
  etag: string
}

/** The JSON body and ETag of a product. */
export function cacheProduct(p: Product): CachedProduct {
  const json = JSON.stringify(p)
  return { json, etag: computeETag(json) }
}

/** The demo's read caches. */
export interface ReadCaches {
  readonly products: ReadCache<CachedProduct | null>
  readonly users: ReadCache<User | null>
  /** The redis-aside caches, when Redis is there (their breaker state goes to /api/stats). */
  readonly redisCaches: { products: Cache; users: Cache } | undefined
  /** Entries in the L1 caches. */
  l1Size(): number
  /** Closes both caches. */
  close(): Promise<unknown>
}

/** What the caches record to and report. */
export interface ReadCacheSinks {
  metrics: CacheMetrics
  /** Breaker transitions are appended here. */
  circuit: CircuitRecord[]
  log: (line: string) => void
}

function redisAsideCaches(config: DemoConfig, redis: PackageRedis, sinks: ReadCacheSinks): ReadCaches {
  const l1 = new L1Cache<string, unknown>({ max: config.l1Max, ttl: config.l1TtlMs })
  const common = {
    redis,
    ttl: config.cacheTtlMs,
    l1,
    observer: sinks.metrics.observer,
    grace: 60_000,
    nullTtl: 30_000,
    breaker: { threshold: 5, cooldown: 2000 },
  }
  const onEvent =
    (cache: string) =>
    (e: CacheEvent): void => {
      if (e.type === 'breaker') {
        pushRecent(sinks.circuit, { at: Date.now(), state: e.state, cache })
        sinks.log(`redis: circuit ${e.state} (${cache} cache)`)
      }
    }
  const products = createCache({ ...common, namespace: 'demo:products', onEvent: onEvent('products') })
  const users = createCache({ ...common, namespace: 'demo:users', onEvent: onEvent('users') })
  return {
    products,
    users,
    redisCaches: { products, users },
    l1Size: () => l1.stats().size,
    close: () => Promise.all([products.close(), users.close()]),
  }
}

function l1OnlyCaches(config: DemoConfig, sinks: ReadCacheSinks): ReadCaches {
  const productsL1 = new L1Cache<string, CachedProduct | null>({ max: config.l1Max, ttl: config.l1TtlMs })
  const usersL1 = new L1Cache<string, User | null>({ max: config.l1Max, ttl: config.l1TtlMs })
  sinks.metrics.watch('l1', productsL1)
  sinks.metrics.watch('l1', usersL1)
  const products = l1OnlyCache(productsL1)
  const users = l1OnlyCache(usersL1)
  return {
    products,
    users,
    redisCaches: undefined,
    l1Size: () => productsL1.stats().size + usersL1.stats().size,
    close: () => Promise.all([products.close(), users.close()]),
  }
}

/** No cache at all (`DEMO_CACHE=off`): every read runs its loader, i.e. goes to the database. */
function passThrough<V>(): ReadCache<V> {
  return {
    async getOrLoad(key, loader, options) {
      return loader({ key, signal: options?.signal ?? new AbortController().signal, stale: undefined })
    },
    async getOrLoadMany(keys, loader) {
      const loaded = await loader([...new Set(keys)])
      return keys.map((k) => loaded.get(k) ?? null)
    },
    set() {},
    delete() {},
    deleteMany() {},
    evictLocal() {},
    async close() {},
  }
}

/** The read caches: off with `DEMO_CACHE=off`; through Redis when `redis` is given, else L1 only. */
export function createReadCaches(
  config: DemoConfig,
  redis: PackageRedis | undefined,
  sinks: ReadCacheSinks,
): ReadCaches {
  if (config.cacheMode === 'off') {
    const products = passThrough<CachedProduct | null>()
    const users = passThrough<User | null>()
    return { products, users, redisCaches: undefined, l1Size: () => 0, close: async () => [] }
  }
  return redis ? redisAsideCaches(config, redis, sinks) : l1OnlyCaches(config, sinks)
}
