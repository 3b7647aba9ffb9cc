/**
 * Error classes of @tierkit/redis-aside. Every error extends `TierkitError` of `@tierkit/contracts` (a stable
 * `code`, `name` = the class name, `cause` kept); a bad argument is a `TierkitTypeError`. The errors shared
 * by the family (`ClosedError`, `AbortedError`, `UnserializableValueError`, `CorruptPayloadError`,
 * `PermissionError`) are the ones of `@tierkit/contracts`.
 */
import {
  AbortedError,
  ClosedError,
  CorruptPayloadError,
  PermissionError,
  TierkitError,
  TierkitTypeError,
  UnserializableValueError,
} from '@tierkit/contracts'

/** The codes of the error classes defined by this package. */
export type RedisAsideOwnErrorCode =
  | 'E_LOADER_TIMEOUT'
  | 'E_LOADER_FAILED'
  | 'E_VALUE_TOO_LARGE'
  | 'E_REDIS_UNAVAILABLE'
  | 'E_REDIS_REPLY'

/**
 * Every code an error thrown or reported by this package can carry: its own, and the shared ones of
 * `@tierkit/contracts` it uses (`E_CLOSED`, `E_ABORTED`, `E_UNSERIALIZABLE`, `E_CORRUPT_PAYLOAD`,
 * `E_INVALID_ARGUMENT`, and `E_REDIS_NOPERM`: an ACL denial, reported by a read's `redis-error` event and the
 * `cause` of a write's `RedisReplyError`). The keys of {@link errors}.
 */
export type RedisAsideErrorCode =
  | RedisAsideOwnErrorCode
  | 'E_CLOSED'
  | 'E_ABORTED'
  | 'E_UNSERIALIZABLE'
  | 'E_CORRUPT_PAYLOAD'
  | 'E_INVALID_ARGUMENT'
  | 'E_REDIS_NOPERM'

function messageOf(cause: unknown): string {
  return String((cause as Error)?.message ?? cause)
}

/** Base class of the errors this package defines: a `TierkitError` with the cache `key` concerned, if any. */
export class RedisAsideError<
  Code extends RedisAsideOwnErrorCode = RedisAsideOwnErrorCode,
> extends TierkitError<Code> {
  /** The cache key concerned, when there is one. */
  readonly key: string | undefined

  /**
   * @param code - the stable code
   * @param message - what happened
   * @param options - `key`: the cache key; `cause`: the error this one wraps
   */
  constructor(code: Code, message: string, options: { key?: string; cause?: unknown } = {}) {
    super(code, message, options.cause === undefined ? undefined : { cause: options.cause })
    this.key = options.key
  }
}

/** The loader did not settle within `timeouts.hard` and no stale value could be served. Code `E_LOADER_TIMEOUT`. */
export class LoaderTimeoutError extends RedisAsideError<'E_LOADER_TIMEOUT'> {
  /** The hard timeout that passed, in ms. */
  readonly timeout: number

  /**
   * @param key - the cache key
   * @param timeout - `timeouts.hard`, in ms
   */
  constructor(key: string, timeout: number) {
    super('E_LOADER_TIMEOUT', `loader for key "${key}" did not settle within ${timeout} ms`, { key })
    this.timeout = timeout
  }
}

/** The loader threw (or rejected) and no stale value could be served; the loader's error is `cause`. Code `E_LOADER_FAILED`. */
export class LoaderError extends RedisAsideError<'E_LOADER_FAILED'> {
  /**
   * @param key - the cache key
   * @param cause - what the loader threw
   */
  constructor(key: string, cause: unknown) {
    super('E_LOADER_FAILED', `loader for key "${key}" failed: ${messageOf(cause)}`, { key, cause })
  }
}

/** A value's encoded size is over `maxValueBytes`; nothing was stored. Code `E_VALUE_TOO_LARGE`. */
export class ValueTooLargeError extends RedisAsideError<'E_VALUE_TOO_LARGE'> {
  /** Encoded size in bytes. */
  readonly bytes: number
  /** The configured limit in bytes (`maxValueBytes`). */
  readonly maxBytes: number

  /**
   * @param key - the cache key
   * @param bytes - the encoded size
   * @param maxBytes - `maxValueBytes`
   */
  constructor(key: string, bytes: number, maxBytes: number) {
    super(
      'E_VALUE_TOO_LARGE',
      `value for key "${key}" is ${bytes} bytes encoded, over maxValueBytes ${maxBytes}`,
      { key },
    )
    this.bytes = bytes
    this.maxBytes = maxBytes
  }
}

/**
 * A call could not reach Redis: the reason says why (`timed out after 200 ms`, `circuit breaker open`, or the
 * connection's error, which is also `cause`). Thrown by the explicit writes (`set`, `delete`, `deleteMany`:
 * their L1 part was applied); reads never reject for it, they report it through `onEvent` (`redis-error`)
 * and answer from the loader. Code `E_REDIS_UNAVAILABLE`.
 * @example `redis unavailable for get "user:1": circuit breaker open`
 */
export class RedisUnavailableError extends RedisAsideError<'E_REDIS_UNAVAILABLE'> {
  /** The call: `set`, `delete`, `deleteMany`, or an internal one (`get`, `mget`, `fill`, `lock`, ...). */
  readonly operation: string
  /** Why: `timed out after N ms`, `circuit breaker open`, or the connection error's message. */
  readonly reason: string

  /**
   * @param operation - the call
   * @param key - the cache key, if the call concerns one
   * @param reason - why Redis could not be reached
   * @param cause - the connection error, if any
   */
  constructor(operation: string, key: string | undefined, reason: string, cause?: unknown) {
    super(
      'E_REDIS_UNAVAILABLE',
      `redis unavailable for ${operation}${key === undefined ? '' : ` ${JSON.stringify(key)}`}: ${reason}`,
      { ...(key === undefined ? {} : { key }), ...(cause === undefined ? {} : { cause }) },
    )
    this.operation = operation
    this.reason = reason
  }
}

/**
 * Redis answered an explicit write (`set`, `delete`, `deleteMany`) with an error reply (`OOM`, `READONLY`,
 * ...): Redis is up but refused the command, so nothing was stored there, and the L1 copy that `set` wrote
 * first was removed again. It never counts against the circuit breaker. `cause` is the reply error.
 * Code `E_REDIS_REPLY`.
 */
export class RedisReplyError extends RedisAsideError<'E_REDIS_REPLY'> {
  /** The call Redis refused: `set`, `delete` or `deleteMany`. */
  readonly operation: string

  /**
   * @param operation - the call
   * @param key - the cache key
   * @param cause - the reply error
   */
  constructor(operation: string, key: string | undefined, cause: unknown) {
    super(
      'E_REDIS_REPLY',
      `redis refused ${operation}${key === undefined ? '' : ` ${JSON.stringify(key)}`}: ${messageOf(cause)}`,
      { cause, ...(key === undefined ? {} : { key }) },
    )
    this.operation = operation
  }
}

/** Every error class this package throws or reports, by its code (the shared ones of `@tierkit/contracts` included). */
export const errors: {
  readonly E_LOADER_TIMEOUT: typeof LoaderTimeoutError
  readonly E_LOADER_FAILED: typeof LoaderError
  readonly E_VALUE_TOO_LARGE: typeof ValueTooLargeError
  readonly E_REDIS_UNAVAILABLE: typeof RedisUnavailableError
  readonly E_REDIS_REPLY: typeof RedisReplyError
  readonly E_CLOSED: typeof ClosedError
  readonly E_ABORTED: typeof AbortedError
  readonly E_UNSERIALIZABLE: typeof UnserializableValueError
  readonly E_CORRUPT_PAYLOAD: typeof CorruptPayloadError
  readonly E_INVALID_ARGUMENT: typeof TierkitTypeError
  readonly E_REDIS_NOPERM: typeof PermissionError
} = Object.freeze({
  E_LOADER_TIMEOUT: LoaderTimeoutError,
  E_LOADER_FAILED: LoaderError,
  E_VALUE_TOO_LARGE: ValueTooLargeError,
  E_REDIS_UNAVAILABLE: RedisUnavailableError,
  E_REDIS_REPLY: RedisReplyError,
  E_CLOSED: ClosedError,
  E_ABORTED: AbortedError,
  E_UNSERIALIZABLE: UnserializableValueError,
  E_CORRUPT_PAYLOAD: CorruptPayloadError,
  E_INVALID_ARGUMENT: TierkitTypeError,
  E_REDIS_NOPERM: PermissionError,
})
