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
export { HIT_RATIO_METRIC, INVALID_METRIC, LATENCY_METRIC, REQUESTS_METRIC } from './format.js'
export {
  type CacheMetrics,
  type CacheMetricsEvent,
  type CacheMetricsObserver,
  type CacheMetricsOptions,
  type CacheMetricsSample,
  type CacheMetricsSnapshot,
  createCacheMetrics,
  DEFAULT_LATENCY_BUCKETS,
  type FormatTableOptions,
  type InvalidRecordReason,
  type LatencyBucket,
  type LatencySummary,
  type LayerSample,
  type LayerSnapshot,
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_CONTENT_TYPE,
  type StatsSource,
} from './metrics.js'
