/**
 * Internal: TinyLFU admission, the frequency half of W-TinyLFU. The history of every key seen lately lives in
 * a count-min sketch (src/sketch.ts); an entry leaving the window is admitted to the main space only if it was
 * used more often than the entry it would displace (with a rare random admission of frequent candidates, so an
 * attacker cannot keep a hot entry out by inflating its victim's count).
 * @internal
 */
import { FrequencySketch, hashKey, hashString, nextPow2 } from './sketch.js'
import { TUNING } from './tuning.js'

/** Candidates at least this frequent are admitted at random (1 in 128) even when they lose (after Caffeine). */
const ADMIT_DOS_THRESHOLD = 6

export class TinyLfuAdmission {
  sketch: FrequencySketch = new FrequencySketch(TUNING.minCounters)
  /** The sketch's count of the last missed key, reused by the insert that usually follows. */
  private lastMissFreq = 0
  /** The hash of the key last counted (by `recordMiss` or `insertFrequency`). */
  lastHash = 0
  private rand = 0x2545f491

  /** A lookup missed `key`: count it. */
  recordMiss(key: unknown): void {
    const h = typeof key === 'string' ? hashString(key) : hashKey(key)
    this.lastHash = h
    this.lastMissFreq = this.sketch.increment(h)
  }

  /** The frequency a new entry starts with (the miss just before it already counted it). */
  insertFrequency(key: unknown, fromMiss: boolean): number {
    if (fromMiss && this.lastMissFreq > 0) return this.lastMissFreq
    const h = hashKey(key)
    this.lastHash = h
    return this.sketch.increment(h)
  }

  /** Whether a candidate of frequency `candidate` replaces a victim of frequency `victim`. */
  admit(candidate: number, victim: number): boolean {
    return candidate > victim || (candidate >= ADMIT_DOS_THRESHOLD && (this.random() & 127) === 0)
  }

  /** An evicted resident was used more than its history says: write its count back into the sketch. */
  writeBack(key: unknown, frequency: number): void {
    if (TUNING.writeBack) this.sketch.raiseTo(hashKey(key), frequency)
  }

  /** Ages the history (halves every count). */
  age(): void {
    this.sketch.halve()
  }

  /** The storage grew to `cap` slots: a larger sketch if the current one is too small for it. */
  grow(cap: number): void {
    const slots = nextPow2(cap)
    const want = Math.max(
      TUNING.minCounters,
      Math.min(TUNING.floorCounters, slots * TUNING.smallPerSlot),
      slots * TUNING.countersPerSlot,
    )
    if (this.sketch.table.length * 8 < want) this.sketch = new FrequencySketch(want)
  }

  /** Forgets the history (a cleared cache starts with a small sketch again). */
  reset(): void {
    this.sketch = new FrequencySketch(TUNING.minCounters)
  }

  private random(): number {
    let x = this.rand
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    this.rand = x
    return x
  }
}
