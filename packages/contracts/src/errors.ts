/**
 * The one error base of the tierkit family. Every error a tierkit package throws on purpose is a
 * {@link TierkitError} (with a stable `code`, context fields and the `cause` it wraps) or, for a bad argument,
 * a {@link TierkitTypeError} (a `TypeError` with the code `E_INVALID_ARGUMENT` and an exact message).
 */

/** Options every tierkit error accepts. */
export interface TierkitErrorOptions {
  /** The error this one wraps. */
  cause?: unknown
}

/**
 * Base class of every tierkit error: `code` is stable (match on it, not on the message), `name` is the class
 * name, `cause` is kept.
 * @example
 * ```ts
 * try { await cache.getOrLoad(key, loader) } catch (e) {
 *   if (e instanceof TierkitError && e.code === 'E_LOADER_TIMEOUT') reply.code(504)
 * }
 * ```
 */
export class TierkitError<Code extends string = string> extends Error {
  /** Stable machine-readable code (`E_...`). */
  readonly code: Code

  /**
   * @param code - the stable code
   * @param message - one line saying what happened and, where it helps, what to do
   * @param options - `cause`: the error this one wraps
   */
  constructor(code: Code, message: string, options?: TierkitErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.code = code
  }
}

/**
 * A bad argument or option: a `TypeError` (so `instanceof TypeError` holds) with the code `E_INVALID_ARGUMENT`
 * and a message of one shape, `<function>: <what> must be <rule>, got <value>`. Nothing was changed.
 */
export class TierkitTypeError extends TypeError {
  /** Always `E_INVALID_ARGUMENT`. */
  readonly code: 'E_INVALID_ARGUMENT' = 'E_INVALID_ARGUMENT'

  /** @param message - the exact message (see {@link invalidArgument} for the shape) */
  constructor(message: string) {
    super(message)
    this.name = 'TypeError'
  }
}

/**
 * Thrown by every call on something that was closed (`close()`): a cache, a bus, a pool, a writer.
 * Code `E_CLOSED`; `resource` names what was closed.
 */
export class ClosedError extends TierkitError<'E_CLOSED'> {
  /** What was closed, e.g. `'the cache "users"'`. */
  readonly resource: string

  /** @param resource - what was closed, as the message names it */
  constructor(resource: string) {
    super('E_CLOSED', `${resource} is closed`)
    this.resource = resource
  }
}

/**
 * The serializer cannot encode a value exactly (a function, a symbol, a class instance, a cycle, a hidden or
 * accessor property...). Nothing was stored or queued. Code `E_UNSERIALIZABLE`.
 */
export class UnserializableValueError extends TierkitError<'E_UNSERIALIZABLE'> {
  /** Where in the value, e.g. `$.user.avatar` (`$` is the value itself). */
  readonly path: string
  /** Why it cannot be encoded, e.g. `'a function'`, `'a circular reference'`. */
  readonly reason: string
  /** The cache key, when the value was being stored under one. */
  readonly key: string | undefined

  /**
   * @param path - where in the value
   * @param reason - what is there and cannot be encoded
   * @param key - the key the value was stored under, if any
   */
  constructor(path: string, reason: string, key?: string, options?: TierkitErrorOptions) {
    super(
      'E_UNSERIALIZABLE',
      `cannot serialize ${reason} at ${path}${key === undefined ? '' : ` (key ${JSON.stringify(key)})`}`,
      options,
    )
    this.path = path
    this.reason = reason
    this.key = key
  }
}

/** A payload could not be decoded (a cache treats it as a miss and removes it). Code `E_CORRUPT_PAYLOAD`. */
export class CorruptPayloadError extends TierkitError<'E_CORRUPT_PAYLOAD'> {
  /**
   * @param detail - what is wrong with the payload
   * @param options - `cause`: the parser's error
   */
  constructor(detail: string, options?: TierkitErrorOptions) {
    super('E_CORRUPT_PAYLOAD', `corrupt payload: ${detail}`, options)
  }
}

/**
 * One caller stopped waiting because its `signal` was aborted; a load shared with other callers goes on for
 * them. `name` is `'AbortError'` (as `fetch` and Node's APIs name theirs); `cause` is the signal's `reason`.
 * Code `E_ABORTED`.
 */
export class AbortedError extends TierkitError<'E_ABORTED'> {
  /** The key the caller was waiting for, if any (any type: an L1's keys need not be strings). */
  readonly key: unknown

  /**
   * @param what - what was aborted, e.g. `'getOrLoad'`
   * @param reason - the signal's `reason`
   * @param key - the key, if any
   */
  constructor(what: string, reason: unknown, key?: unknown) {
    super('E_ABORTED', `${what} was aborted${reason === undefined ? '' : ' by its signal'}`, {
      cause: reason,
    })
    this.name = 'AbortError'
    this.key = key
  }
}

/** What a Redis ACL denied: the command itself, a key it names, or a channel it names. */
export type PermissionDenied = 'command' | 'key' | 'channel'

/**
 * The Redis ACL user lacks a permission a call needs: Redis answered `NOPERM ...` (or, from inside a script,
 * `ERR The user executing the script can't ...`). Code `E_REDIS_NOPERM`; `command` is the command refused as
 * Redis names it (`get`, `evalsha`, `client|tracking`), `denied` whether the command, a key or a channel was
 * refused, `cause` the reply error. Redis is up: it is not an outage (no retry helps until the ACL is changed).
 * Made by `classifyRedisError` of `@tierkit/contracts/redis`.
 * @example `Redis ACL denied the command 'get' (key): NOPERM this user has no permissions to access one of the keys used as arguments`
 */
export class PermissionError extends TierkitError<'E_REDIS_NOPERM'> {
  /** The command refused, lower-case as Redis names it: `get`, `xadd`, `client|tracking`, `evalsha`... */
  readonly command: string
  /** What was refused: the command, a key or a channel it names. */
  readonly denied: PermissionDenied
  /**
   * For a script (`eval`, `evalsha`) whose own command was refused (Redis does not say which): the commands
   * the script runs, one of which the ACL lacks, when the caller knows them; else `undefined`.
   */
  readonly scriptCommands: readonly string[] | undefined

  /**
   * @param command - the command refused
   * @param denied - what was refused
   * @param cause - the reply error (its message is Redis's)
   * @param scriptCommands - for a script: the commands it runs
   */
  constructor(command: string, denied: PermissionDenied, cause: unknown, scriptCommands?: readonly string[]) {
    const reply = String((cause as Error)?.message ?? cause)
    const runs = scriptCommands === undefined ? '' : `; the script runs ${scriptCommands.join(', ')}`
    super('E_REDIS_NOPERM', `Redis ACL denied the command '${command}' (${denied}${runs}): ${reply}`, {
      cause,
    })
    this.command = command
    this.denied = denied
    this.scriptCommands = scriptCommands
  }
}

/** The codes of the errors defined here. */
export type ContractsErrorCode =
  | 'E_INVALID_ARGUMENT'
  | 'E_CLOSED'
  | 'E_UNSERIALIZABLE'
  | 'E_CORRUPT_PAYLOAD'
  | 'E_ABORTED'
  | 'E_REDIS_NOPERM'

/** Every error class of this package by its code. */
export const errors: {
  readonly E_INVALID_ARGUMENT: typeof TierkitTypeError
  readonly E_CLOSED: typeof ClosedError
  readonly E_UNSERIALIZABLE: typeof UnserializableValueError
  readonly E_CORRUPT_PAYLOAD: typeof CorruptPayloadError
  readonly E_ABORTED: typeof AbortedError
  readonly E_REDIS_NOPERM: typeof PermissionError
} = Object.freeze({
  E_INVALID_ARGUMENT: TierkitTypeError,
  E_CLOSED: ClosedError,
  E_UNSERIALIZABLE: UnserializableValueError,
  E_CORRUPT_PAYLOAD: CorruptPayloadError,
  E_ABORTED: AbortedError,
  E_REDIS_NOPERM: PermissionError,
})

/** Whether `e` is an error of the tierkit family, with this `code` when one is given. */
export function isTierkitError(e: unknown, code?: string): e is TierkitError | TierkitTypeError {
  if (!(e instanceof TierkitError) && !(e instanceof TierkitTypeError)) return false
  return code === undefined || e.code === code
}
