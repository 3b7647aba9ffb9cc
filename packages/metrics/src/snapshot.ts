/**
 * Reading the counters at snapshot or scrape time: the raw cumulative sample for exporters (`collect`), and the
 * snapshot with rates, percentiles and latency reduction (`snapshot`, `latencyQuantile`).
 *
 * @module
 */
import { CACHE_OUTCOMES, type CacheOutcome } from '@tierkit/contracts'
import { LAT, type LayerCounters, OUTCOMES } from './counters.js'
import { HISTOGRAM_BUCKETS, quantiles } from './histogram.js'
import { INVALID_RECORD_REASONS, REASONS } from './invalid.js'
import type {
  CacheMetricsSample,
  CacheMetricsSnapshot,
  InvalidRecordReason,
  LatencyBucket,
  LatencySummary,
  LayerSample,
  LayerSnapshot,
} from './types.js'

const SNAPSHOT_QUANTILES: readonly number[] = [0.5, 0.95, 0.99]

function invalidByReason(c: LayerCounters): Readonly<Record<InvalidRecordReason, number>> {
  const out = {} as Record<InvalidRecordReason, number>
  INVALID_RECORD_REASONS.forEach((reason, r) => {
    out[reason] = c.invalid[r]!
  })
  return out
}

function invalidTotal(c: LayerCounters): number {
  let total = 0
  for (let r = 0; r < REASONS; r++) total += c.invalid[r]!
  return total
}

/** The cumulative exposition buckets of layer `li`: the straddling counts plus the internal buckets mapped. */
function latencyBuckets(c: LayerCounters, li: number): LatencyBucket[] {
  const expoWidth = c.expoWidth
  const expo = Float64Array.from(c.straddled.subarray(li * expoWidth, (li + 1) * expoWidth))
  for (let k = 0; k < HISTOGRAM_BUCKETS; k++) {
    const b = c.map[k]!
    if (b >= 0) expo[b]! += c.hist[li * HISTOGRAM_BUCKETS + k]!
  }
  const buckets: LatencyBucket[] = []
  let cumulative = 0
  for (let b = 0; b < expoWidth; b++) {
    cumulative += expo[b]!
    buckets.push({
      le: b < c.bounds.length ? c.bounds[b]! : Number.POSITIVE_INFINITY,
      count: cumulative,
    })
  }
  return buckets
}

/**
 * The raw sample: `totals` (recorded + watched counts, layer-major) per outcome, and the latency buckets.
 * @internal
 */
export function collectSample<L extends string>(
  layers: readonly L[],
  c: LayerCounters,
  totals: Float64Array,
  sourceErrors: number,
): CacheMetricsSample<L> {
  const samples = layers.map((layer, li): LayerSample<L> => {
    const outcomes = {} as Record<CacheOutcome, number>
    CACHE_OUTCOMES.forEach((outcome, o) => {
      outcomes[outcome] = totals[li * OUTCOMES + o]!
    })
    return {
      layer,
      outcomes,
      latencyCount: c.lat[li * LAT]!,
      latencySum: c.lat[li * LAT + 1]!,
      latencyBuckets: latencyBuckets(c, li),
    }
  })
  return {
    layers: samples,
    invalid: invalidTotal(c),
    invalidByReason: invalidByReason(c),
    sourceErrors,
  }
}

/** The latency statistics of layer `li`. */
function latencySummary(c: LayerCounters, li: number): LatencySummary {
  const count = c.lat[li * LAT]!
  const sum = c.lat[li * LAT + 1]!
  if (count === 0) return { count, sum, avg: null, min: null, p50: null, p95: null, p99: null, max: null }
  const min = c.lat[li * LAT + 2]!
  const max = c.lat[li * LAT + 3]!
  const q: number[] = [0, 0, 0]
  quantiles(c.hist, li * HISTOGRAM_BUCKETS, count, min, max, SNAPSHOT_QUANTILES, q)
  return { count, sum, avg: sum / count, min, p50: q[0]!, p95: q[1]!, p99: q[2]!, max }
}

/** One latency quantile `q` (checked) of layer `li`, or `null` without timed operations. @internal */
export function latencyQuantile(c: LayerCounters, li: number, q: number): number | null {
  const count = c.lat[li * LAT]!
  if (count === 0) return null
  if (q === 0) return c.lat[li * LAT + 2]!
  const out = [0]
  quantiles(c.hist, li * HISTOGRAM_BUCKETS, count, c.lat[li * LAT + 2]!, c.lat[li * LAT + 3]!, [q], out)
  return out[0]!
}

/** The snapshot: per layer the counts of `totals`, the rates, the latency and its reduction against `baseline`. @internal */
export function takeSnapshot<L extends string>(
  layers: readonly L[],
  c: LayerCounters,
  totals: Float64Array,
  baseline: L,
  sourceErrors: number,
): CacheMetricsSnapshot<L> {
  const latencies = layers.map((_, li) => latencySummary(c, li))
  const baseAvg = latencies[layers.indexOf(baseline)]!.avg
  const byLayer = Object.create(null) as Record<L, LayerSnapshot<L>>
  const snaps = layers.map((layer, li): LayerSnapshot<L> => {
    const at = li * OUTCOMES
    const hits = totals[at]!
    const misses = totals[at + 1]!
    const lookups = hits + misses
    const latency = latencies[li]!
    const snap: LayerSnapshot<L> = {
      layer,
      hits,
      misses,
      stale: totals[at + 2]!,
      errors: totals[at + 3]!,
      sets: totals[at + 4]!,
      evictions: totals[at + 5]!,
      lookups,
      hitRate: lookups === 0 ? null : hits / lookups,
      missRate: lookups === 0 ? null : misses / lookups,
      latency,
      latencyReduction:
        latency.avg === null || baseAvg === null || baseAvg === 0 ? null : 1 - latency.avg / baseAvg,
    }
    byLayer[layer] = snap
    return snap
  })
  return {
    layers: snaps,
    byLayer,
    baseline,
    invalid: invalidTotal(c),
    invalidByReason: invalidByReason(c),
    sourceErrors,
  }
}
