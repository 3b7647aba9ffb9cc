/**
 * Internal: the write side of an `L1Cache`. Stores, replaces and removes entries in the storage
 * (src/slots.ts), telling the eviction policy (src/policy.ts) and the expiry (src/expiry.ts), and queues the
 * `evict` events (src/events.ts) that the cache delivers once it is consistent again.
 * @internal
 */
import { Events } from './events.js'
import { Expiry } from './expiry.js'
import type { Resolved } from './options.js'
import { type EvictionPolicy, REGISTRY } from './policy.js'
import { FIRST, SlotStore } from './slots.js'
import type { Counters } from './stats.js'
import type { EvictionReason } from './types.js'

export class EntryWriter<K, V> {
  readonly store: SlotStore<K, V>
  readonly evictor: EvictionPolicy<K>
  readonly expiry: Expiry
  readonly events: Events<K, V>
  private readonly grace: number

  constructor(
    options: Resolved<K, V>,
    private readonly counters: Counters,
    private readonly now: () => number,
  ) {
    const { max, maxSize } = options
    this.grace = options.grace
    const Evictor = REGISTRY[options.policy]
    this.store = new SlotStore<K, V>(max, Evictor.usesMeta, maxSize > 0)
    this.evictor = new Evictor<K>({
      store: this.store,
      counters,
      max,
      maxCount: max > 0 ? max : Number.POSITIVE_INFINITY,
      maxWeight: maxSize > 0 ? maxSize : Number.POSITIVE_INFINITY,
      capUnits: maxSize > 0 ? maxSize : max,
      evict: (slot) => {
        counters.evictions++
        this.remove(slot, 'evict')
      },
    })
    this.expiry = new Expiry(this.store, this.grace, options.sweepInterval, {
      now,
      expire: (slot) => {
        counters.expirations++
        this.remove(slot, 'expire')
      },
      settle: () => this.settle(),
    })
    this.events = new Events<K, V>(options.onEvent)
  }

  /** True if the entry in `slot` is past its TTL (by the cache's clock). */
  isExpired(slot: number): boolean {
    const exp = this.store.exp
    if (exp === null) return false
    const e = exp[slot]!
    return e !== 0 && e <= this.now()
  }

  /** An expired slot (deadline `e`) was found on access: reclaim it unless its grace keeps it. */
  expireFound(slot: number, e: number): void {
    if (this.grace > 0 && e + this.grace > this.now()) return
    this.counters.expirations++
    this.remove(slot, 'expire')
    this.flush()
  }

  /** Stores a new entry. `fromMiss`: the cache's last lookup missed this key, with nothing in between. */
  insert(key: K, value: V, ttl: number, size: number, fromMiss: boolean): void {
    const store = this.store
    this.evictor.beforeInsert(size)
    const cap = store.slotCap
    const slot = store.alloc()
    if (store.slotCap !== cap) this.evictor.onGrow(store.slotCap)
    store.map.set(key, slot)
    store.keyList[slot] = key
    store.valList[slot] = value
    store.count++
    store.weight += size
    if (store.sizes !== null) store.sizes[slot] = size
    this.expiry.onInsert(slot, ttl)
    this.evictor.onInsert(slot, key, size, fromMiss)
    // amortised sweep: 32 slots every 16th insert (2 per insert, one clock read per 16 inserts)
    if (store.ttlCount !== 0 && (this.counters.sets & 15) === 0) this.expiry.sweep(32)
  }

  /** Replaces the value in `slot` (an `evict` event with reason `set` if it differs). */
  update(slot: number, key: K, value: V, ttl: number, size: number): void {
    const store = this.store
    const old = store.valList[slot]!
    store.valList[slot] = value
    this.expiry.onUpdate(slot, ttl)
    let delta = 0
    if (store.sizes !== null) {
      delta = size - store.sizes[slot]!
      store.sizes[slot] = size
      store.weight += delta
    }
    this.evictor.onUpdate(slot, delta)
    if (old !== value) this.events.evicted(key, old, 'set')
  }

  /** Removes a slot from every structure and queues its `evict` event. */
  remove(slot: number, reason: EvictionReason): void {
    const store = this.store
    const key = store.keyList[slot] as K
    const value = store.valList[slot] as V
    this.evictor.onRemove(slot, key, reason)
    store.unlink(slot)
    store.map.delete(key)
    store.count--
    store.weight -= store.weightOf(slot)
    this.expiry.onRemove(slot)
    store.free(slot)
    this.events.evicted(key, value, reason)
  }

  /** Drops every entry (an `evict` event with reason `clear` for each) and releases the storage. */
  clear(): void {
    const events = this.events
    const listening = events.listener !== null
    const ks: K[] = []
    const vs: V[] = []
    if (listening) {
      for (const [k, s] of this.store.map) {
        ks.push(k)
        vs.push(this.store.valList[s]!)
      }
    }
    this.store.reset()
    this.evictor.onReset()
    this.expiry.reset()
    if (listening) {
      for (let i = 0; i < ks.length; i++) events.evicted(ks[i]!, vs[i]!, 'clear')
      events.flush()
    }
  }

  /** Slots of the entries in iteration order (the policy's lists in turn, each most recent first). */
  order(): number[] {
    return this.store.order(this.evictor.heads)
  }

  /** After a sweep: compact the storage if it is mostly empty, deliver the queued events. */
  settle(): void {
    if (this.store.shrink(this.evictor.heads)) this.expiry.hand = FIRST
    this.flush()
  }

  /** Delivers the queued events, if any. */
  flush(): void {
    if (this.events.keys.length !== 0) this.events.flush()
  }
}
