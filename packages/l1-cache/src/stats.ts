/**
 * Internal: the counters of an `L1Cache` (plain numbers, only growing) and the snapshot `stats()` returns.
 * The policy reads `hits` and `misses` for its schedule (ageing, the hill climber's samples).
 * @internal
 */
import type { L1CacheStats } from './types.js'

/** The counters of one cache. */
export class Counters {
  hits = 0
  misses = 0
  /** `getOrLoad` answers served stale, inside `grace`. */
  staleServed = 0
  sets = 0
  deletes = 0
  evictions = 0
  expirations = 0
  loads = 0
  loadErrors = 0
  oversized = 0

  /** The `stats()` snapshot, with the figures that are not counters. */
  snapshot(size: number, calculatedSize: number, windowRatio: number): L1CacheStats {
    const lookups = this.hits + this.misses + this.staleServed
    return {
      hits: this.hits,
      misses: this.misses,
      stale: this.staleServed,
      sets: this.sets,
      deletes: this.deletes,
      evictions: this.evictions,
      expirations: this.expirations,
      loads: this.loads,
      loadErrors: this.loadErrors,
      oversized: this.oversized,
      size,
      calculatedSize,
      hitRatio: lookups === 0 ? 0 : (this.hits + this.staleServed) / lookups,
      windowRatio,
    }
  }
}
