/**
 * Base class of every error thrown by `@tierkit/l1-cache`. Each subclass carries a stable `code`.
 */
export class L1CacheError extends Error {
  /** Stable machine-readable code of the error (for example `E_INVALID_SIZE`). */
  readonly code: string

  /**
   * @param code - stable error code
   * @param message - human-readable message
   * @param options - standard error options (`cause`)
   */
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'L1CacheError'
    this.code = code
  }
}

/**
 * Thrown by `set` (and counted by `getOrLoad`) when the `sizeOf` option returns something that is not a
 * non-negative finite number. The entry is not stored and the cache is left exactly as it was.
 */
export class InvalidSizeError extends L1CacheError {
  /** The key whose size could not be computed. */
  readonly key: unknown
  /** What `sizeOf` returned (or `undefined` when it threw; the thrown error is then the `cause`). */
  readonly size: unknown

  /**
   * @param key - the key being stored
   * @param size - the value `sizeOf` returned
   * @param options - standard error options (`cause`: the error `sizeOf` threw, if any)
   */
  constructor(key: unknown, size: unknown, options?: { cause?: unknown }) {
    super('E_INVALID_SIZE', `sizeOf must return a non-negative finite number, got ${describe(size)}`, options)
    this.name = 'InvalidSizeError'
    this.key = key
    this.size = size
  }
}

/**
 * Thrown by `set` when an entry's size is larger than `maxSize`: such an entry could never fit. The entry is
 * not stored, any previous value under the key is kept, and `stats().oversized` is incremented.
 */
export class EntryTooLargeError extends L1CacheError {
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
    super('E_ENTRY_TOO_LARGE', `entry size ${size} is larger than maxSize ${maxSize}`)
    this.name = 'EntryTooLargeError'
    this.key = key
    this.size = size
    this.maxSize = maxSize
  }
}

/**
 * Rejects one `getOrLoad` caller whose `signal` was aborted. Other callers waiting for the same load are not
 * affected. `cause` is the signal's `reason`.
 */
export class LoadAbortedError extends L1CacheError {
  /** The key whose load the caller stopped waiting for. */
  readonly key: unknown

  /**
   * @param key - the key being loaded
   * @param reason - the abort reason of the caller's signal
   */
  constructor(key: unknown, reason: unknown) {
    super('E_ABORTED', 'getOrLoad was aborted by its signal', { cause: reason })
    this.name = 'AbortError'
    this.key = key
  }
}

function describe(v: unknown): string {
  if (typeof v === 'number') return String(v)
  if (typeof v === 'string') return JSON.stringify(v)
  return typeof v
}
