/**
 * Error classes of `@tierkit/invalidation`. Every one extends `TierkitError` from `@tierkit/contracts` (through
 * {@link InvalidationError}): a stable `code`, `name` = the class name, context fields, `cause` kept. Bad
 * arguments are contracts' `TierkitTypeError` (`E_INVALID_ARGUMENT`); a call after `close()` is contracts'
 * `ClosedError`; a value the serializer cannot encode is contracts' `UnserializableValueError`, one it cannot
 * decode a `CorruptPayloadError`; a caller's aborted signal is an `AbortedError`.
 */
import {
  AbortedError,
  ClosedError,
  CorruptPayloadError,
  TierkitError,
  type TierkitErrorOptions,
  TierkitTypeError,
  UnserializableValueError,
} from '@tierkit/contracts'
import { classifyRedisError } from '@tierkit/contracts/redis'
import type { TagInvalidation } from './tags/cdn.js'

/** The codes of the errors this package defines. */
export type InvalidationOwnErrorCode =
  | 'E_UNKNOWN_TAG'
  | 'E_STORE_FAILED'
  | 'E_STORE_BAD_RESULT'
  | 'E_CACHE_WRITE_FAILED'
  | 'E_CACHE_DELETE_FAILED'
  | 'E_QUEUE_WRITE_FAILED'
  | 'E_FLUSH_TIMEOUT'
  | 'E_PUBLISH_FAILED'
  | 'E_READY_TIMEOUT'
  | 'E_TAGS_UNAVAILABLE'
  | 'E_REPAIR_QUEUE_FULL'
  | 'E_MALFORMED_ENTRY'
  | 'E_SHARD_COUNT'

/**
 * Every code an error thrown (or reported through `onEvent`, or recorded in a dead letter) by this package
 * can carry: its own and the shared ones of `@tierkit/contracts` it uses.
 */
export type InvalidationErrorCode =
  | InvalidationOwnErrorCode
  | 'E_INVALID_ARGUMENT'
  | 'E_CLOSED'
  | 'E_UNSERIALIZABLE'
  | 'E_CORRUPT_PAYLOAD'
  | 'E_ABORTED'

/** Base class of the errors this package defines (a `TierkitError`). */
export class InvalidationError<
  Code extends InvalidationOwnErrorCode = InvalidationOwnErrorCode,
> extends TierkitError<Code> {}

/** The message of an error, for the one line of a wrapping error. */
export function reasonOf(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e)
  return m.length > 200 ? `${m.slice(0, 200)}...` : m
}

/** A tag that is not in the `knownTags` list given to `createTags` (code `E_UNKNOWN_TAG`); nothing changed. */
export class UnknownTagError extends InvalidationError<'E_UNKNOWN_TAG'> {
  /** The unknown tag. */
  readonly tag: string
  /**
   * @param where - the call, e.g. `tags.set`
   * @param tag - the tag
   */
  constructor(where: string, tag: string) {
    super(
      'E_UNKNOWN_TAG',
      `${where}: unknown tag ${JSON.stringify(tag.length > 60 ? `${tag.slice(0, 60)}...` : tag)} (not in knownTags)`,
    )
    this.tag = tag
  }
}

/** The Store methods this package calls. */
export type StoreOperation = 'save' | 'saveMany' | 'remove'

/** The `Store` threw or rejected (code `E_STORE_FAILED`); the error is the `cause`. */
export class StoreError extends InvalidationError<'E_STORE_FAILED'> {
  /** The Store method that failed. */
  readonly operation: StoreOperation
  /** The key being written (the first key for `saveMany`). */
  readonly key: string
  /**
   * @param operation - the Store method
   * @param key - the key (the first one for `saveMany`)
   * @param cause - what the Store threw
   */
  constructor(operation: StoreOperation, key: string, cause: unknown) {
    super('E_STORE_FAILED', `Store.${operation}(${JSON.stringify(key)}) failed: ${reasonOf(cause)}`, {
      cause,
    })
    this.operation = operation
    this.key = key
  }
}

function describeResult(v: unknown): string {
  if (v === null) return 'null'
  if (typeof v === 'object') return Array.isArray(v) ? 'an array' : 'an object'
  if (typeof v === 'string') return `a string ${JSON.stringify(v.slice(0, 40))}`
  return `${typeof v} ${String(v)}`
}

/**
 * The `Store` returned something that is not allowed (code `E_STORE_BAD_RESULT`): `save`/`remove` must
 * resolve to `undefined`, `true` (applied) or `false` (skipped because a newer version is stored).
 */
export class StoreResultError extends InvalidationError<'E_STORE_BAD_RESULT'> {
  /** The Store method. */
  readonly operation: StoreOperation
  /** The key being written. */
  readonly key: string
  /** What the Store returned. */
  readonly result: unknown
  /**
   * @param operation - the Store method
   * @param key - the key
   * @param result - what it returned
   */
  constructor(operation: StoreOperation, key: string, result: unknown) {
    super(
      'E_STORE_BAD_RESULT',
      `Store.${operation}(${JSON.stringify(key)}) returned ${describeResult(result)}; expected undefined, true or false (return undefined explicitly when you wrap a driver call)`,
    )
    this.operation = operation
    this.key = key
    this.result = result
  }
}

/**
 * `writeThrough` wrote the database but could not set the cache; the key was deleted from the cache instead
 * (code `E_CACHE_WRITE_FAILED`), so no stale value is left. `cacheDeleted` is false only if that delete failed
 * too (then the key waits in the writer's repair queue).
 */
export class CacheWriteError extends InvalidationError<'E_CACHE_WRITE_FAILED'> {
  /** The key. */
  readonly key: string
  /** True when the stale entry was deleted after the failed set. */
  readonly cacheDeleted: boolean
  /**
   * @param key - the key
   * @param cacheDeleted - whether the fallback delete worked
   * @param cause - the cache's error
   */
  constructor(key: string, cacheDeleted: boolean, cause: unknown) {
    super(
      'E_CACHE_WRITE_FAILED',
      `writeThrough.write: the database was written but the cache could not be updated for ${JSON.stringify(key)} (${reasonOf(cause)})${
        cacheDeleted
          ? '; the key was deleted from the cache'
          : ' and the key could not be deleted either: it is retried in the background'
      }`,
      { cause },
    )
    this.key = key
    this.cacheDeleted = cacheDeleted
  }
}

/**
 * `deleteOnUpdate`/`remove` wrote the database but could not delete the key from the cache (code
 * `E_CACHE_DELETE_FAILED`): the key waits in the writer's repair queue, retried until the delete works.
 */
export class CacheDeleteError extends InvalidationError<'E_CACHE_DELETE_FAILED'> {
  /** The keys. */
  readonly keys: readonly string[]
  /**
   * @param keys - the keys
   * @param cause - the cache's error
   */
  constructor(keys: readonly string[], cause: unknown) {
    super(
      'E_CACHE_DELETE_FAILED',
      `the database was written but ${keys.length === 1 ? JSON.stringify(keys[0]) : `${keys.length} keys`} could not be deleted from the cache (${reasonOf(cause)}); retried in the background`,
      { cause },
    )
    this.keys = keys
  }
}

/** A write could not be appended to the write-behind stream (code `E_QUEUE_WRITE_FAILED`): it was NOT acknowledged. */
export class QueueWriteError extends InvalidationError<'E_QUEUE_WRITE_FAILED'> {
  /** The key. */
  readonly key: string
  /**
   * @param where - the call, `writeBehind.write` or `writeBehind.remove`
   * @param key - the key
   * @param cause - Redis' error (an ACL denial as contracts' `PermissionError` naming the command)
   */
  constructor(where: string, key: string, cause: unknown) {
    const redis = classifyRedisError(cause)
    super(
      'E_QUEUE_WRITE_FAILED',
      `${where}: could not queue the write of ${JSON.stringify(key)} in Redis (${reasonOf(redis)}); it was not acknowledged and the cache was not touched`,
      { cause: redis },
    )
    this.key = key
  }
}

/**
 * `flush()` or `close()` did not see the queue drained in time (code `E_FLUSH_TIMEOUT`). Nothing is lost: the
 * entries stay queued until a flusher applies them.
 */
export class FlushTimeoutError extends InvalidationError<'E_FLUSH_TIMEOUT'> {
  /** The queue name. */
  readonly queue: string
  /** The bound that was exceeded, in ms. */
  readonly timeout: number
  /** Entries still queued (that the call waited for) in the shards Redis could be asked about. */
  readonly remaining: number
  /** Shards Redis could not be asked about (their master unreachable); the last Redis error is the `cause`. */
  readonly unreachableShards: number
  /**
   * @param where - the call, e.g. `writeBehind.close`
   * @param details - the queue, the timeout, what is left; `cause`: the last Redis error
   */
  constructor(
    where: string,
    details: {
      queue: string
      timeout: number
      remaining: number
      unreachableShards: number
      cause?: unknown
    },
  ) {
    const { queue, timeout, remaining, unreachableShards } = details
    const cause = classifyRedisError(details.cause)
    const left = `${remaining} ${remaining === 1 ? 'entry is' : 'entries are'} still queued${
      unreachableShards > 0
        ? `, and ${unreachableShards} shard(s) could not be read (${reasonOf(cause)})`
        : ''
    }`
    super(
      'E_FLUSH_TIMEOUT',
      `${where}: the write-behind queue ${JSON.stringify(queue)} was not drained within ${timeout} ms: ${left}. Nothing is lost: they stay queued until a flusher applies them. Check that a flusher runs (createFlusher, or the flusher option) and that its Store succeeds (its retry and dead-letter events), or pass a longer { timeout }`,
      cause === undefined ? undefined : { cause },
    )
    this.queue = queue
    this.timeout = timeout
    this.remaining = remaining
    this.unreachableShards = unreachableShards
  }
}

/** Publishing on the invalidation bus failed (code `E_PUBLISH_FAILED`). */
export class PublishError extends InvalidationError<'E_PUBLISH_FAILED'> {
  /** The channel, when the bus is `createInvalidationBus`'s. */
  readonly channel: string | undefined
  /**
   * From a tags `deleteByTag` / `expireByTag`: what the call did in each layer although the bus failed (Redis
   * done, the CDN purged after it); `undefined` otherwise.
   */
  invalidation: TagInvalidation | undefined = undefined
  /**
   * @param channel - the bus channel (`undefined` for a bus of your own that threw)
   * @param cause - Redis' error (an ACL denial as contracts' `PermissionError` naming the command) or the timeout
   */
  constructor(channel: string | undefined, cause: unknown) {
    const redis = classifyRedisError(cause)
    super(
      'E_PUBLISH_FAILED',
      `bus.publish: could not publish${channel === undefined ? '' : ` on channel ${JSON.stringify(channel)}`} (${reasonOf(redis)})`,
      { cause: redis },
    )
    this.channel = channel
  }
}

/**
 * `ready()` did not see the connection come up and subscribe in time (code `E_READY_TIMEOUT`), e.g. Redis is
 * unreachable. Nothing is closed: the connection keeps retrying, and a later `ready()` may still resolve.
 * The last connection error, if any, is the `cause`.
 */
export class ReadyTimeoutError extends InvalidationError<'E_READY_TIMEOUT'> {
  /** What was waited for: `'the invalidation bus'` or `'the tracking invalidator'`. */
  readonly what: string
  /** The bound that was exceeded, in ms. */
  readonly timeout: number
  /**
   * @param where - the call, `bus.ready` or `tracking.ready`
   * @param what - what was waited for
   * @param timeout - the bound, in ms
   * @param lastError - the last connection error, if any (an ACL denial as contracts' `PermissionError`)
   */
  constructor(where: string, what: string, timeout: number, lastError?: unknown) {
    const cause = classifyRedisError(lastError)
    super(
      'E_READY_TIMEOUT',
      `${where}: ${what} was not ready within ${timeout} ms${
        cause === undefined ? '' : ` (last connection error: ${reasonOf(cause)})`
      }; it keeps retrying, a later ready() may resolve`,
      cause === undefined ? undefined : { cause },
    )
    this.what = what
    this.timeout = timeout
  }
}

/**
 * A tag operation could not use Redis in time (code `E_TAGS_UNAVAILABLE`): Redis down or slower than the
 * tags' `timeout`, a Cluster master down. `set` stored nothing; `invalidateTags` may or may not have been
 * applied (calling it again is safe: an invalidation only ever invalidates more). Reads never throw it: they
 * degrade (`get` misses, `getOrLoad` answers from the loader), since a value that cannot be checked against
 * its tags must not be served.
 */
export class TagsUnavailableError extends InvalidationError<'E_TAGS_UNAVAILABLE'> {
  /** The operation that failed. */
  readonly operation:
    | 'set'
    | 'get'
    | 'getOrLoad'
    | 'invalidateTags'
    | 'deleteByTag'
    | 'expireByTag'
    | 'expire'
  /** The tags involved. */
  readonly tags: readonly string[]
  /**
   * @param operation - the tags method
   * @param tags - the tags
   * @param cause - Redis' error (an ACL denial as contracts' `PermissionError` naming the command) or the timeout
   */
  constructor(operation: TagsUnavailableError['operation'], tags: readonly string[], cause: unknown) {
    super(
      'E_TAGS_UNAVAILABLE',
      `tags.${operation}: could not ${operation === 'invalidateTags' || operation === 'deleteByTag' || operation === 'expireByTag' ? 'update' : 'read'} the versions of ${tags.length} tag(s) in Redis (${reasonOf(cause)})`,
      { cause },
    )
    this.operation = operation
    this.tags = [...tags]
  }
}

/**
 * `deleteOnUpdate`/`writeThrough` wrote the database, could not invalidate the cache (Redis or the bus
 * unreachable) AND could not queue the key for the background retry: the writer's repair queue holds
 * `maxKeys` keys already (code `E_REPAIR_QUEUE_FULL`). The key may be served stale until its TTL; `cause`
 * is the invalidation's own error.
 */
export class RepairQueueFullError extends InvalidationError<'E_REPAIR_QUEUE_FULL'> {
  /** The key left without invalidation. */
  readonly key: string
  /** The bound of the queue. */
  readonly maxKeys: number
  /**
   * @param key - the key
   * @param maxKeys - the bound
   * @param cause - the invalidation's error
   */
  constructor(key: string, maxKeys: number, cause: unknown) {
    super(
      'E_REPAIR_QUEUE_FULL',
      `the database was written but the cache could not be invalidated for ${JSON.stringify(key)} (${reasonOf(cause)}), and the repair queue is full (${maxKeys} keys): it may be served stale until its TTL`,
      { cause },
    )
    this.key = key
    this.maxKeys = maxKeys
  }
}

/**
 * A queue entry that is not a write (a field missing or garbage, written by something else than
 * `writeBehind`): dead-lettered at once with this code (`E_MALFORMED_ENTRY`).
 */
export class MalformedEntryError extends InvalidationError<'E_MALFORMED_ENTRY'> {
  /** The stream entry id. */
  readonly id: string
  /** @param id - the stream entry id */
  constructor(id: string) {
    super('E_MALFORMED_ENTRY', `flusher: queue entry ${id} is not a write (a field is missing or malformed)`)
    this.id = id
  }
}

/**
 * Reported through a flusher's `onEvent` (`{ type: 'error' }`, code `E_SHARD_COUNT`): the writers of the queue
 * recorded more shards than the flusher was given; it reads them all.
 */
export class ShardCountError extends InvalidationError<'E_SHARD_COUNT'> {
  /** The shard count the writers recorded. */
  readonly recorded: number
  /** The shard count this flusher was given. */
  readonly given: number
  /**
   * @param queue - the queue name
   * @param recorded - the writers' count
   * @param given - the flusher's count
   */
  constructor(queue: string, recorded: number, given: number) {
    super(
      'E_SHARD_COUNT',
      `createFlusher: the writers of queue ${JSON.stringify(queue)} use ${recorded} shards, this flusher was given ${given}; it reads all ${recorded} (give writers and flushers the same shards option)`,
    )
    this.recorded = recorded
    this.given = given
  }
}

/** Every error class this package throws or reports, by its code (the shared ones of `@tierkit/contracts` included). */
export const errors: {
  readonly E_INVALID_ARGUMENT: typeof TierkitTypeError
  readonly E_CLOSED: typeof ClosedError
  readonly E_UNSERIALIZABLE: typeof UnserializableValueError
  readonly E_CORRUPT_PAYLOAD: typeof CorruptPayloadError
  readonly E_ABORTED: typeof AbortedError
  readonly E_UNKNOWN_TAG: typeof UnknownTagError
  readonly E_STORE_FAILED: typeof StoreError
  readonly E_STORE_BAD_RESULT: typeof StoreResultError
  readonly E_CACHE_WRITE_FAILED: typeof CacheWriteError
  readonly E_CACHE_DELETE_FAILED: typeof CacheDeleteError
  readonly E_QUEUE_WRITE_FAILED: typeof QueueWriteError
  readonly E_FLUSH_TIMEOUT: typeof FlushTimeoutError
  readonly E_PUBLISH_FAILED: typeof PublishError
  readonly E_READY_TIMEOUT: typeof ReadyTimeoutError
  readonly E_TAGS_UNAVAILABLE: typeof TagsUnavailableError
  readonly E_REPAIR_QUEUE_FULL: typeof RepairQueueFullError
  readonly E_MALFORMED_ENTRY: typeof MalformedEntryError
  readonly E_SHARD_COUNT: typeof ShardCountError
} = Object.freeze({
  E_INVALID_ARGUMENT: TierkitTypeError,
  E_CLOSED: ClosedError,
  E_UNSERIALIZABLE: UnserializableValueError,
  E_CORRUPT_PAYLOAD: CorruptPayloadError,
  E_ABORTED: AbortedError,
  E_UNKNOWN_TAG: UnknownTagError,
  E_STORE_FAILED: StoreError,
  E_STORE_BAD_RESULT: StoreResultError,
  E_CACHE_WRITE_FAILED: CacheWriteError,
  E_CACHE_DELETE_FAILED: CacheDeleteError,
  E_QUEUE_WRITE_FAILED: QueueWriteError,
  E_FLUSH_TIMEOUT: FlushTimeoutError,
  E_PUBLISH_FAILED: PublishError,
  E_READY_TIMEOUT: ReadyTimeoutError,
  E_TAGS_UNAVAILABLE: TagsUnavailableError,
  E_REPAIR_QUEUE_FULL: RepairQueueFullError,
  E_MALFORMED_ENTRY: MalformedEntryError,
  E_SHARD_COUNT: ShardCountError,
})

/** An `UnserializableValueError` for `key`, keeping what the serializer threw as its `cause`. */
export function unserializable(key: string, e: unknown): UnserializableValueError {
  if (e instanceof UnserializableValueError)
    return new UnserializableValueError(e.path, e.reason, key, { cause: e })
  const reason =
    e instanceof RangeError
      ? 'a value nested too deeply to encode'
      : `a value the serializer refused (${reasonOf(e)})`
  return new UnserializableValueError('$', reason, key, { cause: e })
}

/** A `CorruptPayloadError` for a queued value that could not be decoded. */
export function corruptEntry(key: string, id: string, e: unknown): CorruptPayloadError {
  if (e instanceof CorruptPayloadError && e.message.includes(JSON.stringify(key))) return e
  return new CorruptPayloadError(
    `the queued value of ${JSON.stringify(key)} (entry ${id}) could not be decoded: ${reasonOf(e)}`,
    { cause: e } satisfies TierkitErrorOptions,
  )
}
