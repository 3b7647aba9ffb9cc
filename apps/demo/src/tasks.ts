/**
 * Tasks run on the worker pool's threads (`@tierkit/worker-pool/worker`). Loaded as `tasks.js` from the build and
 * as `tasks.ts` through tsx in development (the pool picks whichever exists).
 */
import { defineTasks } from '@tierkit/worker-pool/worker'

/** Input of `priceStats`. */
export interface PriceStatsInput {
  /** Prices in cents, one per product. */
  prices: Float64Array
  /** Category index of each price. */
  categoryIndex: Int32Array
  /** Category names. */
  categories: string[]
  /** Bootstrap resamples for the confidence interval of each category's mean (the CPU-heavy part). */
  resamples: number
}

/** Statistics of one category (cents). */
export interface CategoryStats {
  /** Category name ('all' for the whole table). */
  category: string
  /** Products. */
  count: number
  /** Mean price. */
  mean: number
  /** Median price. */
  median: number
  /** 90th percentile. */
  p90: number
  /** Standard deviation. */
  stddev: number
  /** 95% bootstrap confidence interval of the mean. */
  meanCi95: [number, number]
}

/** Output of `priceStats`. */
export interface PriceStatsResult {
  /** One entry per category, then 'all'. */
  categories: CategoryStats[]
  /** Resamples used. */
  resamples: number
  /** Thread time spent, ms. */
  computeMs: number
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}

function stats(category: string, values: Float64Array, resamples: number, seed: number): CategoryStats {
  const n = values.length
  let sum = 0
  for (let i = 0; i < n; i++) sum += values[i]!
  const mean = n === 0 ? 0 : sum / n
  let sq = 0
  for (let i = 0; i < n; i++) sq += (values[i]! - mean) ** 2
  const sorted = Float64Array.from(values).sort()
  // bootstrap: resample n values with replacement, `resamples` times (xorshift PRNG: deterministic)
  let x = seed | 1
  const means = new Float64Array(resamples)
  for (let r = 0; r < resamples; r++) {
    let s = 0
    for (let i = 0; i < n; i++) {
      x ^= x << 13
      x ^= x >>> 17
      x ^= x << 5
      s += values[(x >>> 0) % n]!
    }
    means[r] = n === 0 ? 0 : s / n
  }
  means.sort()
  return {
    category,
    count: n,
    mean,
    median: quantile(sorted, 0.5),
    p90: quantile(sorted, 0.9),
    stddev: n === 0 ? 0 : Math.sqrt(sq / n),
    meanCi95: resamples === 0 ? [mean, mean] : [quantile(means, 0.025), quantile(means, 0.975)],
  }
}

/** The task set of the report pool. */
const tasks: { priceStats: (input: PriceStatsInput) => PriceStatsResult } = defineTasks({
  /** Price statistics per category with bootstrap confidence intervals. */
  priceStats(input: PriceStatsInput): PriceStatsResult {
    const t0 = performance.now()
    const { prices, categoryIndex, categories, resamples } = input
    const counts = new Int32Array(categories.length)
    for (let i = 0; i < categoryIndex.length; i++) counts[categoryIndex[i]!]!++
    const byCat = categories.map((_, c) => new Float64Array(counts[c]!))
    const fill = new Int32Array(categories.length)
    for (let i = 0; i < prices.length; i++) {
      const c = categoryIndex[i]!
      byCat[c]![fill[c]!++] = prices[i]!
    }
    const out = categories.map((name, c) => stats(name, byCat[c]!, resamples, c + 1))
    out.push(stats('all', prices, resamples, 99))
    return { categories: out, resamples, computeMs: performance.now() - t0 }
  },
})

export default tasks
