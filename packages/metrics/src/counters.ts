/**
 * The per-layer counters (outcome counts, the log-linear latency histogram, the exposition buckets, the latency
 * statistics, the refused records) and the hot-path `record` that writes them: every store goes to a
 * preallocated typed array, so `record` allocates nothing.
 *
 * @module
 */
import { CACHE_OUTCOMES, type CacheOutcome } from '@tierkit/contracts'
import {
  expositionMap,
  f64,
  HI,
  HISTOGRAM_BUCKETS,
  INDEX_BASE,
  INDEX_SHIFT,
  LAST_BUCKET,
  u32,
} from './histogram.js'
import { INVALID_RECORD_REASONS, invalidMessage, REASONS } from './invalid.js'
import type { CacheMetricsEvent } from './types.js'

/** Outcomes per layer in `counts`. @internal */
export const OUTCOMES: number = CACHE_OUTCOMES.length
/** Stride of the per-layer latency statistics: count, sum, min, max. @internal */
export const LAT = 4
/** Layers looked up by a linear scan of === before the Map. */
const SCAN_LAYERS = 8

/** The counters of one instance, all preallocated; layer-major. @internal */
export interface LayerCounters {
  /** Exposition bucket bounds (ms). */
  readonly bounds: readonly number[]
  /** Exposition buckets per layer: the bounds and `+Inf`. */
  readonly expoWidth: number
  /** Per layer, per outcome: recorded operations. */
  readonly counts: Float64Array
  /** Per layer: the internal log-linear latency histogram. */
  readonly hist: Float64Array
  /** Exposition counts of the durations that fell in an internal bucket containing a bound. */
  readonly straddled: Float64Array
  /** Exposition bucket of each internal bucket (negative: it contains a bound). */
  readonly map: Int32Array
  /** Per layer, stride LAT: timed count, sum (ms), min, max. */
  readonly lat: Float64Array
  /** Record calls not counted, by reason. */
  readonly invalid: Float64Array
  /** Per layer: 1 while a source is watched for it (its records are refused). */
  readonly watched: Uint8Array
}

/** Allocates the counters of `n` layers with the exposition `bounds`. @internal */
export function createCounters(n: number, bounds: readonly number[]): LayerCounters {
  const expoWidth = bounds.length + 1
  const lat = new Float64Array(n * LAT)
  for (let i = 0; i < n; i++) lat[i * LAT + 2] = Number.POSITIVE_INFINITY
  return {
    bounds,
    expoWidth,
    counts: new Float64Array(n * OUTCOMES),
    hist: new Float64Array(n * HISTOGRAM_BUCKETS),
    straddled: new Float64Array(n * expoWidth),
    map: expositionMap(bounds),
    lat,
    invalid: new Float64Array(REASONS),
    watched: new Uint8Array(n),
  }
}

/**
 * The hot-path `record` of the counters `c` of `layers`. Its state lives in this closure's locals (one context
 * load each), not behind an object.
 * @internal
 */
export function createRecorder<L extends string>(
  layers: readonly L[],
  c: LayerCounters,
  onEvent: ((event: CacheMetricsEvent<L>) => void) | undefined,
): (layer: L, outcome: CacheOutcome, duration?: number) => void {
  const n = layers.length
  const { counts, invalid, watched } = c
  /** Per reason, per layer (slot 0: an unknown layer): 1 once reported through onEvent. */
  const reported = new Uint8Array(REASONS * (n + 1))

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
  const outcomeList: readonly unknown[] = [...CACHE_OUTCOMES]
  const time = createTimer(c)
  const report = createReporter(layers, onEvent)

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
  return record
}

/**
 * The latency part of `record`: adds one duration of layer `li` to the histogram, the exposition buckets and the
 * statistics of `c`; its state lives in this closure's locals.
 */
function createTimer(c: LayerCounters): (li: number, duration: unknown) => boolean {
  const { hist, straddled, map, lat, expoWidth } = c
  const boundsArray = Float64Array.from(c.bounds)
  const nBounds = c.bounds.length
  const bits = f64
  const words = u32
  const hi = HI
  const shift = INDEX_SHIFT
  const base = INDEX_BASE
  const last = LAST_BUCKET
  const perLayer = HISTOGRAM_BUCKETS

  // Adds one valid duration to layer li; false (nothing changed) when the duration is not a finite number >= 0.
  return (li: number, duration: unknown): boolean => {
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
}

/** The reporting part of `record`: delivers the event of a first refusal (once per reason and layer). */
function createReporter<L extends string>(
  layers: readonly L[],
  onEvent: ((event: CacheMetricsEvent<L>) => void) | undefined,
): (reason: number, layer: unknown, outcome: unknown, duration: unknown) => void {
  return (reason: number, layer: unknown, outcome: unknown, duration: unknown): void => {
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
}
