/**
 * @tierkit/invalidation: the write path of a two-level cache. Delete-on-update, write-through, durable
 * write-behind on a Redis Stream, tags, TTL helpers and a cross-instance L1 invalidation bus.
 */
export {
  type BusEvent,
  type BusMessage,
  type BusStats,
  type Clearable,
  createInvalidationBus,
  type InvalidationBus,
  type InvalidationBusOptions,
  type LocalEvictor,
} from './bus.js'
export {
  CacheDeleteError,
  CacheWriteError,
  ClosedError,
  FlushTimeoutError,
  InvalidArgumentError,
  InvalidationError,
  LossyValueError,
  PublishError,
  QueueWriteError,
  ReadyTimeoutError,
  RepairQueueFullError,
  StoreError,
  StoreResultError,
  TagsUnavailableError,
  UnknownTagError,
  UnserializableValueError,
} from './errors.js'
export { jsonSerializer, type Serializer } from './serializer.js'
export { createTags, type TagOptions, type Tags, type TagsEvent, type TagsOptions } from './tags.js'
export {
  createTrackingInvalidator,
  type TrackingEvent,
  type TrackingInvalidator,
  type TrackingOptions,
} from './tracking.js'
export { jitterTtl, ttlFromValue } from './ttl.js'
export type {
  InvalidationCache,
  InvalidationPublisher,
  ReadableCache,
  Store,
  StoreWrite,
  TtlOption,
  WriteContext,
  WriteObserver,
} from './types.js'
export {
  createFlusher,
  type DeadLetter,
  FLUSHER_DEFAULTS,
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
  type WriterEvent,
  type WriterOptions,
  type WriterStats,
  writeThrough,
} from './writers.js'
