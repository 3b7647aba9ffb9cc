/**
 * Structural shapes this package works on, beside those of `@tierkit/contracts` (`WritableCache`, `Store`,
 * `CacheObserver`). No tierkit feature package is imported at run time.
 */
import type { WritableCache } from '@tierkit/contracts'

/** A cache that can be read and written: what `createTags` needs (redis-aside's cache is one). */
export interface ReadableCache extends Pick<WritableCache, 'set' | 'delete' | 'evictLocal'> {
  /** The fresh value, or `undefined` / `null` when absent (a cached "not found" is `null`). */
  get(key: string): unknown
  /**
   * This process's fresh L1 copy, synchronously, or `undefined` (redis-aside's `peekLocal`). Optional: with
   * it an L1 hit of `tags.getOrLoad` takes no promise of the cache's; without it every read awaits `get`.
   */
  peekLocal?(key: string): unknown
}

/**
 * What the bus and the tracking invalidator need of a cache: `evictLocal(keys)` drops this process's copies
 * of the keys; `evictLocal()` without keys everything this process holds (its L1, its reads and loads in
 * flight), called after invalidations may have been missed. Any `WritableCache` is one.
 */
export type LocalEvictor = Pick<WritableCache, 'evictLocal'>

/** The versions of invalidated tags as they travel on the bus: hard versions and soft stamps, index for index with the tags. */
export interface TagVersionsMessage {
  readonly hard: readonly number[]
  readonly soft: readonly number[]
}

/** A message for the other instances. */
export interface InvalidationMessage {
  /** Keys to evict from their L1. */
  keys?: readonly string[]
  /** Tags that were invalidated. */
  tags?: readonly string[]
  /** The tags' versions after the invalidation (`createTags` sends them: the other instances learn them). */
  tagVersions?: TagVersionsMessage
}

/** Anything that can tell the other instances to evict keys (the bus from `createInvalidationBus`). */
export interface InvalidationPublisher {
  /** Evicts these keys (and/or tags) in every OTHER instance's L1. */
  publish(message: InvalidationMessage): Promise<void>
}

/**
 * What `createTags` attaches to a bus (`bus.attachTags`): it hears the tag versions other instances
 * announce, and whether the bus's subscription is up (while it is not, or after it was lost, the versions
 * this process knows may have missed messages).
 */
export interface TagVersionListener {
  /** Another instance invalidated `tags`; `versions` are their versions after it (absent from an older sender). */
  tagVersions(tags: readonly string[], versions: TagVersionsMessage | undefined): void
  /** The subscription is up (`true`: subscribed, possibly again after a loss) or lost (`false`). */
  subscription(up: boolean): void
}

/** A bus `createTags` can learn tag versions from (the one of `createInvalidationBus` is one). */
export interface TagVersionBus extends InvalidationPublisher {
  /** Attaches a listener; returns a function that detaches it. */
  attachTags(listener: TagVersionListener): () => void
}

/** A TTL: a number of ms, or a function of the key and value (per-key TTL from the value). */
export type TtlOption<T = unknown> = number | ((key: string, value: T) => number)
