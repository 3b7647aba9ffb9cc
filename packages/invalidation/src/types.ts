/**
 * Structural shapes this package works on, beside those of `@tierkit/contracts` (`WritableCache`, `Store`,
 * `CacheObserver`). No tierkit feature package is imported at run time.
 */
import type { WritableCache } from '@tierkit/contracts'

/** A cache that can be read and written: what `createTags` needs (redis-aside's cache is one). */
export interface ReadableCache extends Pick<WritableCache, 'set' | 'delete' | 'evictLocal'> {
  /** The fresh value, or `undefined` / `null` when absent (a cached "not found" is `null`). */
  get(key: string): unknown
}

/**
 * What the bus and the tracking invalidator need of a cache: `evictLocal(keys)` drops this process's copies
 * of the keys; `evictLocal()` without keys everything this process holds (its L1, its reads and loads in
 * flight), called after invalidations may have been missed. Any `WritableCache` is one.
 */
export type LocalEvictor = Pick<WritableCache, 'evictLocal'>

/** Anything that can tell the other instances to evict keys (the bus from `createInvalidationBus`). */
export interface InvalidationPublisher {
  /** Evicts these keys (and/or tags) in every OTHER instance's L1. */
  publish(message: { keys?: readonly string[]; tags?: readonly string[] }): Promise<void>
}

/** A TTL: a number of ms, or a function of the key and value (per-key TTL from the value). */
export type TtlOption<T = unknown> = number | ((key: string, value: T) => number)
