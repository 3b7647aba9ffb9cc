import { type Cache, createCache } from '@tierkit/redis-aside'
import type { Redis } from 'ioredis'
import { redisClient } from './clients.js'

/** A plain Map L1 with the shape redis-aside takes ({ get, set, delete, clear }). */
export class MapL1 {
  readonly map: Map<string, unknown> = new Map()
  get(key: string): unknown {
    return this.map.get(key)
  }
  set(key: string, value: unknown): void {
    this.map.set(key, value)
  }
  delete(key: string): boolean {
    return this.map.delete(key)
  }
  clear(): void {
    this.map.clear()
  }
  get size(): number {
    return this.map.size
  }
}

/** A redis-aside cache with a Map L1 on a fresh ioredis client. */
export function makeCache(
  url: string,
  namespace = 'test',
  extra: { timeouts?: { redis?: number } } = {},
): { redis: Redis; l1: MapL1; cache: Cache } {
  const redis = redisClient(url, { maxRetriesPerRequest: 1, lazyConnect: false })
  redis.on('error', () => {})
  const l1 = new MapL1()
  const cache = createCache({ redis, l1, namespace, ttl: 60_000, breaker: { threshold: 1000 }, ...extra })
  return { redis, l1, cache }
}
