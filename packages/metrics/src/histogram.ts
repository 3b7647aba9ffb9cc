// Log-linear latency histogram in the manner of HdrHistogram, indexed straight from the bits of the IEEE-754
// double: the 11 exponent bits select the octave and the top 7 mantissa bits one of 128 equal sub-buckets in it.
// A bucket [lo, lo + 2^e/128) is at most 1/128 of its lower bound wide, so reporting its midpoint is within
// 1/256 (0.39 %) of any value in it. Durations are in milliseconds.

/** log2 of the sub-buckets per octave. */
const SUB_BITS = 7
const SUB_COUNT = 1 << SUB_BITS
/** Smallest tracked duration: 2^-20 ms (about 0.95 ns); below it everything shares bucket 0. */
export const MIN_EXP = -20
/** Durations from 2^25 ms (about 9.3 h) up share the last bucket. */
export const MAX_EXP = 25
/** Index of the overflow bucket. */
export const LAST_BUCKET: number = (MAX_EXP - MIN_EXP) * SUB_COUNT + 1
/** Buckets per layer: underflow, (MAX_EXP - MIN_EXP) * 128 regular ones, overflow. */
export const HISTOGRAM_BUCKETS: number = LAST_BUCKET + 1
/** Subtracted from the top 19 bits of the high word so that 2^MIN_EXP lands in bucket 1. */
export const INDEX_BASE: number = ((1023 + MIN_EXP) << SUB_BITS) - 1
/** Shift that keeps exponent + top SUB_BITS mantissa bits of the high word. */
export const INDEX_SHIFT: number = 20 - SUB_BITS

const scratch = new Float64Array(1)
const scratchWords = new Uint32Array(scratch.buffer)
/** Index of the high 32-bit word of a double in {@link scratchWords}. */
const HIGH_WORD = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? 1 : 0

/** Scratch views shared by every instance (single-threaded; written and read back in one step). */
export const f64: Float64Array = scratch
/** 32-bit view of {@link f64}. */
export const u32: Uint32Array = scratchWords
/** Which element of {@link u32} holds the sign, exponent and top mantissa bits. */
export const HI: number = HIGH_WORD

/** Bucket of a non-negative finite duration in ms. */
export function bucketOf(ms: number): number {
  scratch[0] = ms
  const k = (scratchWords[HIGH_WORD]! >>> INDEX_SHIFT) - INDEX_BASE
  return k < 0 ? 0 : Math.min(k, LAST_BUCKET)
}

/** Inclusive lower bound of bucket `k` in ms. */
export function bucketLow(k: number): number {
  if (k <= 0) return 0
  const j = k + INDEX_BASE
  const e = (j >> SUB_BITS) - 1023
  return 2 ** e * (1 + (j & (SUB_COUNT - 1)) / SUB_COUNT)
}

/** Exclusive upper bound of bucket `k` in ms (`Infinity` for the overflow bucket). */
export function bucketHigh(k: number): number {
  if (k >= LAST_BUCKET) return Number.POSITIVE_INFINITY
  return bucketLow(k + 1)
}

/**
 * Quantiles of one layer's histogram (nearest rank: the value at rank ceil(q * count)), each clamped to the
 * exact observed [min, max]. `qs` must be sorted ascending; results are written to `out` in the same order.
 */
export function quantiles(
  hist: Float64Array,
  offset: number,
  count: number,
  min: number,
  max: number,
  qs: readonly number[],
  out: number[],
): void {
  let qi = 0
  let cumulative = 0
  let rank = qs.length > 0 ? Math.max(1, Math.ceil(qs[0]! * count)) : 0
  for (let k = 0; k < HISTOGRAM_BUCKETS && qi < qs.length; k++) {
    cumulative += hist[offset + k]!
    while (qi < qs.length && cumulative >= rank) {
      const q = qs[qi]!
      let v: number
      if (q >= 1) v = max
      else if (k === LAST_BUCKET) v = max
      else v = (bucketLow(k) + bucketHigh(k)) / 2
      out[qi] = v < min ? min : Math.min(v, max)
      qi++
      if (qi < qs.length) rank = Math.max(1, Math.ceil(qs[qi]! * count))
    }
  }
  for (; qi < qs.length; qi++) out[qi] = max
}

/**
 * For every histogram bucket, the exposition bucket (index into `bounds`, in ms, or its length for `+Inf`)
 * that all its values fall in, or `~first` when a bound lies inside the bucket and the value must be compared
 * (`first` being the first bound that can still hold it).
 */
export function expositionMap(bounds: readonly number[]): Int32Array {
  const map = new Int32Array(HISTOGRAM_BUCKETS)
  const n = bounds.length
  for (let k = 0; k < HISTOGRAM_BUCKETS; k++) {
    const lo = bucketLow(k)
    const hi = bucketHigh(k)
    let first = 0
    while (first < n && bounds[first]! < lo * (1 - 1e-9)) first++
    const straddles = first < n && bounds[first]! <= hi * (1 + 1e-9)
    map[k] = straddles ? ~first : first
  }
  return map
}
