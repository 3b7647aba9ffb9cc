/**
 * Internal: the `'lru'` policy, exact least-recently-used over one list (head 0): on the same stream it hits
 * exactly like lru-cache 11 with the same `max`. It evicts before an insert, never the entry being updated.
 * @internal
 */
import type { EvictionPolicy, PolicyContext } from './policy.js'
import type { SlotStore } from './slots.js'

const LIST = 0
const HEADS: readonly number[] = [LIST]

export class LruPolicy<K> implements EvictionPolicy<K> {
  static readonly usesMeta = false
  readonly heads: readonly number[] = HEADS
  private readonly store: SlotStore<K, unknown>
  private readonly maxCount: number
  private readonly maxWeight: number
  private readonly evict: (slot: number) => void

  constructor(ctx: PolicyContext<K>) {
    this.store = ctx.store
    this.maxCount = ctx.maxCount
    this.maxWeight = ctx.maxWeight
    this.evict = ctx.evict
  }

  onMiss(_key: K): void {}

  onHit(slot: number): void {
    this.store.toTail(LIST, slot)
  }

  beforeInsert(size: number): void {
    const store = this.store
    while (store.count >= this.maxCount || store.weight + size > this.maxWeight) {
      const victim = store.next[LIST]!
      if (victim === LIST) break
      this.evict(victim)
    }
  }

  onInsert(slot: number): void {
    this.store.append(LIST, slot)
  }

  onUpdate(slot: number): void {
    const store = this.store
    store.toTail(LIST, slot)
    while (store.weight > this.maxWeight) {
      const victim = store.next[LIST]!
      if (victim === slot) break
      this.evict(victim)
    }
  }

  onRemove(): void {}

  onGrow(): void {}

  onReset(): void {}

  windowRatio(): number {
    return 1
  }
}
