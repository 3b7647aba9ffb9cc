/**
 * Internal: delivery of an `L1Cache`'s events. `evict` events are queued while the cache changes and delivered
 * by `flush()` once it is consistent again (so a listener may use the cache); a listener that throws is ignored.
 * @internal
 */
import type { EvictionReason, L1CacheEvent } from './types.js'

/** The event queue of one cache (nothing is queued without a listener). */
export class Events<K, V> {
  /** Keys, values and reasons of the queued `evict` events (parallel arrays). */
  keys: K[] = []
  private values: V[] = []
  private reasons: EvictionReason[] = []

  constructor(readonly listener: ((event: L1CacheEvent<K, V>) => void) | null) {}

  /** Queues an `evict` event (if anyone listens). */
  evicted(key: K, value: V, reason: EvictionReason): void {
    if (this.listener === null) return
    this.keys.push(key)
    this.values.push(value)
    this.reasons.push(reason)
  }

  /** Delivers the queued `evict` events. */
  flush(): void {
    const ks = this.keys
    const vs = this.values
    const rs = this.reasons
    this.keys = []
    this.values = []
    this.reasons = []
    for (let i = 0; i < ks.length; i++)
      this.emit({ type: 'evict', key: ks[i]!, value: vs[i]!, reason: rs[i]! })
  }

  /** Delivers one event at once; a listener that throws is ignored. */
  emit(event: L1CacheEvent<K, V>): void {
    const listener = this.listener
    if (listener === null) return
    try {
      listener(event)
    } catch {
      // ignored: a listener cannot break the cache's operation
    }
  }
}
