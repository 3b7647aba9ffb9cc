/**
 * Error classes of `@tierkit/cdn-headers`. Every error extends `TierkitError` from `@tierkit/contracts` (through
 * {@link CdnHeadersError}) with a stable `code`, `name` = the class name and the `cause` kept; a bad argument is a
 * `TierkitTypeError` (a `TypeError`, code `E_INVALID_ARGUMENT`) with the family's one message shape,
 * `<where>: <what> must be <rule>, got <value>`.
 *
 * The split: a route table that is wrong as a table (a rule's path, max-age, methods, tags, an unknown or renamed rule
 * option, a table option) is an {@link InvalidPolicyError} (`E_INVALID_POLICY`, with the rule's index and the field),
 * because the table is data and the index says which row to fix; anything else given to a function (not an array of
 * rules, a request without headers, a bad purge option) is a `TierkitTypeError`.
 *
 * @module
 */
import { TierkitError, TierkitTypeError } from '@tierkit/contracts'
import type { PurgeFailureReason } from './tag-purger.js'

/** The codes of this package's own error classes (subclasses of {@link CdnHeadersError}). */
export type CdnHeadersOwnErrorCode = 'E_INVALID_POLICY' | 'E_PURGE_FAILED'

/**
 * Every code an error thrown by this package can carry: its own classes' codes and `E_INVALID_ARGUMENT`
 * (`TierkitTypeError`, for a bad argument). The keys of {@link errors}.
 */
export type CdnHeadersErrorCode = CdnHeadersOwnErrorCode | 'E_INVALID_ARGUMENT'

/** Base class of this package's own errors: a `TierkitError` with one of {@link CdnHeadersOwnErrorCode}. */
export class CdnHeadersError<
  Code extends CdnHeadersOwnErrorCode = CdnHeadersOwnErrorCode,
> extends TierkitError<Code> {}

/**
 * A route table (or one of its rules, or a table option) is invalid: a bad path pattern, a negative or fractional
 * `maxAge`, an unknown method, an unknown or renamed option (`browserTtl` is now `maxAge`)... The table is not
 * created; nothing else changes. The message has the family's shape:
 * `definePolicy: rules[1].maxAge must be an integer number of seconds from 0 to 2147483647, got -1`.
 *
 * @example
 * ```ts
 * try {
 *   definePolicy([{ path: 'no-slash' }])
 * } catch (e) {
 *   if (e instanceof InvalidPolicyError) console.log(e.ruleIndex, e.field) // 0 'path'
 * }
 * ```
 */
export class InvalidPolicyError extends CdnHeadersError<'E_INVALID_POLICY'> {
  /** Index of the offending rule in the table, or `-1` for a table-level option. */
  readonly ruleIndex: number
  /** Name of the offending field (`path`, `maxAge`, `maxPathLength`, ...); `''` when the rule itself is not an object. */
  readonly field: string

  /**
   * @param ruleIndex - index of the rule, `-1` for table options
   * @param field - offending field
   * @param rule - what the field must be (`an integer number of seconds from 0 to 2147483647`)
   * @param got - how the value given is shown (see `describeValue` of `@tierkit/contracts`)
   */
  constructor(ruleIndex: number, field: string, rule: string, got: string) {
    super(
      'E_INVALID_POLICY',
      `definePolicy: ${ruleIndex < 0 ? `options.${field}` : field === '' ? `rules[${ruleIndex}]` : `rules[${ruleIndex}].${field}`} must be ${rule}, got ${got}`,
    )
    this.ruleIndex = ruleIndex
    this.field = field
  }
}

/**
 * A cache purge failed: a network error or a timeout (`status` 0), a non-2xx answer, an answer with
 * `success: false`, a full queue, or (nginx) a cache file that could not be removed. `retryable` is true for
 * network errors, timeouts, 429 and 5xx answers. A `purgeTags` call does not throw it: it is the `error` of each
 * tag the `PurgeReport` lists as failed. The message says which call failed and why
 * (`purgeTags ["product-42"]: Cloudflare answered HTTP 400: bad tag`).
 */
export class PurgeFailedError extends CdnHeadersError<'E_PURGE_FAILED'> {
  /** HTTP status of the answer, `0` when no answer arrived. */
  readonly status: number
  /** The tags of the failed batch. */
  readonly tags: readonly string[]
  /** Whether retrying later may succeed (network error, timeout, 429, 5xx). */
  readonly retryable: boolean
  /** Why, in one stable word (see `PurgeFailureReason`); by default from `status`. */
  readonly reason: PurgeFailureReason

  /**
   * @param status - HTTP status, `0` for a network error or a timeout
   * @param tags - tags of the failed batch
   * @param message - what went wrong
   * @param options - `cause`; `reason` (default: `'unavailable'` for status 0 and 5xx, `'rate-limited'` for
   *   429, else `'rejected'`)
   */
  constructor(
    status: number,
    tags: readonly string[],
    message: string,
    options?: { cause?: unknown; reason?: PurgeFailureReason },
  ) {
    super('E_PURGE_FAILED', message, options)
    this.status = status
    this.tags = tags
    this.retryable = status === 0 || status === 429 || status >= 500
    this.reason =
      options?.reason ??
      (status === 429 ? 'rate-limited' : status === 0 || status >= 500 ? 'unavailable' : 'rejected')
  }
}

/** Every error class this package throws, by its code (`TierkitTypeError` is the shared one of `@tierkit/contracts`). */
export const errors: {
  readonly E_INVALID_POLICY: typeof InvalidPolicyError
  readonly E_PURGE_FAILED: typeof PurgeFailedError
  readonly E_INVALID_ARGUMENT: typeof TierkitTypeError
} = Object.freeze({
  E_INVALID_POLICY: InvalidPolicyError,
  E_PURGE_FAILED: PurgeFailedError,
  E_INVALID_ARGUMENT: TierkitTypeError,
})
