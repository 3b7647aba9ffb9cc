// Type-checked against the packed package by the publish-and-consume check (main entry only).
import {
  CACHE_LAYERS,
  type CacheLayer,
  type CacheMetrics,
  CacheMetricsError,
  type CacheMetricsEvent,
  type CacheMetricsSnapshot,
  type CacheObserver,
  type CacheOutcome,
  type CacheStats,
  createCacheMetrics,
  errors,
  LayerConflictError,
  type MetricsErrorCode,
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_CONTENT_TYPE,
} from '@tierkit/metrics'

// the default layers are the family's; the observer is what redis-aside and invalidation take
const family: CacheMetrics<CacheLayer> = createCacheMetrics({
  onEvent: (event: CacheMetricsEvent<CacheLayer>) => console.warn(event.message),
})
const observer: CacheObserver = family.observer
const outcome: CacheOutcome = 'hit'
observer.record('l2', outcome, 1.4)
const layers: readonly CacheLayer[] = CACHE_LAYERS

const metrics: CacheMetrics<'l1' | 'l2' | 'db'> = createCacheMetrics({
  layers: ['l1', 'l2', 'db'],
  buckets: [1, 10, 100],
})
const l1Like: { stats(): CacheStats } = { stats: () => ({ hits: 9, misses: 1, sets: 1, evictions: 0 }) }
const unwatch: () => void = metrics.watch('l1', l1Like)

const snap: CacheMetricsSnapshot<'l1' | 'l2' | 'db'> = metrics.snapshot()
const hitRate: number | null = snap.byLayer.l2.hitRate
const watchedRefused: number = snap.invalidByReason['watched-layer']
const p99: number | null = metrics.latencyQuantile('l2', 0.99)
const table: string = metrics.formatTable({ labels: { l1: 'L1', l2: 'L2 (Redis)', db: 'DB' } })
const prom: [string, string] = [PROMETHEUS_CONTENT_TYPE, metrics.toPrometheus()]
const om: [string, string] = [OPENMETRICS_CONTENT_TYPE, metrics.toOpenMetrics()]
unwatch()

try {
  metrics.observer.record('l1', 'miss')
  metrics.watch('l1', l1Like)
} catch (error) {
  if (error instanceof LayerConflictError) console.log(error.layer, error.records)
  if (error instanceof CacheMetricsError) {
    const code: MetricsErrorCode = error.code
    console.log(code)
  }
  if (error instanceof errors.E_INVALID_ARGUMENT) console.log(error.code)
}
console.log(layers, hitRate, watchedRefused, p99, table, prom[0], om[0])
