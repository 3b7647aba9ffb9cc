export type { CacheMetricsErrorCode, CacheMetricsErrorOptions } from './errors.js'
export { CacheMetricsError } from './errors.js'
export {
  escapeLabelValue,
  formatBound,
  HIT_RATIO_METRIC,
  INVALID_METRIC,
  LATENCY_METRIC,
  REQUESTS_METRIC,
} from './format.js'
export type {
  CacheMetrics,
  CacheMetricsOptions,
  CacheMetricsSample,
  CacheMetricsSnapshot,
  CacheObserver,
  CacheOutcome,
  CacheStatsLike,
  FormatTableOptions,
  LatencyBucket,
  LatencySummary,
  LayerSample,
  LayerSnapshot,
  StatsSource,
} from './metrics.js'
export {
  CACHE_OUTCOMES,
  createCacheMetrics,
  DEFAULT_LATENCY_BUCKETS,
  MAX_LAYERS,
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_CONTENT_TYPE,
} from './metrics.js'
