/**
 * `@tierkit/l1-cache`: the in-process (L1) cache of tierkit. `L1Cache` is bounded by count or weight, with
 * per-entry TTL, an adaptive scan-resistant W-TinyLFU policy (or exact LRU), a `grace` served stale while one
 * background load refreshes, and single-flight `getOrLoad` with per-caller cancellation.
 *
 * @packageDocumentation
 */
export type { CloseOptions, LoaderContext } from '@tierkit/contracts'
export { AbortedError, ClosedError, TierkitError, TierkitTypeError } from '@tierkit/contracts'
export { L1Cache } from './cache.js'
export {
  EntryTooLargeError,
  errors,
  InvalidSizeError,
  L1CacheError,
  type L1CacheErrorCode,
} from './errors.js'
export type {
  EvictionReason,
  GetOrLoadOptions,
  L1CacheEvent,
  L1CacheOptions,
  L1CacheStats,
  Loader,
  Policy,
  SetOptions,
} from './types.js'
