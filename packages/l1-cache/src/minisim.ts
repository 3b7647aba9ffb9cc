/**
 * Internal: miniature simulations that choose W-TinyLFU's window share (src/tinylfu.ts) for a cache bounded by
 * count. A hash sample of the keys (1 in `rate`, a power of two; every key when the cache holds at most
 * `TUNING.miniSize` entries) is replayed into a few miniature W-TinyLFU caches of `max / rate` entries, each
 * with a fixed window share (`TUNING.shares`, from 1% to 100%, where a miniature is exact LRU). Each miniature's
 * misses are discounted over a horizon of `TUNING.simHorizon` x the capacity in lookups, and the cache moves its
 * window to the share of the miniature with the fewest (keeping its own on a tie). This sees what the density
 * climber (src/climber.ts) can only infer from the one split the cache runs: the hit ratio of every other
 * split. After Waldspurger et al., "Cache Modeling and Optimization using Miniature Simulation" (USENIX ATC
 * 2017), and the "leader" variant of Caffeine's simulator; the miniatures here are our own, simplified W-TinyLFU
 * (each is this package's own policy, src/tinylfu.ts, with its window fixed: a simplified W-TinyLFU ranked the
 * windows differently from the policy it was meant to steer).
 * @internal
 */
import { TUNING } from './tuning.js'

/** Largest sampling rate (the cache uses the density climber beyond `miniSize` x this). */
const MAX_RATE = 1 << 20

/** A miniature cache: replays an access of a sampled key's hash, @returns 1 on a miss, 0 on a hit. */
export interface Miniature {
  access(h: number): number
}

/**
 * Makes a miniature of `cap` entries whose window is fixed at `share` of it, ageing its frequencies every
 * `period` of its accesses (the cache's period over the sample rate).
 */
export type MiniatureFactory = (cap: number, share: number, period: number) => Miniature

/** The miniatures of one cache, their discounted misses and the share they currently recommend. */
export class MiniSim {
  /** Sampled: `(mixed hash & mask) === 0`. */
  readonly mask: number
  private readonly minis: Miniature[] = []
  private readonly misses: Float64Array
  /** The replayed lookups, discounted like the misses. */
  private lookups = 0
  private readonly discount: number
  private readonly shares: readonly number[] = TUNING.shares
  /** Index in `shares` of the miniature the cache follows. */
  leader: number

  /**
   * @param max - the cache's entry bound
   * @param start - the window share the cache starts with (the leader starts at the nearest share)
   * @param period - the cache's ageing period, in lookups
   * @param make - makes the miniatures
   */
  constructor(max: number, start: number, period: number, make: MiniatureFactory) {
    let rate = 1
    while (rate < MAX_RATE && max / (rate * 2) >= TUNING.miniSize) rate *= 2
    this.mask = rate - 1
    const cap = Math.max(1, Math.ceil(max / rate))
    const miniPeriod = Math.max(1, Math.round(period / rate))
    const shares = this.shares
    for (const share of shares) this.minis.push(make(cap, share, miniPeriod))
    this.misses = new Float64Array(shares.length)
    this.discount = 1 - 1 / (TUNING.simHorizon * cap)
    let best = 0
    for (let i = 1; i < shares.length; i++) {
      if (Math.abs(shares[i]! - start) < Math.abs(shares[best]! - start)) best = i
    }
    this.leader = best
  }

  /** Whether the cache needs miniatures for a bound of `max` entries (not beyond the largest rate). */
  static fits(max: number): boolean {
    return max > 0 && max <= MAX_RATE * TUNING.miniSize
  }

  /** Whether the key of hash `h` is in the sample. */
  sampled(h: number): boolean {
    return ((Math.imul(h, 0x2c1b3c6d) >>> 8) & this.mask) === 0
  }

  /** Replays a sampled access (hash `h`) into every miniature. */
  replay(h: number): void {
    const d = this.discount
    const misses = this.misses
    const minis = this.minis
    this.lookups = this.lookups * d + 1
    for (let i = 0; i < minis.length; i++) misses[i] = misses[i]! * d + minis[i]!.access(h)
  }

  /** The cache is full for the first time: what the miniatures missed while filling says nothing of the window. */
  restart(): void {
    this.misses.fill(0)
    this.lookups = 0
  }

  /**
   * Follows the miniature with the fewest discounted misses, if it misses `simMargin` less than the leader.
   * When every miniature misses exactly as much and something hit (a hot set that fits them all), the smallest
   * window: frequency wins ties, so that set is kept through the scan that may follow. With no hit at all yet
   * (every miniature missed everything) the leader stays. @returns the leader's share
   */
  follow(): number {
    const misses = this.misses
    const lead = misses[this.leader]!
    let best = this.leader
    let tie = true
    for (let i = 0; i < misses.length; i++) {
      if (misses[i]! < misses[best]!) best = i
      if (misses[i]! !== lead) tie = false
    }
    if (misses[best]! < lead * (1 - TUNING.simMargin)) this.leader = best
    else if (tie && lead < this.lookups * (1 - 1e-9)) this.leader = 0
    return this.shares[this.leader]!
  }
}
