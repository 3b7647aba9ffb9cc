/** Percentiles of a duration, in milliseconds, over the most recent samples. */
export interface Percentiles {
  /** How many samples the figures are computed from (at most the window size). */
  readonly count: number
  /** Median. */
  readonly p50: number
  /** 90th percentile. */
  readonly p90: number
  /** 99th percentile. */
  readonly p99: number
  /** Largest sample in the window. */
  readonly max: number
  /** Arithmetic mean of the window. */
  readonly mean: number
}

/** Fixed-size ring of the most recent samples; recording is two stores, percentiles are computed on demand. */
export class SampleWindow {
  readonly #values: Float64Array
  #next = 0
  #size = 0

  constructor(capacity: number) {
    this.#values = new Float64Array(capacity)
  }

  record(value: number): void {
    this.#values[this.#next] = value
    this.#next = this.#next + 1 === this.#values.length ? 0 : this.#next + 1
    if (this.#size < this.#values.length) this.#size++
  }

  percentiles(): Percentiles {
    const n = this.#size
    if (n === 0) return { count: 0, p50: 0, p90: 0, p99: 0, max: 0, mean: 0 }
    const sorted = this.#values.slice(0, n).sort()
    let sum = 0
    for (let i = 0; i < n; i++) sum += sorted[i]!
    const at = (q: number): number => sorted[Math.min(n - 1, Math.ceil(q * n) - 1)]!
    return { count: n, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted[n - 1]!, mean: sum / n }
  }
}
