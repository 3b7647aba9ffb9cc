/**
 * @tierkit/invalidation: the write path of a two-level cache. Delete-on-update, write-through, durable
 * write-behind on a Redis Stream, tags, TTL helpers, a cross-instance L1 invalidation bus and Redis
 * client-side caching. The shapes where it meets the other packages (`WritableCache`, `Store`,
 * `CacheObserver`, `Serializer`) and the shared errors come from `@tierkit/contracts` and are re-exported here.
 *
 * @packageDocumentation
 */
export {
  AbortedError,
  type CacheObserver,
  ClosedError,
  type CloseOptions,
  CorruptPayloadError,
  type LoaderContext,
  type Serializer,
  type Store,
  type StoreWrite,
  TierkitTypeError,
  UnserializableValueError,
  type WritableCache,
  type WriteContext,
} from '@tierkit/contracts'
export {
  type BusEvent,
  type BusMessage,
  type BusStats,
  createInvalidationBus,
  type InvalidationBus,
  type InvalidationBusOptions,
} from './bus.js'
export {
  CacheDeleteError,
  CacheWriteError,
  errors,
  FlushTimeoutError,
  InvalidationError,
  type InvalidationErrorCode,
  type InvalidationOwnErrorCode,
  MalformedEntryError,
  PublishError,
  QueueWriteError,
  ReadyTimeoutError,
  RepairQueueFullError,
  ShardCountError,
  StoreError,
  type StoreOperation,
  StoreResultError,
  TagsUnavailableError,
  UnknownTagError,
} from './errors.js'
export type { RepairOptions, WriterEvent, WriterStats } from './repair.js'
export type { CdnPurgeReport, CdnPurger, TagInvalidation } from './tags/cdn.js'
export {
  createTags,
  MAX_TAG_LENGTH,
  type TagGetOptions,
  type TagLoadOptions,
  type TagOptions,
  type Tags,
  type TagsEvent,
  type TagsLoaderContext,
  type TagsOptions,
} from './tags.js'
export {
  createTrackingInvalidator,
  type TrackingEvent,
  type TrackingInvalidator,
  type TrackingOptions,
  type TrackingStats,
} from './tracking.js'
export { jitterTtl, ttlFromValue } from './ttl.js'
export type {
  InvalidationMessage,
  InvalidationPublisher,
  LocalEvictor,
  ReadableCache,
  TagVersionBus,
  TagVersionListener,
  TagVersionsMessage,
  TtlOption,
} from './types.js'
export {
  createFlusher,
  type DeadLetter,
  type Flusher,
  type FlusherEvent,
  type FlusherOptions,
  type FlusherStats,
  type QueuedWrite,
  type QueueKeys,
  queueKeys,
  readDeadLetters,
  requeueDeadLetters,
  type WriteBehind,
  type WriteBehindEvent,
  type WriteBehindOptions,
  writeBehind,
} from './write-behind.js'
export {
  deleteOnUpdate,
  type WriteOptions,
  type Writer,
  type WriterOptions,
  writeThrough,
} from './writers.js'
