// Type-checked against the packed package by the publish-and-consume check (main entry only).
import {
  type CacheMetrics,
  CacheMetricsError,
  type CacheMetricsSnapshot,
  type CacheObserver,
  type CacheOutcome,
  type CacheStatsLike,
  createCacheMetrics,
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_CONTENT_TYPE,
} from '@tierkit/metrics'

const metrics: CacheMetrics<'l1' | 'l2' | 'db'> = createCacheMetrics({ layers: ['l1', 'l2', 'db'] })
const observer: CacheObserver = metrics.observer
const outcome: CacheOutcome = 'hit'
observer.record('l2', outcome, 1.4)

const l1Like: { stats(): CacheStatsLike } = { stats: () => ({ hits: 9, misses: 1, sets: 1, evictions: 0 }) }
const unwatch: () => void = metrics.watch('l1', l1Like)

const snap: CacheMetricsSnapshot = metrics.snapshot()
const hitRate: number | null = snap.layers[0]?.hitRate ?? null
const table: string = metrics.formatTable({ labels: { l1: 'L1', l2: 'L2 (Redis)', db: 'DB' } })
const prom: [string, string] = [PROMETHEUS_CONTENT_TYPE, metrics.toPrometheus()]
const om: [string, string] = [OPENMETRICS_CONTENT_TYPE, metrics.toOpenMetrics()]
unwatch()

try {
  createCacheMetrics({ layers: [] })
} catch (error) {
  if (error instanceof CacheMetricsError) console.log(error.code)
}
console.log(hitRate, table, prom[0], om[0])
