/**
 * @tierkit/redis-aside: the cache-aside read path L1 → Redis → loader, stampede-safe, fail-safe, on Redis and
 * Redis Cluster (ioredis).
 */

// the family's shared vocabulary this package's API is written in (from @tierkit/contracts)
export {
  AbortedError,
  type CacheLayer,
  type CacheObserver,
  type CacheOutcome,
  ClosedError,
  type CloseOptions,
  CorruptPayloadError,
  exactSerializer,
  type L1Store,
  PermissionError,
  type Serializer,
  TierkitTypeError,
  UnserializableValueError,
} from '@tierkit/contracts'
export type { BreakerState } from './breaker.js'
export { createCache } from './cache.js'
export {
  errors,
  LoaderError,
  LoaderTimeoutError,
  RedisAsideError,
  type RedisAsideErrorCode,
  type RedisAsideOwnErrorCode,
  RedisReplyError,
  RedisUnavailableError,
  ValueTooLargeError,
} from './errors.js'
export { parseRedisKey } from './keys.js'
export type {
  BatchLoader,
  BatchLoaderContext,
  Cache,
  CacheEvent,
  CacheOptions,
  Loader,
  LoaderContext,
  LoadOptions,
  SetOptions,
} from './types.js'
