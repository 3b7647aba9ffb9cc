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

/** The outcomes `record` accepts, in the order they are exported. */
export const CACHE_OUTCOMES = ['hit', 'miss', 'stale', 'error', 'set', 'evict'] as const

/**
 * What happened at a cache layer: `hit` (served from the layer), `miss` (not there), `stale` (served a stale
 * value), `error` (the layer failed), `set` (written), `evict` (removed to make room).
 */
export type CacheOutcome = (typeof CACHE_OUTCOMES)[number]

/** Default exposition bucket bounds of the latency histogram, in seconds (50 µs to 10 s). */
export const DEFAULT_LATENCY_BUCKETS: readonly number[] = Object.freeze([
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
])

/** Most layers one instance accepts (each costs about 46 KiB of histogram). */
export const MAX_LAYERS = 64

/**
 * The one cheap method the other tierkit packages call. Structural: any object with this `record` works.
 *
 * @typeParam L - the layer names
 */
export interface CacheObserver<L extends string = string> {
  /**
   * Counts one operation at a layer and, when given, its duration. Allocates nothing and never throws: an
   * unknown layer or outcome, or a duration that is not a finite non-negative number, drops the call and
   * increments the `invalid` counter instead. Safe to call detached (`const { record } = observer`).
   *
   * @param layer - one of the layers given to {@link createCacheMetrics}
   * @param outcome - what happened
   * @param durationMs - how long it took, in milliseconds (optional)
   * @example
   * ```ts
   * const t0 = performance.now()
   * const value = await redis.get(key)
   * metrics.observer.record('l2', value === null ? 'miss' : 'hit', performance.now() - t0)
   * ```
   */
  record(layer: L, outcome: CacheOutcome, durationMs?: number): void
}

/**
 * Counters read from a watched source. `hits` and `misses` are required; the others are read when present.
 * Every field is a cumulative count; a value that goes down is taken as a reset of the source (the exported
 * counter keeps rising). `@tierkit/l1-cache`'s `L1Cache#stats()` returns this shape.
 */
export interface CacheStatsLike {
  /** Lookups served from the cache (outcome `hit`). */
  readonly hits: number
  /** Lookups not found (outcome `miss`). */
  readonly misses: number
  /** Stale values served (outcome `stale`). */
  readonly stale?: number
  /** Failed operations (outcome `error`). */
  readonly errors?: number
  /** Writes (outcome `set`). */
  readonly sets?: number
  /** Entries removed to make room (outcome `evict`). Expirations are not counted. */
  readonly evictions?: number
}

/** Anything with a `stats()` method returning {@link CacheStatsLike}, such as an `L1Cache`. */
export interface StatsSource {
  /** Returns the source's cumulative counters; called at snapshot or scrape time, never on the hot path. */
  stats(): CacheStatsLike
}

/** Options of {@link createCacheMetrics}. */
export interface CacheMetricsOptions<L extends string = string> {
  /**
   * The layers, in display order, e.g. `['cdn', 'l1', 'l2', 'db']`. Non-empty, well-formed, unique strings;
   * at most {@link MAX_LAYERS}.
   */
  layers: readonly L[]
  /**
   * The layer that `latencyReduction` is measured against.
   *
   * @default 'db' when it is one of the layers, else the last layer
   */
  baseline?: L
  /**
   * Bounds (seconds) of the exported histogram buckets; `+Inf` is added. Finite, non-negative, strictly
   * increasing, at most 64. Percentiles do not depend on them (they come from the internal log-linear
   * histogram).
   *
   * @default DEFAULT_LATENCY_BUCKETS
   */
  buckets?: readonly number[]
}

/** Latency statistics of one layer, in milliseconds; `null` while the layer has no timed operation. */
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
export interface LayerSnapshot {
  /** Layer name. */
  readonly layer: string
  /** Outcome `hit` (recorded plus watched). */
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
export interface CacheMetricsSnapshot {
  /** Layers in configured order. */
  readonly layers: readonly LayerSnapshot[]
  /** The same layers by name (a prototype-less object). */
  readonly byLayer: Readonly<Record<string, LayerSnapshot>>
  /** The layer `latencyReduction` is measured against. */
  readonly baseline: string
  /** `record` calls dropped for bad input. */
  readonly invalid: number
  /** `stats()` calls of watched sources that threw or returned something other than an object. */
  readonly sourceErrors: number
}

/** One cumulative exposition bucket. */
export interface LatencyBucket {
  /** Upper bound in seconds (`Infinity` for the last). */
  readonly le: number
  /** Operations with a duration at most `le` seconds (cumulative). */
  readonly count: number
}

/** One layer in a {@link CacheMetricsSample}. */
export interface LayerSample {
  /** Layer name. */
  readonly layer: string
  /** Count per outcome, recorded plus watched. */
  readonly outcomes: Readonly<Record<CacheOutcome, number>>
  /** Timed operations. */
  readonly latencyCount: number
  /** Sum of durations in seconds. */
  readonly latencySumSeconds: number
  /** Cumulative buckets, the last with `le: Infinity` and `count === latencyCount`. */
  readonly latencyBuckets: readonly LatencyBucket[]
}

/** Raw cumulative counters, as exporters need them (see {@link CacheMetrics.collect}). */
export interface CacheMetricsSample {
  /** Layers in configured order. */
  readonly layers: readonly LayerSample[]
  /** `record` calls dropped for bad input. */
  readonly invalid: number
  /** Failed `stats()` reads of watched sources. */
  readonly sourceErrors: number
}

/** Options of {@link CacheMetrics.formatTable}. */
export interface FormatTableOptions {
  /** Display names by layer, e.g. `{ l1: 'L1', l2: 'L2 (Redis)', db: 'DB' }`. @default the layer names */
  labels?: Readonly<Record<string, string>>
}

/** Per-layer cache metrics; create with {@link createCacheMetrics}. */
export interface CacheMetrics<L extends string = string> {
  /** The configured layers, in order. */
  readonly layers: readonly L[]
  /** The hot-path recorder to hand to other packages. */
  readonly observer: CacheObserver<L>
  /**
   * Reads a source's `stats()` at every snapshot or scrape and adds its counters to `layer`. Several sources
   * may feed one layer. Returns a function that stops watching; counts read so far are kept.
   *
   * @throws TypeError `watch(): unknown layer "<layer>"` or `watch(): source must have a stats() method` or
   *   `watch(): this source is already watched for layer "<layer>"`
   * @example
   * ```ts
   * const unwatch = metrics.watch('l1', l1Cache)
   * ```
   */
  watch(layer: L, source: StatsSource): () => void
  /** Hit and miss rates, percentiles and latency reduction per layer. Reads watched sources. */
  snapshot(): CacheMetricsSnapshot
  /**
   * One latency quantile of a layer, in ms: the nearest-rank value (rank `ceil(q * count)`) within 0.4 %, or
   * `null` while the layer has no timed operation. `q = 0` gives the exact minimum, `q = 1` the exact maximum.
   *
   * @throws TypeError `latencyQuantile(): unknown layer "<layer>"` or
   *   `latencyQuantile(): q must be a number between 0 and 1`
   */
  latencyQuantile(layer: L, q: number): number | null
  /** Raw cumulative counters and histogram buckets, for exporters. Reads watched sources. */
  collect(): CacheMetricsSample
  /**
   * The design notes' table, `Layer | Hit Rate | Avg Latency`, as Markdown with measured numbers (`—` where a
   * layer has no lookups or no timings).
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

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'undefined')
    return String(value)
  return `a ${typeof value}`
}

interface Watch {
  readonly layer: number
  readonly source: StatsSource
  /** Last good reading per outcome. */
  readonly last: Float64Array
  /** Sum of readings before each detected reset. */
  readonly base: Float64Array
}

function validateLayers(layers: unknown): string[] {
  if (!Array.isArray(layers) || layers.length === 0) {
    throw new TypeError('createCacheMetrics(): options.layers must be a non-empty array of layer names')
  }
  if (layers.length > MAX_LAYERS) {
    throw new TypeError(`createCacheMetrics(): at most ${MAX_LAYERS} layers, got ${layers.length}`)
  }
  const seen = new Set<string>()
  for (const layer of layers) {
    if (typeof layer !== 'string' || layer.length === 0 || LONE_SURROGATE.test(layer)) {
      throw new TypeError(
        `createCacheMetrics(): layer names must be non-empty, well-formed strings, got ${describe(layer)}`,
      )
    }
    if (seen.has(layer)) throw new TypeError(`createCacheMetrics(): duplicate layer ${JSON.stringify(layer)}`)
    seen.add(layer)
  }
  return [...layers]
}

function validateBuckets(buckets: unknown): number[] {
  const message =
    'createCacheMetrics(): options.buckets must be an array of at most 64 finite, non-negative numbers in strictly increasing order'
  if (!Array.isArray(buckets) || buckets.length > 64) throw new TypeError(message)
  let previous = Number.NEGATIVE_INFINITY
  for (const b of buckets) {
    if (typeof b !== 'number' || !Number.isFinite(b) || b < 0 || b <= previous) throw new TypeError(message)
    previous = b
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
 * Creates per-layer cache metrics: a hot-path {@link CacheObserver}, snapshots with percentiles, the design
 * notes' table and Prometheus / OpenMetrics text.
 *
 * @param options - the layers and optional baseline and exposition buckets
 * @returns the metrics instance
 * @throws TypeError `createCacheMetrics(): options must be an object` and the messages of each option (see
 *   README, Errors)
 * @example
 * ```ts
 * const metrics = createCacheMetrics({ layers: ['cdn', 'l1', 'l2', 'db'] })
 * metrics.observer.record('l2', 'hit', 1.4)
 * console.log(metrics.formatTable({ labels: { l1: 'L1', l2: 'L2 (Redis)', db: 'DB' } }))
 * ```
 */
export function createCacheMetrics<const L extends string>(options: CacheMetricsOptions<L>): CacheMetrics<L> {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('createCacheMetrics(): options must be an object')
  }
  const layers = validateLayers(options.layers) as L[]
  let baseline: string
  if (options.baseline === undefined) {
    baseline = layers.includes('db' as L) ? 'db' : layers[layers.length - 1]!
  } else {
    if (!layers.includes(options.baseline)) {
      throw new TypeError(
        `createCacheMetrics(): options.baseline must be one of the layers, got ${describe(options.baseline)}`,
      )
    }
    baseline = options.baseline
  }
  const bounds =
    options.buckets === undefined ? [...DEFAULT_LATENCY_BUCKETS] : validateBuckets(options.buckets)
  return new Metrics<L>(layers, baseline, bounds)
}

class Metrics<L extends string> implements CacheMetrics<L> {
  readonly layers: readonly L[]
  readonly observer: CacheObserver<L>
  readonly #baseline: string
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
  /** [0]: invalid record calls, [1]: failed source reads. */
  readonly #errors: Float64Array
  // Watched sources.
  readonly #watches: Watch[] = []
  /** Counts of sources no longer watched, kept so counters never go down. */
  readonly #retired: Float64Array

  constructor(layers: L[], baseline: string, bounds: number[]) {
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
    const errors = new Float64Array(2)
    this.#counts = counts
    this.#hist = hist
    this.#straddled = straddled
    this.#lat = lat
    this.#errors = errors
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
    const time = (li: number, durationMs: unknown): boolean => {
      if (typeof durationMs !== 'number' || !(durationMs >= 0) || durationMs === Number.POSITIVE_INFINITY) {
        return false
      }
      const ms = durationMs === 0 ? 0 : durationMs // -0 has the sign bit set: store +0
      bits[0] = ms
      let k = (words[hi]! >>> shift) - base
      k = k < 0 ? 0 : Math.min(k, last)
      hist[li * perLayer + k]!++
      let b = map[k]!
      if (b < 0) {
        // a bound lies inside this bucket: compare (the other buckets are summed at read time)
        b = ~b
        const seconds = ms / 1000
        while (b < nBounds && seconds > boundsArray[b]!) b++
        straddled[li * expoWidth + b]!++
      }
      const at = li * LAT
      lat[at]!++
      lat[at + 1]! += ms
      if (ms < lat[at + 2]!) lat[at + 2] = ms
      if (ms > lat[at + 3]!) lat[at + 3] = ms
      return true
    }

    // Kept small (under V8's 460-byte inlining limit) so that callers can inline it: a call that is not inlined
    // makes V8 box a fractional duration into a heap number at the call site, as for any function.
    const record = (layer: L, outcome: CacheOutcome, durationMs?: number): void => {
      let li = 0
      while (li < scanCount && layerList[li] !== layer) li++
      if (li === scanCount) li = useMap ? (layerIndex.get(layer) ?? -1) : -1
      let oi = 0
      while (oi < OUTCOMES && outcomeList[oi] !== outcome) oi++
      if (li >= 0 && oi < OUTCOMES && (durationMs === undefined || time(li, durationMs))) {
        counts[li * OUTCOMES + oi]!++
      } else {
        errors[0]!++
      }
    }
    this.observer = Object.freeze({ record })
  }

  watch(layer: L, source: StatsSource): () => void {
    const li = this.layers.indexOf(layer)
    if (typeof layer !== 'string' || li < 0) throw new TypeError(`watch(): unknown layer ${describe(layer)}`)
    if (
      (typeof source !== 'object' && typeof source !== 'function') ||
      source === null ||
      typeof source.stats !== 'function'
    ) {
      throw new TypeError('watch(): source must have a stats() method')
    }
    if (this.#watches.some((w) => w.layer === li && w.source === source)) {
      throw new TypeError(`watch(): this source is already watched for layer ${describe(layer)}`)
    }
    const entry: Watch = {
      layer: li,
      source,
      last: new Float64Array(OUTCOMES),
      base: new Float64Array(OUTCOMES),
    }
    this.#watches.push(entry)
    this.#read(entry)
    return () => {
      const at = this.#watches.indexOf(entry)
      if (at < 0) return
      this.#read(entry)
      this.#watches.splice(at, 1)
      for (let o = 0; o < OUTCOMES; o++) {
        this.#retired[entry.layer * OUTCOMES + o]! += entry.base[o]! + entry.last[o]!
      }
    }
  }

  #read(entry: Watch): void {
    let stats: unknown
    try {
      stats = entry.source.stats()
    } catch {
      this.#errors[1]!++
      return
    }
    if (typeof stats !== 'object' || stats === null) {
      this.#errors[1]!++
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

  collect(): CacheMetricsSample {
    const totals = this.#totals()
    const expoWidth = this.#bounds.length + 1
    const layers = this.layers.map((layer, li): LayerSample => {
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
        latencySumSeconds: this.#lat[li * LAT + 1]! / 1000,
        latencyBuckets: buckets,
      }
    })
    return { layers, invalid: this.#errors[0]!, sourceErrors: this.#errors[1]! }
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
    const li = this.layers.indexOf(layer)
    if (typeof layer !== 'string' || li < 0)
      throw new TypeError(`latencyQuantile(): unknown layer ${describe(layer)}`)
    if (typeof q !== 'number' || !(q >= 0 && q <= 1)) {
      throw new TypeError('latencyQuantile(): q must be a number between 0 and 1')
    }
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

  snapshot(): CacheMetricsSnapshot {
    const totals = this.#totals()
    const latencies = this.layers.map((_, li) => this.#latency(li))
    const baseIndex = this.layers.indexOf(this.#baseline as L)
    const baseAvg = latencies[baseIndex]!.avg
    const byLayer = Object.create(null) as Record<string, LayerSnapshot>
    const layers = this.layers.map((layer, li): LayerSnapshot => {
      const at = li * OUTCOMES
      const hits = totals[at]!
      const misses = totals[at + 1]!
      const lookups = hits + misses
      const latency = latencies[li]!
      const snap: LayerSnapshot = {
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
      invalid: this.#errors[0]!,
      sourceErrors: this.#errors[1]!,
    }
  }

  formatTable(options: FormatTableOptions = {}): string {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError('formatTable(): options must be an object')
    }
    const labels = options.labels ?? {}
    if (typeof labels !== 'object' || labels === null) {
      throw new TypeError('formatTable(): options.labels must be an object')
    }
    for (const key of Object.keys(labels)) {
      if (typeof (labels as Record<string, unknown>)[key] !== 'string') {
        throw new TypeError('formatTable(): options.labels values must be strings')
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
          `${LATENCY_METRIC}_bucket{${label},le="${formatBound(b.le, openMetrics)}"} ${formatValue(b.count)}`,
        )
      }
      const sum = `${LATENCY_METRIC}_sum{${label}} ${formatValue(l.latencySumSeconds)}`
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
    out.push(`${INVALID_METRIC} ${formatValue(sample.invalid)}`)
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
