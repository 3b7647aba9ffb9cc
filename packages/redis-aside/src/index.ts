/**
 * @tierkit/redis-aside: the cache-aside read path L1 → Redis → loader, stampede-safe, fail-safe, on Redis and
 * Redis Cluster (ioredis).
 */
export type { BreakerState } from './breaker.js'
export {
  type BatchLoader,
  type Cache,
  type CacheEvent,
  type CacheLayer,
  type CacheObserver,
  type CacheOptions,
  type CacheOutcome,
  createCache,
  type L1Store,
  type Loader,
  type LoaderContext,
  type LoadOptions,
} from './cache.js'
export {
  CacheClosedError,
  CorruptPayloadError,
  LoaderError,
  LoaderTimeoutError,
  RedisAsideError,
  RedisReplyError,
  RedisUnavailableError,
  UnserializableValueError,
  ValueTooLargeError,
} from './errors.js'
export { parseRedisKey } from './keys.js'
export { defaultSerializer, type Serializer } from './serializer.js'
export { keySlot } from './slot.js'
