/**
 * Internal: expiry of an `L1Cache`'s entries. Deadlines live in the storage (`store.exp`, allocated with the
 * first TTL); there is no timer per entry. Expired entries are reclaimed on access (by the cache), by an
 * amortised sweep hand on inserts, by one unref'd timer per cache while entries with a TTL exist, and by
 * `purgeStale()`. Entries inside their `grace` are kept (served stale by `getOrLoad`).
 * @internal
 */
import { FIRST, type SlotStore } from './slots.js'

/** Slots the background timer examines per run. */
const SWEEP_CHUNK = 4096

/** What the expiry needs from its cache. */
export interface ExpiryHost {
  /** A clock reading, in ms. */
  now(): number
  /** Removes an expired slot (counted, an `evict` event with reason `expire`). */
  expire(slot: number): void
  /** After a background sweep: compact the storage if it is mostly empty, deliver the events. */
  settle(): void
}

export class Expiry {
  /** Where the next sweep starts. */
  hand: number = FIRST
  private timer: ReturnType<typeof setTimeout> | null = null

  constructor(
    private readonly store: SlotStore<unknown, unknown>,
    private readonly grace: number,
    private readonly interval: number,
    private readonly host: ExpiryHost,
  ) {}

  /** A new entry in `slot`: its deadline (`ttl` 0: none). */
  onInsert(slot: number, ttl: number): void {
    if (ttl > 0) this.setDeadline(slot, ttl)
    else if (this.store.exp !== null) this.store.exp[slot] = 0
  }

  /** The entry in `slot` was replaced: its new deadline (`ttl` 0: none). */
  onUpdate(slot: number, ttl: number): void {
    const store = this.store
    if (store.exp !== null && store.exp[slot] !== 0) {
      if (ttl > 0) store.exp[slot] = this.host.now() + ttl
      else {
        store.exp[slot] = 0
        store.ttlCount--
      }
    } else if (ttl > 0) this.setDeadline(slot, ttl)
  }

  /** The entry in `slot` is being removed. */
  onRemove(slot: number): void {
    const store = this.store
    if (store.exp !== null && store.exp[slot] !== 0) {
      store.exp[slot] = 0
      store.ttlCount--
    }
  }

  private setDeadline(slot: number, ttl: number): void {
    const store = this.store
    if (store.exp === null) store.exp = new Float64Array(store.slotCap)
    const was = store.exp[slot]!
    store.exp[slot] = this.host.now() + ttl
    if (was === 0) {
      store.ttlCount++
      if (this.timer === null && this.interval > 0) this.arm()
    }
  }

  private arm(): void {
    const t = setTimeout(() => {
      this.timer = null
      this.sweep(SWEEP_CHUNK)
      this.host.settle()
      if (this.store.ttlCount > 0) this.arm()
    }, this.interval)
    if (typeof t === 'object' && typeof t.unref === 'function') t.unref()
    this.timer = t
  }

  /** Examines up to `n` slots at the sweep hand and reclaims the expired ones. */
  sweep(n: number): void {
    const exp = this.store.exp
    if (exp === null) return
    const grace = this.grace
    let now = -1
    let s = this.hand
    for (let i = 0; i < n; i++) {
      if (s >= this.store.top) {
        s = FIRST
        break
      }
      const e = exp[s]!
      if (e !== 0) {
        if (now < 0) now = this.host.now()
        if (e + grace <= now) this.host.expire(s)
      }
      s++
    }
    this.hand = s
  }

  /** Reclaims every expired slot now. @returns how many */
  purge(): number {
    const store = this.store
    if (store.exp === null) return 0
    const now = this.host.now()
    const grace = this.grace
    let removed = 0
    for (let s = FIRST; s < store.top; s++) {
      const e = store.exp[s]!
      if (e !== 0 && e + grace <= now && store.valList[s] !== undefined) {
        this.host.expire(s)
        removed++
      }
    }
    return removed
  }

  /** The storage was emptied: stop the timer, restart the hand. */
  reset(): void {
    this.hand = FIRST
    if (this.timer !== null) {
      clearTimeout(this.timer)
      this.timer = null
    }
  }
}
