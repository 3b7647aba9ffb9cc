/**
 * Evicting this process's copies from the caches a bus or a tracking invalidator serves: the keys a message
 * names, or everything (after invalidations may have been missed). A cache that throws is reported and the
 * others are still evicted.
 */
import type { LocalEvictor } from './types.js'

/** `evictLocal(keys)` on every cache. */
export function evictKeys(
  caches: Iterable<LocalEvictor>,
  keys: string[],
  onError: (error: unknown) => void,
): void {
  for (const c of caches) {
    try {
      c.evictLocal(keys)
    } catch (e) {
      onError(e)
    }
  }
}

/**
 * `evictLocal()` on every cache: its L1, and its reads and loads in flight, which may predate a missed
 * invalidation. Returns how many caches were evicted.
 */
export function evictEverything(caches: Iterable<LocalEvictor>, onError: (error: unknown) => void): number {
  let cleared = 0
  for (const c of caches) {
    try {
      c.evictLocal()
      cleared++
    } catch (e) {
      onError(e)
    }
  }
  return cleared
}
