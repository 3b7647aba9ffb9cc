/**
 * Stable codes carried by {@link CacheMetricsError}.
 *
 * - `E_METRIC_REGISTERED`: an adapter could not register a metric because the registry already holds one of
 *   that name (typically the same adapter registered twice on one prom-client `Registry`).
 */
export type CacheMetricsErrorCode = 'E_METRIC_REGISTERED'

/** Options of {@link CacheMetricsError}. */
export interface CacheMetricsErrorOptions {
  /** The metric name involved, when there is one. */
  metric?: string
  /** The underlying error. */
  cause?: unknown
}

/**
 * Error thrown by `@tierkit/metrics` for failures that are not bad arguments (those are `TypeError`s with an
 * exact message). Match on {@link CacheMetricsError.code}, never on the message.
 *
 * @example
 * ```ts
 * try {
 *   registerPrometheusCollectors(metrics, { registry })
 * } catch (error) {
 *   if (error instanceof CacheMetricsError && error.code === 'E_METRIC_REGISTERED') console.warn(error.metric)
 * }
 * ```
 */
export class CacheMetricsError extends Error {
  /** Stable machine-readable code. */
  readonly code: CacheMetricsErrorCode
  /** The metric name involved, or `undefined`. */
  readonly metric: string | undefined

  /**
   * @param code - stable code
   * @param message - human-readable message
   * @param options - context fields and `cause`
   */
  constructor(code: CacheMetricsErrorCode, message: string, options: CacheMetricsErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'CacheMetricsError'
    this.code = code
    this.metric = options.metric
  }
}
