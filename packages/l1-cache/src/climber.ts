/**
 * Internal: the hill climber that tunes W-TinyLFU's window share (after Caffeine's `WindowClimber`). Every
 * sample of lookups it compares the hit rate with the previous sample's: if it improved, it keeps moving the
 * window the same way, else it turns back. The step restarts when the hit rate jumps, decays otherwise, never
 * falls below a floor, and each move is scaled by how far the change stands out of the sampling noise.
 * @internal
 */
import { TUNING } from './tuning.js'

export class HillClimber {
  // Fractional fields start with a fractional value: V8 then stores them as doubles from the start, instead of
  // changing the hidden class (and dropping the optimized code) the first time one turns fractional.
  private prevHitRate = 0.5
  private stepSize = 0.5
  /** Hits and lookups of the cache when the current sample started. */
  private sampleHits = 0
  private sampleOps = 0

  constructor(private readonly capUnits: number) {
    this.stepSize = -TUNING.step * capUnits
    this.prevHitRate = 0
  }

  /**
   * Closes the current sample (the cache's counts now: `hits` of `lookups`) and returns how far to move the
   * window, in capacity units (positive: grow it); 0 if the sample saw no lookup.
   */
  move(hits: number, lookups: number): number {
    const ops = lookups - this.sampleOps
    if (ops <= 0) return 0
    const hitRate = (hits - this.sampleHits) / ops
    const change = hitRate - this.prevHitRate
    let amount = change >= 0 ? this.stepSize : -this.stepSize
    if (TUNING.noise > 0) {
      // Scale the move by how far the change stands out of the sampling noise of two hit ratios.
      const sigma = Math.sqrt((Math.max(hitRate, 1e-3) * Math.max(1 - hitRate, 1e-3) * 2) / ops)
      amount *= Math.max(TUNING.noiseFloor, Math.min(1, Math.abs(change) / (TUNING.noise * sigma)))
    }
    const nextStep =
      Math.abs(change) >= TUNING.restart
        ? TUNING.step * this.capUnits * (amount >= 0 ? 1 : -1)
        : TUNING.decay * amount
    this.prevHitRate = hitRate
    const floor = TUNING.minStep * this.capUnits
    this.stepSize = Math.abs(nextStep) >= floor ? nextStep : nextStep < 0 ? -floor : floor
    return amount
  }

  /** Starts the next sample at the cache's current counts. */
  startSample(hits: number, lookups: number): void {
    this.sampleHits = hits
    this.sampleOps = lookups
  }
}
