/** Error classes of @tierkit/redis-aside. Each has a stable `code`. */

/** Base class of every error this package throws. */
export class RedisAsideError extends Error {
  /** Stable machine-readable code, e.g. `E_LOADER_TIMEOUT`. */
  readonly code: string
  /** The cache key concerned, when there is one. */
  readonly key: string | undefined

  constructor(code: string, message: string, options: { key?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.code = code
    this.key = options.key
  }
}

/** The loader did not settle within `timeouts.hard` and no stale value could be served. Code `E_LOADER_TIMEOUT`. */
export class LoaderTimeoutError extends RedisAsideError {
  /** The hard timeout that passed, in ms. */
  readonly timeoutMs: number
  constructor(key: string, timeoutMs: number) {
    super('E_LOADER_TIMEOUT', `loader for key "${key}" did not settle within ${timeoutMs} ms`, { key })
    this.timeoutMs = timeoutMs
  }
}

/** The loader threw (or rejected) and no stale value could be served; the loader's error is `cause`. Code `E_LOADER_FAILED`. */
export class LoaderError extends RedisAsideError {
  constructor(key: string, cause: unknown) {
    super(
      'E_LOADER_FAILED',
      `loader for key "${key}" failed: ${String((cause as Error)?.message ?? cause)}`,
      {
        key,
        cause,
      },
    )
  }
}

/** A value's encoded size is over `maxValueBytes`; nothing was stored. Code `E_VALUE_TOO_LARGE`. */
export class ValueTooLargeError extends RedisAsideError {
  /** Encoded size in bytes. */
  readonly bytes: number
  /** The configured limit in bytes. */
  readonly maxBytes: number
  constructor(key: string, bytes: number, maxBytes: number) {
    super(
      'E_VALUE_TOO_LARGE',
      `value for key "${key}" is ${bytes} bytes encoded, over maxValueBytes ${maxBytes}`,
      {
        key,
      },
    )
    this.bytes = bytes
    this.maxBytes = maxBytes
  }
}

/** A value holds something the serializer cannot round-trip exactly (a function, a symbol, a class instance...). Code `E_UNSERIALIZABLE`. */
export class UnserializableValueError extends RedisAsideError {
  /** Path of the offending part, e.g. `$.user.avatar`. */
  readonly path: string
  constructor(path: string, what: string, key?: string) {
    super('E_UNSERIALIZABLE', `cannot serialize ${what} at ${path}`, key === undefined ? {} : { key })
    this.path = path
  }
}

/** A stored payload could not be decoded (it is treated as a miss and deleted, never thrown by reads). Code `E_CORRUPT_PAYLOAD`. */
export class CorruptPayloadError extends RedisAsideError {
  constructor(message: string, cause?: unknown) {
    super('E_CORRUPT_PAYLOAD', `corrupt payload: ${message}`, cause === undefined ? {} : { cause })
  }
}

/**
 * An explicit write (`set`, `delete`, `deleteMany`) could not reach Redis (error, `timeouts.redis`, or the
 * circuit breaker is open). The L1 part was applied. Code `E_REDIS_UNAVAILABLE`.
 */
export class RedisUnavailableError extends RedisAsideError {
  constructor(operation: string, cause?: unknown) {
    super(
      'E_REDIS_UNAVAILABLE',
      `redis unavailable for ${operation}${cause ? `: ${String((cause as Error)?.message ?? cause)}` : ''}`,
      cause === undefined ? {} : { cause },
    )
  }
}

/**
 * Redis answered an explicit write (`set`, `delete`, `deleteMany`) with an error reply (`OOM`, `READONLY`,
 * ...): Redis is up but refused the command, so nothing was stored there, and the L1 copy that `set` wrote
 * first was removed again. It never counts against the circuit breaker. `cause` is the reply error.
 * Code `E_REDIS_REPLY`.
 */
export class RedisReplyError extends RedisAsideError {
  constructor(operation: string, cause: unknown, key?: string) {
    super('E_REDIS_REPLY', `redis refused ${operation}: ${String((cause as Error)?.message ?? cause)}`, {
      cause,
      ...(key === undefined ? {} : { key }),
    })
  }
}

/** The cache was closed with `close()`. Code `E_CACHE_CLOSED`. */
export class CacheClosedError extends RedisAsideError {
  constructor() {
    super('E_CACHE_CLOSED', 'cache is closed')
  }
}
