import { TierkitError, TierkitTypeError } from '@tierkit/contracts'

/**
 * The codes of the errors `@tierkit/metrics` throws (the keys of {@link errors}).
 *
 * - `E_INVALID_ARGUMENT`: a bad argument or option ({@link TierkitTypeError}, a `TypeError`); nothing changed.
 * - `E_LAYER_CONFLICT`: `watch(layer, source)` on a layer that already has records from an observer
 *   ({@link LayerConflictError}): one source per layer.
 * - `E_METRIC_REGISTERED`: an adapter could not register a metric because the registry already holds one of
 *   that name, typically the same adapter registered twice on one prom-client `Registry`
 *   ({@link MetricRegisteredError}).
 */
export type MetricsErrorCode = 'E_INVALID_ARGUMENT' | 'E_LAYER_CONFLICT' | 'E_METRIC_REGISTERED'

/**
 * Base class of the errors specific to `@tierkit/metrics` (a {@link TierkitError}); bad arguments are
 * {@link TierkitTypeError}s from `@tierkit/contracts`. Match on `code`, never on the message.
 *
 * @example
 * ```ts
 * try {
 *   metrics.watch('l1', l1Cache)
 * } catch (error) {
 *   if (error instanceof CacheMetricsError && error.code === 'E_LAYER_CONFLICT') console.warn(error.message)
 * }
 * ```
 */
export class CacheMetricsError<
  Code extends Exclude<MetricsErrorCode, 'E_INVALID_ARGUMENT'> = Exclude<
    MetricsErrorCode,
    'E_INVALID_ARGUMENT'
  >,
> extends TierkitError<Code> {}

/**
 * `watch(layer, source)` was called for a layer that has already received records through the observer
 * (`observer.record(layer, ...)`, e.g. from `@tierkit/redis-aside`). A layer's counts come from one source:
 * counting both would count every lookup twice. Nothing was watched. Code `E_LAYER_CONFLICT`.
 */
export class LayerConflictError extends CacheMetricsError<'E_LAYER_CONFLICT'> {
  /** The layer, as given to `watch`. */
  readonly layer: string
  /** Records the layer had received when `watch` was called. */
  readonly records: number

  /**
   * @param layer - the layer `watch` was called for
   * @param records - how many records the layer had received
   */
  constructor(layer: string, records: number) {
    super(
      'E_LAYER_CONFLICT',
      `CacheMetrics.watch: layer ${JSON.stringify(layer)} already has ${records} record${records === 1 ? '' : 's'} from an observer; a layer's counts come from one source (the observer or watched stats(), never both), so nothing was watched`,
    )
    this.layer = layer
    this.records = records
  }
}

/**
 * An adapter could not register a metric: the registry already holds one with that name (nothing was left
 * registered). Code `E_METRIC_REGISTERED`.
 */
export class MetricRegisteredError extends CacheMetricsError<'E_METRIC_REGISTERED'> {
  /** The metric name already registered. */
  readonly metric: string

  /** @param metric - the name already registered */
  constructor(metric: string) {
    super(
      'E_METRIC_REGISTERED',
      `registerPrometheusCollectors: the registry already has a metric named ${metric}`,
    )
    this.metric = metric
  }
}

/** Every error class `@tierkit/metrics` throws, by its code. */
export const errors: {
  readonly E_INVALID_ARGUMENT: typeof TierkitTypeError
  readonly E_LAYER_CONFLICT: typeof LayerConflictError
  readonly E_METRIC_REGISTERED: typeof MetricRegisteredError
} = Object.freeze({
  E_INVALID_ARGUMENT: TierkitTypeError,
  E_LAYER_CONFLICT: LayerConflictError,
  E_METRIC_REGISTERED: MetricRegisteredError,
})
