/**
 * Seeded randomness for benchmarks, load generators and tests (no vitest import: usable at run time too, as
 * `@tierkit/testkit/random`).
 */

/** A seeded PRNG (mulberry32): floats in [0, 1), the same sequence for the same seed. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * A Zipf sampler over ranks 1..n with exponent `s`: P(k) ∝ 1 / k^s. The CDF is precomputed once (n doubles);
 * each draw is a binary search over one value of `random`.
 * @throws TypeError when `n` is not a positive integer or `s` not a positive finite number.
 */
export function zipf(n: number, s: number, random: () => number = Math.random): () => number {
  if (!Number.isInteger(n) || n < 1) throw new TypeError('zipf: n must be a positive integer')
  if (typeof s !== 'number' || !Number.isFinite(s) || s <= 0)
    throw new TypeError('zipf: s must be a positive finite number')
  const cdf = new Float64Array(n)
  let sum = 0
  for (let k = 1; k <= n; k++) {
    sum += 1 / k ** s
    cdf[k - 1] = sum
  }
  for (let i = 0; i < n; i++) cdf[i]! /= sum
  return () => {
    const u = random()
    let lo = 0
    let hi = n - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (cdf[mid]! < u) lo = mid + 1
      else hi = mid
    }
    return lo + 1
  }
}
