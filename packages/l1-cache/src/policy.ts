/**
 * Internal: the policy seam. An eviction policy orders the slots of the cache's storage (src/slots.ts) in its
 * lists, is told of every lookup, insert, update and removal, and pushes entries out (through `ctx.evict`) to
 * keep the cache within `max` / `maxSize`. The cache creates one policy per instance, from {@link REGISTRY},
 * and never changes it, so each call site sees one policy class per cache.
 *
 * A new policy is one new file (a class implementing {@link EvictionPolicy}, with the static fields of
 * {@link PolicyClass}) plus its line in {@link REGISTRY}; its name then also goes into the public `Policy`
 * union of src/types.ts, with a line of documentation, since it becomes a value of the `policy` option.
 * @internal
 */
import { LruPolicy } from './lru.js'
import type { SlotStore } from './slots.js'
import type { Counters } from './stats.js'
import { WTinyLfuPolicy } from './tinylfu.js'
import type { EvictionReason, Policy } from './types.js'

/** What a policy gets from its cache. */
export interface PolicyContext<K> {
  /** The storage: the lists live in `next`/`prev` (heads 0, 1, 2), the policy's byte per slot in `meta`. */
  readonly store: SlotStore<K, unknown>
  /** The cache's counters (`hits` and `misses` for a policy's schedule). */
  readonly counters: Counters
  /** The `max` option (0: the count is unbounded). */
  readonly max: number
  /** Bound of the entry count (`Infinity` if none). */
  readonly maxCount: number
  /** Bound of the total weight (`Infinity` if none). */
  readonly maxWeight: number
  /** The capacity in units of the bound: `maxSize` if set, else `max`. */
  readonly capUnits: number
  /** Removes `slot` as an eviction (counted, an `evict` event with reason `evict`). */
  readonly evict: (slot: number) => void
}

/** The internal interface of an eviction policy, over the slot indices of the storage. */
export interface EvictionPolicy<K> {
  /** The lists holding the entries, in iteration order (`entries()`, compaction): each most recent first. */
  readonly heads: readonly number[]
  /** A lookup of an absent `key`. */
  onMiss(key: K): void
  /** A lookup that found `slot`, fresh. */
  onHit(slot: number): void
  /** Before a new entry of weight `size` is stored: make room now if the policy evicts before inserting. */
  beforeInsert(size: number): void
  /**
   * A new entry is stored in `slot` (counted in `store.count` and `store.weight`): link it, and make room if
   * the policy evicts after inserting. `fromMiss`: the last `onMiss` was for this key, with nothing in between.
   */
  onInsert(slot: number, key: K, size: number, fromMiss: boolean): void
  /** The entry in `slot` was replaced in place, its weight changed by `delta`: a use, and maybe room to make. */
  onUpdate(slot: number, delta: number): void
  /** The entry in `slot` (still linked) is being removed for `reason`. */
  onRemove(slot: number, key: K, reason: EvictionReason): void
  /** The storage grew to `cap` slots. */
  onGrow(cap: number): void
  /** The storage was emptied (`clear()`, `close()`). */
  onReset(): void
  /** The window share of the capacity, for `stats().windowRatio` (1 for a policy without a window). */
  windowRatio(): number
}

/** A policy's class: its constructor and whether it keeps a byte per slot (`store.meta`). */
export interface PolicyClass {
  new <K>(ctx: PolicyContext<K>): EvictionPolicy<K>
  /** True if the policy uses `store.meta`. */
  readonly usesMeta: boolean
}

/** Every policy, by the name the `policy` option takes. Key order: the order the option's error lists them. */
export const REGISTRY: Readonly<Record<Policy, PolicyClass>> = {
  lru: LruPolicy,
  tinylfu: WTinyLfuPolicy,
}
