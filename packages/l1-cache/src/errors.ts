/**
 * The errors of `@tierkit/l1-cache`. Its own errors extend {@link L1CacheError}, which extends the family's
 * `TierkitError` (`code`, `name` = the class name, `cause`); the shared ones come from `@tierkit/contracts`:
 * `AbortedError` (a `getOrLoad` caller's signal), `ClosedError` (a call after `close()`) and
 * `TierkitTypeError` (a bad argument).
 */
import {
  AbortedError,
  ClosedError,
  describeValue,
  TierkitError,
  type TierkitErrorOptions,
  TierkitTypeError,
} from '@tierkit/contracts'

/** The codes of this package's own errors. */
type OwnCode = 'E_INVALID_SIZE' | 'E_ENTRY_TOO_LARGE'

/**
 * Every `code` an error thrown by `@tierkit/l1-cache` can carry: its own (`E_INVALID_SIZE`,
 * `E_ENTRY_TOO_LARGE`) and the shared ones it throws (`E_ABORTED`, `E_CLOSED`, `E_INVALID_ARGUMENT`).
 */
export type L1CacheErrorCode = OwnCode | 'E_ABORTED' | 'E_CLOSED' | 'E_INVALID_ARGUMENT'

/**
 * Base class of the errors defined by `@tierkit/l1-cache` (a `TierkitError`). Each subclass carries a stable
 * `code`.
 */
export class L1CacheError<Code extends OwnCode = OwnCode> extends TierkitError<Code> {}

/**
 * Thrown by `set` (and by `getOrLoad` to every waiter) when the `sizeOf` option returns something that is not
 * a non-negative finite number, or throws. The entry is not stored and the cache is left exactly as it was.
 * Code `E_INVALID_SIZE`.
 */
export class InvalidSizeError extends L1CacheError<'E_INVALID_SIZE'> {
  /** The key whose size could not be computed. */
  readonly key: unknown
  /** What `sizeOf` returned (`undefined` when it threw; the thrown error is then the `cause`). */
  readonly size: unknown

  /**
   * @param key - the key being stored
   * @param size - the value `sizeOf` returned
   * @param options - `cause`: the error `sizeOf` threw, if any
   */
  constructor(key: unknown, size: unknown, options?: TierkitErrorOptions) {
    super(
      'E_INVALID_SIZE',
      options?.cause === undefined
        ? `sizeOf must return a non-negative finite number, got ${describeValue(size)} for key ${describeValue(key)}`
        : `sizeOf threw for key ${describeValue(key)}: ${options.cause instanceof Error ? options.cause.message : describeValue(options.cause)}`,
      options,
    )
    this.key = key
    this.size = size
  }
}

/**
 * Thrown by `set` when an entry's size is larger than `maxSize`: such an entry could never fit. The entry is
 * not stored, any previous value under the key is kept, and `stats().oversized` is incremented.
 * Code `E_ENTRY_TOO_LARGE`.
 */
export class EntryTooLargeError extends L1CacheError<'E_ENTRY_TOO_LARGE'> {
  /** The key that was refused. */
  readonly key: unknown
  /** Size of the refused entry. */
  readonly size: number
  /** The cache's `maxSize`. */
  readonly maxSize: number

  /**
   * @param key - the refused key
   * @param size - its size
   * @param maxSize - the cache's maxSize
   */
  constructor(key: unknown, size: number, maxSize: number) {
    super(
      'E_ENTRY_TOO_LARGE',
      `entry size ${size} is larger than maxSize ${maxSize} for key ${describeValue(key)}`,
    )
    this.key = key
    this.size = size
    this.maxSize = maxSize
  }
}

/**
 * Every error class `@tierkit/l1-cache` throws, by its code (the shared ones are those of
 * `@tierkit/contracts`, the same classes).
 */
export const errors: {
  readonly E_INVALID_SIZE: typeof InvalidSizeError
  readonly E_ENTRY_TOO_LARGE: typeof EntryTooLargeError
  readonly E_ABORTED: typeof AbortedError
  readonly E_CLOSED: typeof ClosedError
  readonly E_INVALID_ARGUMENT: typeof TierkitTypeError
} = Object.freeze({
  E_INVALID_SIZE: InvalidSizeError,
  E_ENTRY_TOO_LARGE: EntryTooLargeError,
  E_ABORTED: AbortedError,
  E_CLOSED: ClosedError,
  E_INVALID_ARGUMENT: TierkitTypeError,
})
