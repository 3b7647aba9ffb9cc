/**
 * Error classes of `@tierkit/cdn-headers`. Each carries a stable `code`.
 *
 * @module
 */

/** Stable error codes thrown by this package. */
export type CdnHeadersErrorCode = 'E_INVALID_POLICY' | 'E_PURGE_FAILED'

/** Base class of every error this package throws (besides `TypeError` for bad arguments). */
export class CdnHeadersError extends Error {
  /** Stable machine-readable code. */
  readonly code: CdnHeadersErrorCode

  /**
   * @param code - stable code
   * @param message - human readable message
   * @param options - `cause` of the error
   */
  constructor(code: CdnHeadersErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
    this.code = code
  }
}

/**
 * A route table (or one of its rules) is invalid: bad path pattern, negative TTL, unknown method, etc.
 * The table is not created; nothing else changes.
 *
 * @example
 * ```ts
 * try { definePolicy([{ path: 'no-slash' }]) } catch (e) { if (e instanceof InvalidPolicyError) console.log(e.ruleIndex, e.field) }
 * ```
 */
export class InvalidPolicyError extends CdnHeadersError {
  /** Index of the offending rule in the table, or `-1` for a table-level option. */
  readonly ruleIndex: number
  /** Name of the offending field (`path`, `edgeTtl`, ...). */
  readonly field: string

  /**
   * @param ruleIndex - index of the rule, `-1` for table options
   * @param field - offending field
   * @param message - what is wrong
   */
  constructor(ruleIndex: number, field: string, message: string) {
    super(
      'E_INVALID_POLICY',
      ruleIndex >= 0 ? `rule ${ruleIndex}: ${field}: ${message}` : `${field}: ${message}`,
    )
    this.ruleIndex = ruleIndex
    this.field = field
  }
}

/**
 * A cache purge request failed: a network error, a non-2xx answer, or an answer with `success: false`.
 * `retryable` is true for network errors, 429 and 5xx answers.
 */
export class PurgeFailedError extends CdnHeadersError {
  /** HTTP status of the answer, `0` when no answer arrived. */
  readonly status: number
  /** The tags of the failed batch. */
  readonly tags: readonly string[]
  /** Whether retrying later may succeed (network error, 429, 5xx). */
  readonly retryable: boolean

  /**
   * @param status - HTTP status, `0` for a network error
   * @param tags - tags of the failed batch
   * @param message - what went wrong
   * @param options - `cause`
   */
  constructor(status: number, tags: readonly string[], message: string, options?: { cause?: unknown }) {
    super('E_PURGE_FAILED', message, options)
    this.status = status
    this.tags = tags
    this.retryable = status === 0 || status === 429 || status >= 500
  }
}
