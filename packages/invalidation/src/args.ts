/**
 * The checks of this package's own shapes (an ioredis client, a cache, a Store, a bus, a queue name), built on
 * `@tierkit/contracts`' `checkMethods` and `invalidArgument`, so that every bad argument is a
 * `TierkitTypeError` (`E_INVALID_ARGUMENT`) whose message has the family's one shape,
 * `<where>: <what> must be <rule>, got <value>`, thrown before anything changed. Everything else (keys, lists of
 * keys and tags, TTLs, options objects, callbacks, renamed options) is checked with contracts' checks directly.
 */
import {
  type CacheObserver,
  checkMethods,
  invalidArgument,
  type Serializer,
  type WritableCache,
} from '@tierkit/contracts'
import { detectRedisClient, toRedisLike } from '@tierkit/contracts/redis'
import type { Cluster, Redis } from 'ioredis'
import type { InvalidationPublisher, LocalEvictor } from './types.js'

/**
 * `options` with a node-redis client in `redis` wrapped into ioredis's shape (`@tierkit/contracts/redis`; the same
 * wrapper for the same client, whichever package wraps it); anything else as it is, checked later.
 */
export function withRedis<O>(where: string, options: O): O {
  if (options === null || typeof options !== 'object') return options
  const redis = (options as { redis?: unknown }).redis
  if (!detectRedisClient(redis)?.startsWith('node-redis')) return options
  return { ...options, redis: toRedisLike(redis, where, 'redis') }
}

/** A client in ioredis's shape: a node-redis client wrapped, anything else as it is (checked by {@link checkRedis}). */
export function asRedis<R>(where: string, redis: R): R {
  return detectRedisClient(redis)?.startsWith('node-redis')
    ? (toRedisLike(redis, where, 'redis') as R)
    : redis
}

/** An ioredis or iovalkey `Redis` or `Cluster` (a node-redis client once wrapped). */
export function checkRedis(where: string, redis: unknown): asserts redis is Redis | Cluster {
  checkMethods(where, 'redis', redis, ['duplicate'], 'an ioredis Redis or Cluster')
}

/** A cache with `set`, `delete`, `deleteMany` and `evictLocal` (a `WritableCache`). */
export function checkCache(where: string, cache: unknown): asserts cache is WritableCache {
  checkMethods(
    where,
    'cache',
    cache,
    ['set', 'delete', 'deleteMany', 'evictLocal'],
    'a cache with set, delete, deleteMany and evictLocal methods (a WritableCache)',
  )
}

/** The `caches` option of the bus and the tracking invalidator: an array of caches with `evictLocal`. */
export function checkEvictors(where: string, caches: unknown): readonly LocalEvictor[] {
  if (!Array.isArray(caches))
    throw invalidArgument(where, 'caches', 'an array of caches with an evictLocal method', caches)
  caches.forEach((c, i) => {
    checkEvictor(where, `caches[${i}]`, c)
  })
  return caches
}

/** Something with an `evictLocal` method. */
export function checkEvictor(where: string, what: string, c: unknown): asserts c is LocalEvictor {
  checkMethods(where, what, c, ['evictLocal'], 'a cache with an evictLocal method')
}

/** A `Store`: `save` and `remove` methods. */
export function checkStore(where: string, store: unknown): void {
  checkMethods(where, 'store', store, ['save', 'remove'], 'a Store with save and remove methods')
}

/** An optional bus: something with a `publish` method. */
export function checkBus(where: string, bus: unknown): asserts bus is InvalidationPublisher | undefined {
  if (bus !== undefined)
    checkMethods(where, 'bus', bus, ['publish'], 'an object with a publish method (an InvalidationBus)')
}

/** An optional observer (a `CacheObserver`). */
export function checkObserver(where: string, o: unknown): asserts o is CacheObserver | undefined {
  if (o !== undefined)
    checkMethods(where, 'observer', o, ['record'], 'an object with a record method (a CacheObserver)')
}

/** An optional serializer. */
export function checkSerializer(where: string, s: unknown): asserts s is Serializer | undefined {
  if (s !== undefined)
    checkMethods(where, 'serializer', s, ['encode', 'decode'], 'an object with encode and decode methods')
}

/** A queue or namespace name: a non-empty string without `{` or `}` (they would break the hash tag). */
export function checkName(where: string, what: string, name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0 || name.length > 65_536 || /[{}]/.test(name)) {
    throw invalidArgument(where, what, 'a non-empty string without { or }', name)
  }
}
