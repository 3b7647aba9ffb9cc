export type {
  CacheLike,
  EvictionReason,
  GetOrLoadOptions,
  L1CacheOptions,
  L1CacheStats,
  LoadContext,
  Policy,
  SetOptions,
} from './cache.js'
export { L1Cache } from './cache.js'
export { EntryTooLargeError, InvalidSizeError, L1CacheError, LoadAbortedError } from './errors.js'
