/**
 * Internal: the climber that sizes W-TinyLFU's window (src/tinylfu.ts). Two parts:
 *
 * - **Density steering** (after the density tier of Caffeine's window climber). Each sample it compares, within
 *   that one sample, the window's hits per unit of capacity with the main space's, and moves the window towards
 *   the denser side by an amount that grows with the log of their ratio. Both densities come from the same
 *   sample, so the workload's own swings (a sweep's turnaround, a burst) cancel in the ratio; the hill climber
 *   this replaces compared hit ratios across samples and chased those swings (zigzag at 20%: 5.3% hits against
 *   LRU's 19.2%). The window may reach 100% of the capacity, where the policy is LRU.
 * - **Probes** for what density cannot see: a region at its smallest that earns nothing (a 1% window cannot
 *   catch a reuse 5% away; a 0% main space earns nothing by construction). After a few such samples the
 *   window jumps (from the floor: up by `probeSize`; from the top, only once the hit ratio has collapsed:
 *   down by `probeSizeTop`), and the probe's hit ratio is compared with the samples just before it. A probe
 *   that does not beat them by `probeMargin` standard errors is undone, and the wait before the next one
 *   doubles (up to `probeMaxWait` samples), so a workload that is right where it is pays little for them.
 * @internal
 */
import { TUNING } from './tuning.js'

export class WindowClimber {
  /** The cache's hits, window hits and lookups when the current sample started. */
  private sampleHits = 0
  private sampleWindowHits = 0
  private sampleWindowRaw = 0
  private sampleOps = 0
  /** Samples to wait before the next probe, and starved samples in a row. */
  private wait = 1
  private starvedFor = 0
  /** Samples left in the running probe (0: none), the window it left, its hits and lookups. */
  private probing = 0
  // Fractional fields start with a fractional value: V8 then stores them as doubles from the start, instead of
  // changing the hidden class (and dropping the optimized code) the first time one turns fractional.
  private probeFrom = 0.5
  private probeHits = 0
  private probeOps = 0
  /** The last `horizon` samples' hits and lookups (ring), how many were recorded, a slow hit ratio (< 0: none yet). */
  private readonly recentHits: Float64Array
  private readonly recentOps: Float64Array
  private recorded = 0
  private longRate = 0.5

  constructor(
    private readonly capUnits: number,
    private readonly minWindow: number,
  ) {
    this.wait = TUNING.probeWait
    const len = Math.max(TUNING.probeLen, TUNING.horizon)
    this.recentHits = new Float64Array(len)
    this.recentOps = new Float64Array(len)
    this.longRate = -0.5
  }

  /**
   * Closes the current sample (the cache's counts now: `hits` of `lookups`, `windowRaw` of them in the window,
   * `windowHits` of those only the window earns; the window's bound is `windowMax`, it holds `windowUsed`
   * units, the main space `mainUsed`) and returns how far to move the window, in capacity units (positive: grow).
   */
  move(
    hits: number,
    windowHits: number,
    windowRaw: number,
    lookups: number,
    windowMax: number,
    windowUsed: number,
    mainUsed: number,
  ): number {
    const ops = lookups - this.sampleOps
    if (ops <= 0) return 0
    const h = hits - this.sampleHits
    const wh = Math.min(h, windowHits - this.sampleWindowHits)
    const raw = windowRaw - this.sampleWindowRaw
    if (this.probing > 0) return this.probeStep(h, ops, windowMax)
    const collapsed = this.record(h, ops)
    const cap = this.capUnits
    const mh = h - wh
    // at the floor a sample without hits says nothing (a scan): it neither counts nor resets the wait there
    const starved =
      (windowMax <= this.minWindow + 0.5 && h > 0 && raw <= TUNING.starve * h) ||
      (collapsed && windowMax >= cap * (1 - TUNING.probeTop) && mh <= TUNING.starve * h)
    if (starved) {
      if (++this.starvedFor >= this.wait && this.recorded >= this.recentHits.length)
        return this.startProbe(windowMax)
    } else if (h > 0 || windowMax > this.minWindow + 0.5) this.starvedFor = 0
    if (h === 0) return 0
    // hits per unit held (not per unit of bound: a cache that is not full yet is judged by what it holds), with
    // the same prior density on both sides, so that an empty or tiny region is not read as a dense one
    const prior = TUNING.prior / cap
    const dw = (windowUsed > 0 ? wh / windowUsed : 0) + prior
    const dm = (mainUsed > 0 ? mh / mainUsed : 0) + prior
    const error = Math.log(dw / dm) - TUNING.bias
    const amount = Math.min(TUNING.maxMove, Math.abs(error) * TUNING.gain) * cap
    return error >= 0 ? amount : -amount
  }

  /** Starts the next sample at the cache's current counts. */
  startSample(hits: number, windowHits: number, windowRaw: number, lookups: number): void {
    this.sampleHits = hits
    this.sampleWindowHits = windowHits
    this.sampleWindowRaw = windowRaw
    this.sampleOps = lookups
  }

  /** Records a sample; true if the hit ratio of the last `horizon` samples collapsed (under `crash` x the slow one). */
  private record(h: number, ops: number): boolean {
    const len = this.recentHits.length
    this.recentHits[this.recorded % len] = h
    this.recentOps[this.recorded % len] = ops
    this.recorded++
    let hh = 0
    let ho = 0
    for (let i = 0; i < len; i++) {
      hh += this.recentHits[i]!
      ho += this.recentOps[i]!
    }
    const collapsed = this.recorded >= len && (hh === 0 || hh / ho < TUNING.crash * this.longRate)
    this.longRate =
      this.longRate < 0 ? h / ops : this.longRate + (h / ops - this.longRate) / TUNING.longSamples
    return collapsed
  }

  private startProbe(windowMax: number): number {
    const cap = this.capUnits
    this.starvedFor = 0
    this.probing = TUNING.probeLen + TUNING.probeSettle
    this.probeFrom = windowMax
    this.probeHits = 0
    this.probeOps = 0
    return windowMax < cap / 2 ? TUNING.probeSize * cap : -TUNING.probeSizeTop * cap
  }

  /** One sample of a probe: the first `probeSettle` are not counted; at its end keep it or undo it. */
  private probeStep(h: number, ops: number, windowMax: number): number {
    this.probing--
    if (this.probing < TUNING.probeLen) {
      this.probeHits += h
      this.probeOps += ops
    }
    if (this.probing > 0) return 0
    // the baseline: the last probeLen samples before the probe
    const len = this.recentHits.length
    let bh = 0
    let bo = 0
    for (let i = 1; i <= TUNING.probeLen; i++) {
      const j = (this.recorded - i) % len
      bh += this.recentHits[j]!
      bo += this.recentOps[j]!
    }
    this.recorded = 0
    this.recentHits.fill(0)
    this.recentOps.fill(0)
    const p = this.probeHits / this.probeOps
    const b = bh / bo
    const se = Math.sqrt(Math.max(p * (1 - p), 1e-4) / this.probeOps + Math.max(b * (1 - b), 1e-4) / bo)
    if (p > b + TUNING.probeMargin * se) {
      this.wait = TUNING.probeWait
      return 0
    }
    this.wait = Math.min(this.wait * 2, TUNING.probeMaxWait)
    return this.probeFrom - windowMax
  }
}
