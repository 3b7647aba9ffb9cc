/**
 * Internal: the `'tinylfu'` policy, adaptive W-TinyLFU. New entries enter a small LRU window (list 0); an entry
 * leaving it is a candidate for the main space, a segmented LRU of probation (list 1) and protected (list 2),
 * which it enters only if the TinyLFU admission (src/admission.ts) prefers it to probation's least recent
 * entry. A probation hit promotes to protected (at most 80% of the main space). The window's share is chosen,
 * for a cache bounded by count, by miniature simulations of this same policy with fixed windows (src/minisim.ts;
 * the window starts at 100%, LRU), else tuned by the density climber (src/climber.ts); every `period` lookups
 * the frequencies are aged.
 *
 * Each slot's policy byte (`store.meta`) holds its segment (bits 4-5), an exact 4-bit frequency for residents
 * (bits 0-3), whether it was hit since it was inserted (bit 6) and whether its key is in the miniatures' sample
 * (bit 7).
 * @internal
 */
import { TinyLfuAdmission } from './admission.js'
import { WindowClimber } from './climber.js'
import { type Miniature, MiniSim } from './minisim.js'
import type { EvictionPolicy, PolicyContext } from './policy.js'
import { hashKey } from './sketch.js'
import { FIRST, SlotStore } from './slots.js'
import { Counters } from './stats.js'
import { TUNING } from './tuning.js'
import type { EvictionReason } from './types.js'

const WIN = 0
const PROB = 1
const PROT = 2
const Q_SHIFT = 4
const FREQ = 15
/** Policy byte bit: the entry was hit since it was inserted (only then is its count worth writing back). */
const TOUCH = 64
/** Policy byte bit: the key is in the miniatures' sample (src/minisim.ts): its lookups are replayed there. */
const SAMPLED = 128
/** Mask of the policy byte's bits that moves between segments keep. */
const KEEP = FREQ | TOUCH | SAMPLED
/** Iteration order: protected, window, probation. */
const HEADS: readonly number[] = [PROT, WIN, PROB]

export class WTinyLfuPolicy<K> implements EvictionPolicy<K> {
  static readonly usesMeta = true
  readonly heads: readonly number[] = HEADS
  private readonly store: SlotStore<K, unknown>
  private readonly counters: Counters
  private readonly max: number
  private readonly maxCount: number
  private readonly maxWeight: number
  private readonly capUnits: number
  private readonly evict: (slot: number) => void
  private readonly admission = new TinyLfuAdmission()
  private readonly climber: WindowClimber
  /** The miniatures that choose the window (count-bounded caches; `null`: the climber does). */
  private readonly sim: MiniSim | null
  /** A miniature's policy: the window stays where it was set. */
  private readonly fixed: boolean
  /** The cache has been full (count-bounded caches with miniatures: they restart then). */
  private filled = false
  /** Hits in the window segment: all of them, and those only the window earns (see recencyHit). */
  private windowRaw = 0
  private windowHits = 0
  private readonly marginal: number = TUNING.marginal
  private windowWeight = 0
  private protectedWeight = 0
  // Fractional fields start with a fractional value: V8 then stores them as doubles from the start, instead of
  // changing every policy's hidden class (and dropping the optimized code) the first time one turns fractional.
  private windowMax = 0.5
  private protectedMax = 0.5
  /** Lookups at which the next ageing or climbing is due, the ageing period and the climber's sample. */
  private nextCheck = 0
  private period = 0
  private sample = 0
  private lastAge = 0
  private readonly fastEvict: boolean = TUNING.fastEvict

  /**
   * @param ctx - the cache's context
   * @param fixed - for a miniature (src/minisim.ts): its window share, fixed, and its ageing period (lookups)
   */
  constructor(ctx: PolicyContext<K>, fixed?: { share: number; period: number }) {
    this.store = ctx.store
    this.counters = ctx.counters
    this.max = ctx.max
    this.maxCount = ctx.maxCount
    this.maxWeight = ctx.maxWeight
    this.capUnits = ctx.capUnits
    this.evict = ctx.evict
    const simulated =
      !fixed && TUNING.sim && ctx.maxWeight === Number.POSITIVE_INFINITY && MiniSim.fits(this.max)
    const start = fixed ? fixed.share : simulated ? TUNING.simStart : TUNING.initialWindow
    this.windowMax = Math.max(this.minWindow(), this.capUnits * start)
    this.protectedMax = (this.capUnits - this.windowMax) * 0.8
    this.climber = new WindowClimber(this.capUnits, this.minWindow())
    this.setPeriods(this.max > 0 ? this.max : this.store.slotCap)
    this.fixed = fixed !== undefined
    if (fixed) this.period = fixed.period
    this.sim = simulated ? new MiniSim(this.max, start, this.period, miniature) : null
    this.nextCheck = Math.min(this.sample, this.period)
  }

  onMiss(key: K): void {
    this.admission.recordMiss(key)
    const sim = this.sim
    if (sim?.sampled(this.admission.lastHash)) sim.replay(this.admission.lastHash)
    if (this.counters.hits + this.counters.misses >= this.nextCheck) this.periodic()
  }

  onHit(slot: number): void {
    // touch(slot) written out: this is the hit path
    const meta = this.store.meta!
    const m = meta[slot]!
    meta[slot] = ((m & FREQ) !== FREQ ? m + 1 : m) | TOUCH
    if (m >= SAMPLED) this.sim!.replay(hashKey(this.store.keyList[slot]))
    const q = (m >>> Q_SHIFT) & 3
    if (q === PROB) this.promote(slot)
    else {
      this.store.toTail(q, slot)
      if (q === WIN) {
        this.windowRaw++
        if (this.recencyHit(m)) this.windowHits++
      }
    }
    if (this.counters.hits + this.counters.misses >= this.nextCheck) this.periodic()
  }

  /**
   * Whether a window hit is one only the window earns: an entry that TinyLFU would admit over probation's
   * victim now (used more often) would be held by the main space as well, so its hits are not the window's
   * margin (on Zipf traffic the hottest keys stay in the window and made it look dense).
   */
  private recencyHit(m: number): boolean {
    const v = this.store.next[PROB]!
    return v === PROB || (m & FREQ) <= (this.store.meta![v]! & FREQ) + this.marginal
  }

  /** A use of the entry in `slot` that is not a lookup (a replacing `set`): count it, move it per its segment. */
  private touch(slot: number): void {
    const meta = this.store.meta!
    const m = meta[slot]!
    meta[slot] = ((m & FREQ) !== FREQ ? m + 1 : m) | TOUCH
    const q = (m >>> Q_SHIFT) & 3
    // a protected or window hit moves in place to its segment's most recent end
    if (q === PROB) this.promote(slot)
    else this.store.toTail(q, slot)
  }

  beforeInsert(_size: number): void {}

  onInsert(slot: number, key: K, size: number, fromMiss: boolean): void {
    const store = this.store
    const f = this.admission.insertFrequency(key, fromMiss)
    const sim = this.sim
    store.meta![slot] = sim?.sampled(this.admission.lastHash) ? f | SAMPLED : f
    store.append(WIN, slot)
    this.windowWeight += size
    if (!this.filled && store.count > this.maxCount) this.fill()
    this.makeRoom()
  }

  private fill(): void {
    this.filled = true
    if (this.sim !== null) this.sim.restart()
  }

  onUpdate(slot: number, delta: number): void {
    if (delta !== 0) {
      const q = (this.store.meta![slot]! >>> Q_SHIFT) & 3
      if (q === WIN) this.windowWeight += delta
      else if (q === PROT) this.protectedWeight += delta
    }
    this.touch(slot)
    if (this.counters.hits + this.counters.misses >= this.nextCheck) this.periodic()
    this.makeRoom()
  }

  onRemove(slot: number, key: K, reason: EvictionReason): void {
    const store = this.store
    const meta = store.meta!
    const m = meta[slot]!
    const q = (m >>> Q_SHIFT) & 3
    const w = store.weightOf(slot)
    if (q === WIN) this.windowWeight -= w
    else if (q === PROT) this.protectedWeight -= w
    if ((m & TOUCH) !== 0 && (m & FREQ) > 1 && reason === 'evict') this.admission.writeBack(key, m & FREQ)
    meta[slot] = 0
  }

  onGrow(cap: number): void {
    // weight-bounded caches learn their entry capacity as they grow
    if (this.max === 0) this.setPeriods(cap)
    this.admission.grow(cap)
  }

  onReset(): void {
    this.admission.reset()
    this.windowWeight = 0
    this.protectedWeight = 0
  }

  windowRatio(): number {
    return this.windowMax / this.capUnits
  }

  /** Moves slot `i` to the most recent end of segment `q`, keeping its frequency and touch bits. */
  private moveTo(q: number, i: number): void {
    const store = this.store
    store.unlink(i)
    store.append(q, i)
    const meta = store.meta!
    meta[i] = (meta[i]! & KEEP) | (q << Q_SHIFT)
  }

  /** Probation hit: move to protected, demoting protected's least recent entries past its share. */
  private promote(slot: number): void {
    this.moveTo(PROT, slot)
    this.protectedWeight += this.store.weightOf(slot)
    this.demoteProtected()
  }

  private demoteProtected(): void {
    const store = this.store
    while (this.protectedWeight > this.protectedMax) {
      const d = store.next[PROT]!
      if (d === PROT) break
      this.moveTo(PROB, d)
      this.protectedWeight -= store.weightOf(d)
    }
  }

  /** After an insert or a growing update: window overflow becomes candidates, then evict to the bounds. */
  private makeRoom(): void {
    if (this.fastEvict && this.steadyState()) {
      if (this.evictOne()) return
    }
    const store = this.store
    let candidates = 0
    while (this.windowWeight > this.windowMax) {
      const s = store.next[WIN]!
      if (s === WIN) break
      this.moveTo(PROB, s)
      this.windowWeight -= store.weightOf(s)
      candidates++
    }
    while (store.count > this.maxCount || store.weight > this.maxWeight) {
      let victim = store.next[PROB]!
      if (victim === PROB) {
        victim = store.next[PROT]!
        if (victim === PROT) victim = store.next[WIN]!
      }
      if (victim < FIRST) break
      let evict = victim
      if (candidates > 0) {
        candidates--
        const candidate = store.prev[PROB]!
        if (candidate !== victim && candidate >= FIRST && !this.admitted(candidate, victim)) evict = candidate
      }
      this.evict(evict)
    }
  }

  /** The steady state of a full count-bounded cache: the insert pushed one entry out of the window, one must go. */
  private steadyState(): boolean {
    return (
      this.store.sizes === null &&
      this.store.count === this.maxCount + 1 &&
      this.windowWeight > this.windowMax &&
      this.windowWeight - 1 <= this.windowMax
    )
  }

  /**
   * The steady state's shortcut: the window's oldest entry is judged against probation's oldest before it
   * moves, so a rejected newcomer leaves straight from the window (the same decisions as the general path).
   * @returns false if a segment is empty (then the general path decides)
   */
  private evictOne(): boolean {
    const store = this.store
    const c = store.next[WIN]!
    const v = store.next[PROB]!
    if (c === WIN || v === PROB) return false
    if (this.admitted(c, v)) {
      this.moveTo(PROB, c)
      this.windowWeight--
      this.evict(v)
    } else this.evict(c)
    return true
  }

  private admitted(candidate: number, victim: number): boolean {
    const meta = this.store.meta!
    return this.admission.admit(meta[candidate]! & FREQ, meta[victim]! & FREQ)
  }

  /** Every `period` lookups: age the frequencies; every sample: adjust the window by hill climbing. */
  private periodic(): void {
    const hits = this.counters.hits
    const lookups = hits + this.counters.misses
    this.nextCheck = lookups + Math.min(this.sample, this.period)
    if (lookups - this.lastAge >= this.period) {
      this.lastAge = lookups
      this.admission.age()
      const store = this.store
      const meta = store.meta!
      for (let s = FIRST; s < store.top; s++) {
        const m = meta[s]!
        meta[s] = (m & ~FREQ) | ((m & FREQ) >>> 1)
      }
    }
    // a miniature keeps its window
    if (!this.fixed) this.steer(hits, lookups)
    this.climber.startSample(hits, this.windowHits, this.windowRaw, lookups)
  }

  /** Every sample: the window moves to the miniatures' leader, or by the climber's density steering. */
  private steer(hits: number, lookups: number): void {
    if (this.sim !== null) {
      const target = this.sim.follow() * this.capUnits
      if (target !== this.windowMax) this.adjustWindow(target - this.windowMax)
    } else if (TUNING.climb) {
      const store = this.store
      const used = store.sizes === null ? store.count : store.weight
      const w = this.windowWeight
      const amount = this.climber.move(
        hits,
        this.windowHits,
        this.windowRaw,
        lookups,
        this.windowMax,
        w,
        used - w,
      )
      if (amount !== 0) this.adjustWindow(amount)
    }
  }

  /** Ageing period and climber sample for an entry capacity of `entries`. */
  private setPeriods(entries: number): void {
    const n = Math.min(entries, 1 << 24)
    this.period = TUNING.periodFactor * Math.max(TUNING.ageMinCap, n)
    this.sample = Math.ceil(Math.max(64, 10 * n * TUNING.sampleFactor))
  }

  /** The window's smallest bound: `minWindow` of the capacity, at least one unit. */
  private minWindow(): number {
    return Math.max(1, this.capUnits * TUNING.minWindow)
  }

  private adjustWindow(amount: number): void {
    const cap = this.capUnits
    const target = Math.min(cap, Math.max(this.minWindow(), this.windowMax + amount))
    if (target === this.windowMax) return
    this.windowMax = target
    this.protectedMax = (cap - target) * 0.8
    if (amount > 0) this.growWindow()
    else this.shrinkWindow()
    this.demoteProtected()
  }

  /** Grows the window with the least recent main entries. */
  private growWindow(): void {
    const store = this.store
    while (this.windowWeight < this.windowMax) {
      let s = store.next[PROB]!
      if (s === PROB) {
        s = store.next[PROT]!
        if (s === PROT) break
        this.protectedWeight -= store.weightOf(s)
      }
      this.moveTo(WIN, s)
      this.windowWeight += store.weightOf(s)
    }
  }

  private shrinkWindow(): void {
    const store = this.store
    while (this.windowWeight > this.windowMax) {
      const s = store.next[WIN]!
      if (s === WIN) break
      this.moveTo(PROB, s)
      this.windowWeight -= store.weightOf(s)
    }
  }
}

/** A miniature for src/minisim.ts: this policy with a fixed window over a storage of its own, keyed by hash. */
function miniature(cap: number, share: number, period: number): Miniature {
  const store = new SlotStore<number, number>(cap, true, false)
  const counters = new Counters()
  const evict = (slot: number): void => {
    const key = store.keyList[slot]!
    policy.onRemove(slot, key, 'evict')
    store.unlink(slot)
    store.map.delete(key)
    store.count--
    store.weight--
    store.free(slot)
  }
  const ctx = {
    store,
    counters,
    max: cap,
    maxCount: cap,
    maxWeight: Number.POSITIVE_INFINITY,
    capUnits: cap,
    evict,
  }
  const policy = new WTinyLfuPolicy<number>(ctx, { share, period })
  return {
    access(h: number): number {
      const found = store.map.get(h)
      if (found !== undefined) {
        counters.hits++
        policy.onHit(found)
        return 0
      }
      counters.misses++
      policy.onMiss(h)
      const grown = store.slotCap
      const slot = store.alloc()
      if (store.slotCap !== grown) policy.onGrow(store.slotCap)
      store.map.set(h, slot)
      store.keyList[slot] = h
      store.valList[slot] = 1
      store.count++
      store.weight++
      policy.onInsert(slot, h, 1, true)
      return 1
    },
  }
}
