/** Error classes of `@tierkit/invalidation`; each carries a stable `code`. */

/** Base class of every error this package throws (except {@link InvalidArgumentError}, a `TypeError`). */
export class InvalidationError extends Error {
  /** Stable machine-readable code, e.g. `E_STORE_FAILED`. */
  readonly code: string
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
    this.code = code
  }
}

/**
 * A bad argument (empty key, non-string tag, unknown tag, bad option). It is a `TypeError` with an exact
 * message and the code `E_INVALID_ARGUMENT`; nothing was changed.
 */
export class InvalidArgumentError extends TypeError {
  /** Always `E_INVALID_ARGUMENT`. */
  readonly code: 'E_INVALID_ARGUMENT' = 'E_INVALID_ARGUMENT'
  constructor(message: string) {
    super(message)
    this.name = 'InvalidArgumentError'
  }
}

/** A tag that is not in the `knownTags` list given to `createTags` (code `E_UNKNOWN_TAG`). */
export class UnknownTagError extends InvalidationError {
  /** The unknown tag. */
  readonly tag: string
  constructor(tag: string) {
    super('E_UNKNOWN_TAG', `invalidation: unknown tag ${JSON.stringify(tag)}`)
    this.tag = tag
  }
}

/** The `Store` threw or rejected (code `E_STORE_FAILED`); the error is the `cause`. */
export class StoreError extends InvalidationError {
  /** The Store method that failed. */
  readonly operation: 'save' | 'saveMany' | 'remove' | 'load'
  /** The key being written (the first key for `saveMany`). */
  readonly key: string
  constructor(operation: StoreError['operation'], key: string, cause: unknown) {
    super('E_STORE_FAILED', `invalidation: Store.${operation}(${JSON.stringify(key)}) failed`, { cause })
    this.operation = operation
    this.key = key
  }
}

/**
 * The `Store` returned something that is not allowed (code `E_STORE_BAD_RESULT`): `save`/`remove` must
 * resolve to `undefined`, `true` (applied) or `false` (skipped because a newer version is stored).
 */
export class StoreResultError extends InvalidationError {
  /** The Store method. */
  readonly operation: 'save' | 'saveMany' | 'remove' | 'load'
  /** The key being written. */
  readonly key: string
  /** What the Store returned. */
  readonly result: unknown
  constructor(operation: StoreResultError['operation'], key: string, result: unknown) {
    super(
      'E_STORE_BAD_RESULT',
      `invalidation: Store.${operation}(${JSON.stringify(key)}) returned ${describe(result)}; expected undefined, true or false`,
    )
    this.operation = operation
    this.key = key
    this.result = result
  }
}

/**
 * `writeThrough` wrote the database but could not set the cache; the key was deleted from the cache instead
 * (code `E_CACHE_WRITE_FAILED`), so no stale value is left. `cacheDeleted` is false only if that delete failed too.
 */
export class CacheWriteError extends InvalidationError {
  /** The key. */
  readonly key: string
  /** True when the stale entry was deleted after the failed set. */
  readonly cacheDeleted: boolean
  constructor(key: string, cacheDeleted: boolean, cause: unknown) {
    super(
      'E_CACHE_WRITE_FAILED',
      `invalidation: the database was written but the cache could not be updated for ${JSON.stringify(key)}${
        cacheDeleted ? ' (the key was deleted from the cache)' : ' and the key could not be deleted either'
      }`,
      { cause },
    )
    this.key = key
    this.cacheDeleted = cacheDeleted
  }
}

/**
 * `deleteOnUpdate`/`remove` wrote the database but could not delete the key from the cache (code
 * `E_CACHE_DELETE_FAILED`): the cache may serve the old value until its TTL.
 */
export class CacheDeleteError extends InvalidationError {
  /** The keys. */
  readonly keys: readonly string[]
  constructor(keys: readonly string[], cause: unknown) {
    super('E_CACHE_DELETE_FAILED', `invalidation: could not delete ${keys.length} key(s) from the cache`, {
      cause,
    })
    this.keys = keys
  }
}

/** A write could not be appended to the write-behind stream (code `E_QUEUE_WRITE_FAILED`): it was NOT acknowledged. */
export class QueueWriteError extends InvalidationError {
  /** The key. */
  readonly key: string
  constructor(key: string, cause: unknown) {
    super('E_QUEUE_WRITE_FAILED', `invalidation: could not queue the write of ${JSON.stringify(key)}`, {
      cause,
    })
    this.key = key
  }
}

/** A value the serializer cannot encode (code `E_UNSERIALIZABLE`); nothing was written. */
export class UnserializableValueError extends InvalidationError {
  /** The key. */
  readonly key: string
  constructor(key: string, cause: unknown) {
    super('E_UNSERIALIZABLE', `invalidation: the value of ${JSON.stringify(key)} cannot be serialized`, {
      cause,
    })
    this.key = key
  }
}

/** `flush()` did not see the queue drained in time (code `E_FLUSH_TIMEOUT`); nothing is lost, the entries stay queued. */
export class FlushTimeoutError extends InvalidationError {
  /** Entries still queued (at most the id the flush waited for). */
  readonly remaining: number
  constructor(timeoutMs: number, remaining: number) {
    super('E_FLUSH_TIMEOUT', `invalidation: the write-behind queue was not drained within ${timeoutMs} ms`)
    this.remaining = remaining
  }
}

/** Publishing on the invalidation bus failed (code `E_PUBLISH_FAILED`). */
export class PublishError extends InvalidationError {
  constructor(cause: unknown) {
    super('E_PUBLISH_FAILED', 'invalidation: could not publish on the invalidation bus', { cause })
  }
}

/**
 * `ready()` did not see the connection come up and subscribe in time (code `E_READY_TIMEOUT`), e.g. Redis is
 * unreachable. Nothing is closed: the connection keeps retrying, and a later `ready()` may still resolve.
 * The last connection error, if any, is the `cause`.
 */
export class ReadyTimeoutError extends InvalidationError {
  /** What was waited for: `'the invalidation bus'` or `'the tracking invalidator'`. */
  readonly what: string
  /** The bound that was exceeded, in ms. */
  readonly timeoutMs: number
  constructor(what: string, timeoutMs: number, cause?: unknown) {
    super('E_READY_TIMEOUT', `invalidation: ${what} was not ready within ${timeoutMs} ms`, { cause })
    this.what = what
    this.timeoutMs = timeoutMs
  }
}

/** The object was closed (code `E_CLOSED`). */
export class ClosedError extends InvalidationError {
  constructor(what: string) {
    super('E_CLOSED', `invalidation: ${what} is closed`)
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null'
  if (typeof v === 'object') return Array.isArray(v) ? 'an array' : 'an object'
  if (typeof v === 'string') return `a string ${JSON.stringify(v.slice(0, 40))}`
  return `${typeof v} ${String(v)}`
}

/**
 * A tag operation could not use Redis in time (code `E_TAGS_UNAVAILABLE`): Redis down or slower than the
 * tags' `timeoutMs`, a Cluster master down. `set` stored nothing; `invalidateTags` may or may not have been
 * applied (calling it again is safe: an invalidation only ever invalidates more). Reads never throw it: they
 * degrade (`get` misses, `getOrLoad` answers from the loader), since a value that cannot be checked against
 * its tags must not be served.
 */
export class TagsUnavailableError extends InvalidationError {
  /** The operation that failed. */
  readonly operation: 'set' | 'get' | 'getOrLoad' | 'invalidateTags'
  /** The tags involved. */
  readonly tags: readonly string[]
  constructor(operation: TagsUnavailableError['operation'], tags: readonly string[], cause: unknown) {
    super(
      'E_TAGS_UNAVAILABLE',
      `invalidation: ${operation} could not ${operation === 'invalidateTags' ? 'update' : 'read'} the versions of ${tags.length} tag(s) in Redis`,
      { cause },
    )
    this.operation = operation
    this.tags = [...tags]
  }
}

/**
 * The default encoding (JSON) would change the value (code `E_UNSERIALIZABLE`, like its base class): a Map,
 * Set, Date, bigint, `undefined` property, non-finite number, -0, function, symbol, class instance, cycle,
 * accessor or non-enumerable property, sparse array. `path` names the offending property (`$.user.roles`,
 * `$.list[1]`, `$` for the value itself). Nothing was queued or cached.
 */
export class LossyValueError extends UnserializableValueError {
  /** Where in the value: `$` is the value itself, then `.name`, `["odd name"]`, `[index]`. */
  readonly path: string
  /** What JSON would do to it, e.g. `a Map (JSON turns it into {})`. */
  readonly reason: string
  constructor(key: string, path: string, reason: string) {
    super(key, new TypeError(`${path}: ${reason}`))
    this.message = `invalidation: the value of ${JSON.stringify(key)} cannot be queued as JSON without change: ${path} is ${reason}`
    this.path = path
    this.reason = reason
  }
}

/**
 * `deleteOnUpdate`/`writeThrough` wrote the database, could not invalidate the cache (Redis or the bus
 * unreachable) AND could not queue the key for the background retry: the writer's repair queue holds
 * `maxKeys` keys already (code `E_REPAIR_QUEUE_FULL`). The key may be served stale until its TTL; `cause`
 * is the invalidation's own error.
 */
export class RepairQueueFullError extends InvalidationError {
  /** The key left without invalidation. */
  readonly key: string
  /** The bound of the queue. */
  readonly maxKeys: number
  constructor(key: string, maxKeys: number, cause: unknown) {
    super(
      'E_REPAIR_QUEUE_FULL',
      `invalidation: the database was written but the cache could not be invalidated for ${JSON.stringify(key)}, and the repair queue is full (${maxKeys} keys)`,
      { cause },
    )
    this.key = key
    this.maxKeys = maxKeys
  }
}
