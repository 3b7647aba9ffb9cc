/**
 * The public shapes of `@tierkit/metrics`: the options, the observer, the events, the snapshot and the raw sample,
 * and the {@link CacheMetrics} interface itself.
 *
 * @module
 */
import type { CacheLayer, CacheOutcome, CacheStats } from '@tierkit/contracts'

/**
 * Why a `record` call was not counted (the `reason` label of `tierkit_cache_invalid_records_total`):
 * - `unknown-layer`: the layer is not one of the configured layers (e.g. a `'loader'` where the family says
 *   `'db'`);
 * - `unknown-outcome`: the outcome is not a {@link CacheOutcome};
 * - `watched-layer`: the layer is counted from a watched source (`watch(layer, source)`), so its records would
 *   count every lookup twice: one source per layer;
 * - `invalid-duration`: the duration is negative, `NaN`, infinite or not a number.
 */
export type InvalidRecordReason = 'unknown-layer' | 'unknown-outcome' | 'watched-layer' | 'invalid-duration'

/**
 * The hot-path recorder of {@link CacheMetrics}: with the default layers it is exactly the family's
 * `CacheObserver` from `@tierkit/contracts`, so `observer: metrics.observer` is accepted by
 * `@tierkit/redis-aside` and `@tierkit/invalidation` as it is. Structural: any object with this `record` works.
 *
 * @typeParam L - the layer names
 */
export interface CacheMetricsObserver<L extends string = CacheLayer> {
  /**
   * Counts one operation at a layer and, when given, its duration. Allocates nothing and never throws: a call
   * that cannot be counted (see {@link InvalidRecordReason}) increments `invalid` instead, and the first one of
   * each reason and layer is reported through `onEvent`. Safe to call detached (`const { record } = observer`).
   *
   * @param layer - one of the layers given to {@link createCacheMetrics}
   * @param outcome - what happened
   * @param duration - how long it took, in ms (optional)
   * @example
   * ```ts
   * const t0 = performance.now()
   * const value = await redis.get(key)
   * metrics.observer.record('l2', value === null ? 'miss' : 'hit', performance.now() - t0)
   * ```
   */
  record(layer: L, outcome: CacheOutcome, duration?: number): void
}

/**
 * The first record of a reason and layer that was not counted (`onEvent`). `layer`, `outcome` and `duration`
 * are the arguments as given; `message` says what was wrong and what to do.
 */
export type CacheMetricsEvent<L extends string = string> =
  | {
      readonly type: 'invalid-record'
      readonly reason: 'unknown-layer'
      readonly layer: unknown
      readonly outcome: unknown
      readonly duration: unknown
      readonly message: string
    }
  | {
      readonly type: 'invalid-record'
      readonly reason: 'unknown-outcome'
      readonly layer: L
      readonly outcome: unknown
      readonly duration: unknown
      readonly message: string
    }
  | {
      readonly type: 'invalid-record'
      readonly reason: 'watched-layer'
      readonly layer: L
      readonly outcome: CacheOutcome
      readonly duration: unknown
      readonly message: string
    }
  | {
      readonly type: 'invalid-record'
      readonly reason: 'invalid-duration'
      readonly layer: L
      readonly outcome: CacheOutcome
      readonly duration: unknown
      readonly message: string
    }

/**
 * Anything with a `stats()` method returning contracts' {@link CacheStats}, such as an `L1Cache`. `hits` and
 * `misses` are required; the others are read when present (`stale`, `errors`, `sets`, `evictions`: the
 * outcomes of the same names). Every field is a cumulative count; a value that goes down is taken as a reset of
 * the source (the exported counter keeps rising).
 */
export interface StatsSource {
  /** Returns the source's cumulative counters; called at snapshot or scrape time, never on the hot path. */
  stats(): CacheStats
}

/** Options of {@link createCacheMetrics}. */
export interface CacheMetricsOptions<L extends string = CacheLayer> {
  /**
   * The layers, in display order. Non-empty, well-formed, unique strings; at most 64. The family's packages
   * report the {@link CacheLayer} names.
   *
   * @default CACHE_LAYERS: `['cdn', 'l1', 'l2', 'db']`
   */
  layers?: readonly L[]
  /**
   * The layer that `latencyReduction` is measured against.
   *
   * @default 'db' when it is one of the layers, else the last layer
   */
  baseline?: NoInfer<L>
  /**
   * Bounds (ms) of the exported histogram buckets; `+Inf` is added. Finite, non-negative, strictly increasing,
   * at most 64. Percentiles do not depend on them (they come from the internal log-linear histogram).
   *
   * @default DEFAULT_LATENCY_BUCKETS (0.05 ms to 10 s)
   */
  buckets?: readonly number[]
  /**
   * Called with the first record of each reason and layer that could not be counted (a record for a watched
   * layer, an unknown layer...), synchronously inside `record`; what it throws is ignored.
   */
  onEvent?: (event: CacheMetricsEvent<NoInfer<L>>) => void
}

/** Latency statistics of one layer, in ms; `null` while the layer has no timed operation. */
export interface LatencySummary {
  /** Timed operations. */
  readonly count: number
  /** Sum of durations (ms). */
  readonly sum: number
  /** Mean (ms). */
  readonly avg: number | null
  /** Smallest duration (ms), exact. */
  readonly min: number | null
  /** Median (ms), within 0.4 % of the exact nearest-rank value. */
  readonly p50: number | null
  /** 95th percentile (ms), within 0.4 %. */
  readonly p95: number | null
  /** 99th percentile (ms), within 0.4 %. */
  readonly p99: number | null
  /** Largest duration (ms), exact. */
  readonly max: number | null
}

/** One layer in a {@link CacheMetricsSnapshot}. */
export interface LayerSnapshot<L extends string = string> {
  /** Layer name. */
  readonly layer: L
  /** Outcome `hit` (recorded or watched). */
  readonly hits: number
  /** Outcome `miss`. */
  readonly misses: number
  /** Outcome `stale`. */
  readonly stale: number
  /** Outcome `error`. */
  readonly errors: number
  /** Outcome `set`. */
  readonly sets: number
  /** Outcome `evict`. */
  readonly evictions: number
  /** `hits + misses`. */
  readonly lookups: number
  /** `hits / (hits + misses)`, or `null` without lookups. */
  readonly hitRate: number | null
  /** `misses / (hits + misses)`, or `null` without lookups. */
  readonly missRate: number | null
  /** Latency of the timed operations. */
  readonly latency: LatencySummary
  /**
   * `1 - avg / baseline avg`: the share of the baseline layer's mean latency this layer saves (0.99 for a
   * 0.15 ms L1 against a 15 ms database). `null` when either has no timed operation or the baseline mean is 0.
   */
  readonly latencyReduction: number | null
}

/** The result of {@link CacheMetrics.snapshot}. */
export interface CacheMetricsSnapshot<L extends string = string> {
  /** Layers in configured order. */
  readonly layers: readonly LayerSnapshot<L>[]
  /** The same layers by name (a prototype-less object holding every layer). */
  readonly byLayer: Readonly<Record<L, LayerSnapshot<L>>>
  /** The layer `latencyReduction` is measured against. */
  readonly baseline: L
  /** `record` calls not counted, all reasons. */
  readonly invalid: number
  /** `record` calls not counted, by reason. */
  readonly invalidByReason: Readonly<Record<InvalidRecordReason, number>>
  /** `stats()` calls of watched sources that threw or returned something other than an object. */
  readonly sourceErrors: number
}

/** One cumulative exposition bucket. */
export interface LatencyBucket {
  /** Upper bound in ms (`Infinity` for the last). */
  readonly le: number
  /** Operations with a duration at most `le` ms (cumulative). */
  readonly count: number
}

/** One layer in a {@link CacheMetricsSample}. */
export interface LayerSample<L extends string = string> {
  /** Layer name. */
  readonly layer: L
  /** Count per outcome, recorded or watched. */
  readonly outcomes: Readonly<Record<CacheOutcome, number>>
  /** Timed operations. */
  readonly latencyCount: number
  /** Sum of durations in ms. */
  readonly latencySum: number
  /** Cumulative buckets, the last with `le: Infinity` and `count === latencyCount`. */
  readonly latencyBuckets: readonly LatencyBucket[]
}

/** Raw cumulative counters, as exporters need them (see {@link CacheMetrics.collect}). */
export interface CacheMetricsSample<L extends string = string> {
  /** Layers in configured order. */
  readonly layers: readonly LayerSample<L>[]
  /** `record` calls not counted, all reasons. */
  readonly invalid: number
  /** `record` calls not counted, by reason. */
  readonly invalidByReason: Readonly<Record<InvalidRecordReason, number>>
  /** Failed `stats()` reads of watched sources. */
  readonly sourceErrors: number
}

/** Options of {@link CacheMetrics.formatTable}. */
export interface FormatTableOptions {
  /** Display names by layer, e.g. `{ l1: 'L1', l2: 'L2 (Redis)', db: 'DB' }`. @default the layer names */
  labels?: Readonly<Record<string, string>>
}

/** Per-layer cache metrics; create with {@link createCacheMetrics}. */
export interface CacheMetrics<L extends string = CacheLayer> {
  /** The configured layers, in order (frozen). */
  readonly layers: readonly L[]
  /** The hot-path recorder to hand to other packages (`observer: metrics.observer`). */
  readonly observer: CacheMetricsObserver<L>
  /**
   * Reads a source's `stats()` at every snapshot or scrape and counts it for `layer`. One source per layer: a
   * watched layer's records from the observer are not counted (reason `watched-layer`, reported once through
   * `onEvent`), and watching a layer that already has records throws {@link LayerConflictError}. Several
   * sources may feed one layer (several `L1Cache`s). Returns a function that stops watching; counts read so
   * far are kept, and once no source watches the layer, records count again.
   *
   * @throws LayerConflictError `E_LAYER_CONFLICT` when the layer has records from the observer
   * @throws TierkitTypeError for an unknown layer, a source without `stats()`, or a source already watched for
   *   the layer
   * @example
   * ```ts
   * const unwatch = metrics.watch('l1', l1Cache)
   * ```
   */
  watch(layer: L, source: StatsSource): () => void
  /** Hit and miss rates, percentiles and latency reduction per layer. Reads watched sources. */
  snapshot(): CacheMetricsSnapshot<L>
  /**
   * One latency quantile of a layer, in ms: the nearest-rank value (rank `ceil(q * count)`) within 0.4 %, or
   * `null` while the layer has no timed operation. `q = 0` gives the exact minimum, `q = 1` the exact maximum.
   *
   * @throws TierkitTypeError for an unknown layer or a `q` outside 0..1
   */
  latencyQuantile(layer: L, q: number): number | null
  /** Raw cumulative counters and histogram buckets (ms), for exporters. Reads watched sources. */
  collect(): CacheMetricsSample<L>
  /**
   * The table `Layer | Hit Rate | Avg Latency`, as Markdown with measured numbers (`—` where a
   * layer has no lookups or no timings).
   *
   * @throws TierkitTypeError for options that are not an object or labels that are not strings
   */
  formatTable(options?: FormatTableOptions): string
  /** Prometheus text exposition format 0.0.4 (content type {@link PROMETHEUS_CONTENT_TYPE}). */
  toPrometheus(): string
  /** OpenMetrics 1.0 text, ending with `# EOF` (content type {@link OPENMETRICS_CONTENT_TYPE}). */
  toOpenMetrics(): string
}
