/**
 * `@tierkit/metrics`: hit rate, miss rate and latency per cache layer, with an allocation-free hot-path
 * observer, Prometheus / OpenMetrics text, and (on subpaths) prom-client and OpenTelemetry adapters.
 *
 * @packageDocumentation
 */
export {
  CACHE_LAYERS,
  CACHE_OUTCOMES,
  type CacheLayer,
  type CacheObserver,
  type CacheOutcome,
  type CacheStats,
} from '@tierkit/contracts'
export {
  CacheMetricsError,
  errors,
  LayerConflictError,
  MetricRegisteredError,
  type MetricsErrorCode,
} from './errors.js'
export { OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE } from './exposition.js'
export { HIT_RATIO_METRIC, INVALID_METRIC, LATENCY_METRIC, REQUESTS_METRIC } from './format.js'
export { createCacheMetrics } from './metrics.js'
export { DEFAULT_LATENCY_BUCKETS } from './options.js'
export type {
  CacheMetrics,
  CacheMetricsEvent,
  CacheMetricsObserver,
  CacheMetricsOptions,
  CacheMetricsSample,
  CacheMetricsSnapshot,
  FormatTableOptions,
  InvalidRecordReason,
  LatencyBucket,
  LatencySummary,
  LayerSample,
  LayerSnapshot,
  StatsSource,
} from './types.js'
