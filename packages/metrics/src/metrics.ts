import {
  CACHE_LAYERS,
  CACHE_OUTCOMES,
  type CacheLayer,
  type CacheOutcome,
  type CacheStats,
  checkFunction,
  checkInteger,
  checkMethods,
  checkNumber,
  checkObject,
  checkOneOf,
  invalidArgument,
  oneOfRule,
} from '@tierkit/contracts'
import { LayerConflictError } from './errors.js'
import {
  escapeLabelValue,
  formatBound,
  formatValue,
  HIT_RATIO_HELP,
  HIT_RATIO_METRIC,
  INVALID_HELP,
  INVALID_METRIC,
  LATENCY_HELP,
  LATENCY_METRIC,
  REQUESTS_HELP,
  REQUESTS_METRIC,
} from './format.js'
import {
  expositionMap,
  f64,
  HI,
  HISTOGRAM_BUCKETS,
  INDEX_BASE,
  INDEX_SHIFT,
  LAST_BUCKET,
  quantiles,
  u32,
} from './histogram.js'

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

/** The reasons, in the order the exposition lists them. */
export const INVALID_RECORD_REASONS: readonly InvalidRecordReason[] = Object.freeze([
  'unknown-layer',
  'unknown-outcome',
  'watched-layer',
  'invalid-duration',
] as const)

const UNKNOWN_LAYER = 0
const UNKNOWN_OUTCOME = 1
const WATCHED_LAYER = 2 // and 3: invalid-duration
const REASONS = INVALID_RECORD_REASONS.length

/** Default exposition bucket bounds of the latency histogram, in ms (50 µs to 10 s). */
export const DEFAULT_LATENCY_BUCKETS: readonly number[] = Object.freeze([
  0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000,
])

/** Most layers one instance accepts (each costs about 46 KiB of histogram). */
const MAX_LAYERS = 64
/** Most exposition bounds. */
const MAX_BUCKETS = 64

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
   * The design notes' table, `Layer | Hit Rate | Avg Latency`, as Markdown with measured numbers (`—` where a
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

/** Content type of {@link CacheMetrics.toPrometheus}. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'
/** Content type of {@link CacheMetrics.toOpenMetrics}. */
export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8'

const OUTCOMES = CACHE_OUTCOMES.length
/** Stride of the per-layer latency statistics: count, sum, min, max. */
const LAT = 4
/** Layers looked up by a linear scan of === before the Map. */
const SCAN_LAYERS = 8
const STAT_FIELDS = ['hits', 'misses', 'stale', 'errors', 'sets', 'evictions'] as const
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
const SNAPSHOT_QUANTILES: readonly number[] = [0.5, 0.95, 0.99]

interface Watch {
  readonly layer: number
  readonly source: StatsSource
  /** Last good reading per outcome. */
  readonly last: Float64Array
  /** Sum of readings before each detected reset. */
  readonly base: Float64Array
}

const CREATE = 'createCacheMetrics'

function validateLayers(layers: unknown): string[] {
  if (!Array.isArray(layers))
    throw invalidArgument(CREATE, 'options.layers', 'an array of layer names', layers)
  checkInteger(CREATE, 'options.layers.length', layers.length, 1, MAX_LAYERS)
  const seen = new Set<string>()
  for (let i = 0; i < layers.length; i++) {
    const layer: unknown = layers[i]
    if (typeof layer !== 'string' || layer.length === 0 || LONE_SURROGATE.test(layer)) {
      throw invalidArgument(CREATE, `options.layers[${i}]`, 'a non-empty, well-formed string', layer)
    }
    if (seen.has(layer)) throw invalidArgument(CREATE, `options.layers[${i}]`, 'unique', layer)
    seen.add(layer)
  }
  return [...layers]
}

function validateBuckets(buckets: unknown): number[] {
  if (!Array.isArray(buckets)) {
    throw invalidArgument(CREATE, 'options.buckets', 'an array of bounds in ms', buckets)
  }
  checkInteger(CREATE, 'options.buckets.length', buckets.length, 0, MAX_BUCKETS)
  for (let i = 0; i < buckets.length; i++) {
    const b: unknown = buckets[i]
    if (typeof b !== 'number' || !Number.isFinite(b) || b < 0) {
      throw invalidArgument(CREATE, `options.buckets[${i}]`, 'a finite number of ms >= 0', b)
    }
    if (i > 0 && b <= buckets[i - 1]) {
      throw invalidArgument(
        CREATE,
        `options.buckets[${i}]`,
        `greater than options.buckets[${i - 1}] (${buckets[i - 1]})`,
        b,
      )
    }
  }
  return [...buckets]
}

function formatMs(ms: number): string {
  if (ms >= 1000) return `${Math.round(ms)} ms`
  if (ms === 0) return '0 ms'
  return `${Number(ms.toPrecision(ms >= 0.01 ? 2 : 1))} ms`
}

function tableCell(text: string): string {
  return text
    .replace(/\\/g, '\\\\')
    .replace(/\|/g, '\\|')
    .replace(/\r?\n|\r/g, ' ')
}

/**
 * Creates per-layer cache metrics: a hot-path observer, snapshots with percentiles, the design notes' table
 * and Prometheus / OpenMetrics text.
 *
 * @param options - the layers (default `['cdn', 'l1', 'l2', 'db']`), baseline, exposition buckets, `onEvent`
 * @returns the metrics instance
 * @throws TierkitTypeError for a bad option (see README, Errors)
 * @example
 * ```ts
 * const metrics = createCacheMetrics()
 * metrics.observer.record('l2', 'hit', 1.4)
 * console.log(metrics.formatTable({ labels: { l1: 'L1', l2: 'L2 (Redis)', db: 'DB' } }))
 * ```
 */
export function createCacheMetrics<const L extends string = CacheLayer>(
  options?: CacheMetricsOptions<L>,
): CacheMetrics<L> {
  checkObject(CREATE, 'options', options, true)
  const o: CacheMetricsOptions<L> = options ?? {}
  const layersOption = o.layers
  const baselineOption = o.baseline
  const bucketsOption = o.buckets
  const onEvent = o.onEvent
  const layers = (layersOption === undefined ? [...CACHE_LAYERS] : validateLayers(layersOption)) as L[]
  let baseline: L
  if (baselineOption === undefined) {
    baseline = layers.includes('db' as L) ? ('db' as L) : layers[layers.length - 1]!
  } else {
    baseline = checkOneOf(CREATE, 'options.baseline', baselineOption, layers)
  }
  const bounds = bucketsOption === undefined ? [...DEFAULT_LATENCY_BUCKETS] : validateBuckets(bucketsOption)
  checkFunction(CREATE, 'options.onEvent', onEvent, true)
  return new Metrics<L>(
    layers,
    baseline,
    bounds,
    onEvent as ((event: CacheMetricsEvent<L>) => void) | undefined,
  )
}

function invalidMessage(
  reason: number,
  layers: readonly string[],
  layer: unknown,
  outcome: unknown,
  duration: unknown,
): string {
  const where = 'observer.record'
  const label = `${INVALID_METRIC}{reason="${INVALID_RECORD_REASONS[reason]}"}`
  switch (reason) {
    case UNKNOWN_LAYER:
      return `${invalidArgument(where, 'layer', oneOfRule(layers), layer).message}; not counted (${label})`
    case UNKNOWN_OUTCOME:
      return `${invalidArgument(where, 'outcome', oneOfRule(CACHE_OUTCOMES), outcome).message}; not counted (${label})`
    case WATCHED_LAYER:
      return `${where}: layer ${JSON.stringify(layer)} is watched (metrics.watch reads its counts from a stats() source), so its records are not counted (${label}): a layer's counts come from one source; stop recording this layer or stop watching it`
    default: // invalid-duration
      return `${invalidArgument(where, 'duration', 'a finite number of ms >= 0', duration).message}; not counted (${label})`
  }
}

class Metrics<L extends string> implements CacheMetrics<L> {
  readonly layers: readonly L[]
  readonly observer: CacheMetricsObserver<L>
  readonly #baseline: L
  readonly #bounds: readonly number[]
  readonly #escaped: readonly string[]
  // Hot-path state, all preallocated.
  readonly #counts: Float64Array
  readonly #hist: Float64Array
  /** Exposition counts of the durations that fell in an internal bucket containing a bound. */
  readonly #straddled: Float64Array
  /** Exposition bucket of each internal bucket (negative: it contains a bound). */
  readonly #map: Int32Array
  /** Per layer, stride LAT: timed count, sum (ms), min, max. */
  readonly #lat: Float64Array
  /** Record calls not counted, by reason. */
  readonly #invalid: Float64Array
  /** Failed source reads. */
  #sourceErrors = 0
  // Watched sources.
  readonly #watches: Watch[] = []
  /** Counts of sources no longer watched, kept so counters never go down. */
  readonly #retired: Float64Array
  /** Per layer: 1 while a source is watched for it (its records are refused). */
  readonly #watched: Uint8Array

  constructor(
    layers: L[],
    baseline: L,
    bounds: number[],
    onEvent: ((event: CacheMetricsEvent<L>) => void) | undefined,
  ) {
    this.layers = Object.freeze(layers)
    this.#baseline = baseline
    this.#bounds = Object.freeze(bounds)
    this.#escaped = layers.map(escapeLabelValue)
    const n = layers.length
    const expoWidth = bounds.length + 1
    const counts = new Float64Array(n * OUTCOMES)
    const hist = new Float64Array(n * HISTOGRAM_BUCKETS)
    const straddled = new Float64Array(n * expoWidth)
    const lat = new Float64Array(n * LAT)
    for (let i = 0; i < n; i++) lat[i * LAT + 2] = Number.POSITIVE_INFINITY
    const invalid = new Float64Array(REASONS)
    /** Per reason, per layer (slot 0: an unknown layer): 1 once reported through onEvent. */
    const reported = new Uint8Array(REASONS * (n + 1))
    this.#counts = counts
    this.#hist = hist
    this.#straddled = straddled
    this.#lat = lat
    this.#invalid = invalid
    this.#retired = new Float64Array(n * OUTCOMES)

    // Layers are found by === against the first SCAN_LAYERS names (pointer compares for the usual literal
    // strings), then through a Map for the rest; outcomes by === too. Neither coerces its argument or calls
    // user code, so no argument can make record throw; every store goes to a preallocated typed array.
    const layerList = [...layers] as unknown[]
    const scanCount = Math.min(layerList.length, SCAN_LAYERS)
    const layerIndex = new Map<unknown, number>()
    layers.forEach((layer, i) => {
      if (i >= SCAN_LAYERS) layerIndex.set(layer, i)
    })
    const useMap = layerList.length > SCAN_LAYERS
    /** Per layer: 1 while a source is watched for it (its records are refused). */
    const watched = new Uint8Array(n)
    this.#watched = watched
    const map = expositionMap(bounds)
    this.#map = map
    const boundsArray = Float64Array.from(bounds)
    const nBounds = bounds.length
    const bits = f64
    const words = u32
    const hi = HI
    const shift = INDEX_SHIFT
    const base = INDEX_BASE
    const last = LAST_BUCKET
    const perLayer = HISTOGRAM_BUCKETS

    const outcomeList: readonly unknown[] = [...CACHE_OUTCOMES]

    // Adds one valid duration to layer li; false (nothing changed) when the duration is not a finite number >= 0.
    const time = (li: number, duration: unknown): boolean => {
      if (typeof duration !== 'number' || !(duration >= 0) || duration === Number.POSITIVE_INFINITY) {
        return false
      }
      const ms = duration === 0 ? 0 : duration // -0 has the sign bit set: store +0
      bits[0] = ms
      let k = (words[hi]! >>> shift) - base
      k = k < 0 ? 0 : Math.min(k, last)
      hist[li * perLayer + k]!++
      let b = map[k]!
      if (b < 0) {
        // a bound lies inside this bucket: compare (the other buckets are summed at read time)
        b = ~b
        while (b < nBounds && ms > boundsArray[b]!) b++
        straddled[li * expoWidth + b]!++
      }
      const at = li * LAT
      lat[at]!++
      lat[at + 1]! += ms
      if (ms < lat[at + 2]!) lat[at + 2] = ms
      if (ms > lat[at + 3]!) lat[at + 3] = ms
      return true
    }

    // Builds and delivers the event of a first refusal; runs once per reason and layer.
    const report = (reason: number, layer: unknown, outcome: unknown, duration: unknown): void => {
      try {
        onEvent!({
          type: 'invalid-record',
          reason: INVALID_RECORD_REASONS[reason]!,
          layer,
          outcome,
          duration,
          message: invalidMessage(reason, layers, layer, outcome, duration),
        } as CacheMetricsEvent<L>)
      } catch {
        // a listener that throws is ignored; record never throws
      }
    }

    // Kept small (under V8's 460-byte inlining limit) so that callers can inline it: a call that is not inlined
    // makes V8 box a fractional duration into a heap number at the call site, as for any function.
    const record = (layer: L, outcome: CacheOutcome, duration?: number): void => {
      let li = 0
      while (li < scanCount && layerList[li] !== layer) li++
      if (li === scanCount) li = useMap ? (layerIndex.get(layer) ?? -1) : -1
      let oi = 0
      while (oi < OUTCOMES && outcomeList[oi] !== outcome) oi++
      if (li >= 0 && oi < OUTCOMES && watched[li] === 0 && (duration === undefined || time(li, duration))) {
        counts[li * OUTCOMES + oi]!++
      } else {
        // not counted: why (see INVALID_RECORD_REASONS), and the first of each reason and layer is reported
        // 0 unknown-layer, 1 unknown-outcome, 2 watched-layer, 3 invalid-duration (literals: the hot path)
        const reason = li < 0 ? 0 : oi === OUTCOMES ? 1 : watched[li] !== 0 ? 2 : 3
        invalid[reason]!++
        const slot = reason * (n + 1) + li + 1
        if (reported[slot] === 0 && onEvent !== undefined) {
          reported[slot] = 1
          report(reason, layer, outcome, duration)
        }
      }
    }
    this.observer = Object.freeze({ record })
  }

  #layerIndex(where: string, layer: unknown): number {
    return this.layers.indexOf(checkOneOf(where, 'layer', layer, this.layers))
  }

  watch(layer: L, source: StatsSource): () => void {
    const where = 'CacheMetrics.watch'
    const li = this.#layerIndex(where, layer)
    checkMethods(where, 'source', source, ['stats'], 'an object with a stats() method')
    if (this.#watches.some((w) => w.layer === li && w.source === source)) {
      throw invalidArgument(
        where,
        'source',
        `a source not yet watched for layer ${JSON.stringify(layer)}`,
        source,
      )
    }
    let records = 0
    for (let o = 0; o < OUTCOMES; o++) records += this.#counts[li * OUTCOMES + o]!
    if (records > 0) throw new LayerConflictError(layer, records)
    const entry: Watch = {
      layer: li,
      source,
      last: new Float64Array(OUTCOMES),
      base: new Float64Array(OUTCOMES),
    }
    this.#watches.push(entry)
    this.#watched[li] = 1
    this.#read(entry)
    return () => {
      const at = this.#watches.indexOf(entry)
      if (at < 0) return
      this.#read(entry)
      this.#watches.splice(at, 1)
      for (let o = 0; o < OUTCOMES; o++) {
        this.#retired[entry.layer * OUTCOMES + o]! += entry.base[o]! + entry.last[o]!
      }
      if (!this.#watches.some((w) => w.layer === li)) this.#watched[li] = 0
    }
  }

  #read(entry: Watch): void {
    let stats: unknown
    try {
      stats = entry.source.stats()
    } catch {
      this.#sourceErrors++
      return
    }
    if (typeof stats !== 'object' || stats === null) {
      this.#sourceErrors++
      return
    }
    for (let o = 0; o < OUTCOMES; o++) {
      let v: unknown
      try {
        v = (stats as Record<string, unknown>)[STAT_FIELDS[o]!]
      } catch {
        continue
      }
      if (typeof v !== 'number' || !(v >= 0) || v === Number.POSITIVE_INFINITY) continue
      if (v < entry.last[o]!) entry.base[o]! += entry.last[o]!
      entry.last[o] = v
    }
  }

  /** Recorded + watched + retired counts, layer-major. */
  #totals(): Float64Array {
    for (const w of this.#watches) this.#read(w)
    const totals = Float64Array.from(this.#counts)
    for (let i = 0; i < totals.length; i++) totals[i]! += this.#retired[i]!
    for (const w of this.#watches) {
      for (let o = 0; o < OUTCOMES; o++) totals[w.layer * OUTCOMES + o]! += w.base[o]! + w.last[o]!
    }
    return totals
  }

  #invalidByReason(): Readonly<Record<InvalidRecordReason, number>> {
    const out = {} as Record<InvalidRecordReason, number>
    INVALID_RECORD_REASONS.forEach((reason, r) => {
      out[reason] = this.#invalid[r]!
    })
    return out
  }

  #invalidTotal(): number {
    let total = 0
    for (let r = 0; r < REASONS; r++) total += this.#invalid[r]!
    return total
  }

  collect(): CacheMetricsSample<L> {
    const totals = this.#totals()
    const expoWidth = this.#bounds.length + 1
    const layers = this.layers.map((layer, li): LayerSample<L> => {
      const outcomes = {} as Record<CacheOutcome, number>
      CACHE_OUTCOMES.forEach((outcome, o) => {
        outcomes[outcome] = totals[li * OUTCOMES + o]!
      })
      const expo = Float64Array.from(this.#straddled.subarray(li * expoWidth, (li + 1) * expoWidth))
      for (let k = 0; k < HISTOGRAM_BUCKETS; k++) {
        const b = this.#map[k]!
        if (b >= 0) expo[b]! += this.#hist[li * HISTOGRAM_BUCKETS + k]!
      }
      const buckets: LatencyBucket[] = []
      let cumulative = 0
      for (let b = 0; b < expoWidth; b++) {
        cumulative += expo[b]!
        buckets.push({
          le: b < this.#bounds.length ? this.#bounds[b]! : Number.POSITIVE_INFINITY,
          count: cumulative,
        })
      }
      return {
        layer,
        outcomes,
        latencyCount: this.#lat[li * LAT]!,
        latencySum: this.#lat[li * LAT + 1]!,
        latencyBuckets: buckets,
      }
    })
    return {
      layers,
      invalid: this.#invalidTotal(),
      invalidByReason: this.#invalidByReason(),
      sourceErrors: this.#sourceErrors,
    }
  }

  #latency(li: number): LatencySummary {
    const count = this.#lat[li * LAT]!
    const sum = this.#lat[li * LAT + 1]!
    if (count === 0) return { count, sum, avg: null, min: null, p50: null, p95: null, p99: null, max: null }
    const min = this.#lat[li * LAT + 2]!
    const max = this.#lat[li * LAT + 3]!
    const q: number[] = [0, 0, 0]
    quantiles(this.#hist, li * HISTOGRAM_BUCKETS, count, min, max, SNAPSHOT_QUANTILES, q)
    return { count, sum, avg: sum / count, min, p50: q[0]!, p95: q[1]!, p99: q[2]!, max }
  }

  latencyQuantile(layer: L, q: number): number | null {
    const where = 'CacheMetrics.latencyQuantile'
    const li = this.#layerIndex(where, layer)
    checkNumber(where, 'q', q, 0, 1)
    const count = this.#lat[li * LAT]!
    if (count === 0) return null
    if (q === 0) return this.#lat[li * LAT + 2]!
    const out = [0]
    quantiles(
      this.#hist,
      li * HISTOGRAM_BUCKETS,
      count,
      this.#lat[li * LAT + 2]!,
      this.#lat[li * LAT + 3]!,
      [q],
      out,
    )
    return out[0]!
  }

  snapshot(): CacheMetricsSnapshot<L> {
    const totals = this.#totals()
    const latencies = this.layers.map((_, li) => this.#latency(li))
    const baseIndex = this.layers.indexOf(this.#baseline)
    const baseAvg = latencies[baseIndex]!.avg
    const byLayer = Object.create(null) as Record<L, LayerSnapshot<L>>
    const layers = this.layers.map((layer, li): LayerSnapshot<L> => {
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
      layers,
      byLayer,
      baseline: this.#baseline,
      invalid: this.#invalidTotal(),
      invalidByReason: this.#invalidByReason(),
      sourceErrors: this.#sourceErrors,
    }
  }

  formatTable(options?: FormatTableOptions): string {
    const where = 'CacheMetrics.formatTable'
    checkObject(where, 'options', options, true)
    const labels = options?.labels ?? {}
    checkObject(where, 'options.labels', labels)
    for (const key of Object.keys(labels)) {
      const value = (labels as Record<string, unknown>)[key]
      if (typeof value !== 'string') {
        throw invalidArgument(where, `options.labels[${JSON.stringify(key)}]`, 'a string', value)
      }
    }
    const snap = this.snapshot()
    const rows: [string, string, string][] = snap.layers.map((l) => {
      const label = Object.hasOwn(labels, l.layer) ? labels[l.layer]! : l.layer
      return [
        tableCell(label),
        l.hitRate === null ? '—' : `${(l.hitRate * 100).toFixed(1)}%`,
        l.latency.avg === null ? '—' : formatMs(l.latency.avg),
      ]
    })
    const header: [string, string, string] = ['Layer', 'Hit Rate', 'Avg Latency']
    const widths = header.map((h, c) => Math.max(h.length, 3, ...rows.map((r) => r[c]!.length)))
    const line = (cells: readonly string[]) =>
      `| ${cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join(' | ')} |`
    const rule = `| ${widths.map((w, c) => (c === 0 ? '-'.repeat(w) : `${'-'.repeat(w - 1)}:`)).join(' | ')} |`
    return [line(header), rule, ...rows.map(line)].join('\n')
  }

  #render(openMetrics: boolean): string {
    const sample = this.collect()
    const out: string[] = []
    const family = (name: string, type: string, help: string, unit?: string): void => {
      const base = openMetrics && type === 'counter' ? name.replace(/_total$/, '') : name
      if (openMetrics) {
        out.push(`# TYPE ${base} ${type}`)
        if (unit !== undefined) out.push(`# UNIT ${base} ${unit}`)
        out.push(`# HELP ${base} ${help}`)
      } else {
        out.push(`# HELP ${base} ${help}`, `# TYPE ${base} ${type}`)
      }
    }
    family(REQUESTS_METRIC, 'counter', REQUESTS_HELP)
    sample.layers.forEach((l, li) => {
      for (const outcome of CACHE_OUTCOMES) {
        out.push(
          `${REQUESTS_METRIC}{layer="${this.#escaped[li]}",outcome="${outcome}"} ${formatValue(l.outcomes[outcome])}`,
        )
      }
    })
    family(LATENCY_METRIC, 'histogram', LATENCY_HELP, 'seconds')
    sample.layers.forEach((l, li) => {
      const label = `layer="${this.#escaped[li]}"`
      for (const b of l.latencyBuckets) {
        out.push(
          `${LATENCY_METRIC}_bucket{${label},le="${formatBound(b.le / 1000, openMetrics)}"} ${formatValue(b.count)}`,
        )
      }
      const sum = `${LATENCY_METRIC}_sum{${label}} ${formatValue(l.latencySum / 1000)}`
      const count = `${LATENCY_METRIC}_count{${label}} ${formatValue(l.latencyCount)}`
      if (openMetrics) out.push(count, sum)
      else out.push(sum, count)
    })
    family(HIT_RATIO_METRIC, 'gauge', HIT_RATIO_HELP, 'ratio')
    sample.layers.forEach((l, li) => {
      const lookups = l.outcomes.hit + l.outcomes.miss
      if (lookups > 0) {
        out.push(`${HIT_RATIO_METRIC}{layer="${this.#escaped[li]}"} ${formatValue(l.outcomes.hit / lookups)}`)
      }
    })
    family(INVALID_METRIC, 'counter', INVALID_HELP)
    for (const reason of INVALID_RECORD_REASONS) {
      out.push(`${INVALID_METRIC}{reason="${reason}"} ${formatValue(sample.invalidByReason[reason])}`)
    }
    if (openMetrics) out.push('# EOF')
    return `${out.join('\n')}\n`
  }

  toPrometheus(): string {
    return this.#render(false)
  }

  toOpenMetrics(): string {
    return this.#render(true)
  }
}
