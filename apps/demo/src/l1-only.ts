import type { WritableCache } from '@tierkit/invalidation'
import type { L1Cache, LoaderContext } from '@tierkit/l1-cache'

/**
 * What the demo's routes and its writer use of a read cache, for values of type `V`. redis-aside's `Cache` is one
 * as it is (no cast: its generic methods fit), and so is {@link l1OnlyCache}.
 */
export interface ReadCache<V> extends WritableCache {
  /**
   * The cached value, or one shared load of it (the family's loader context: `ctx.key`, `ctx.signal`,
   * `ctx.stale`). `undefined` only when the loader returned `undefined` (the demo's loaders never do).
   */
  getOrLoad(
    key: string,
    loader: (ctx: LoaderContext<string, V>) => V | Promise<V>,
    options?: { ttl?: number; signal?: AbortSignal },
  ): Promise<V | undefined>
  /** The cached values of `keys`, the others loaded by ONE loader call; `null` for keys the loader's Map lacks. */
  getOrLoadMany(
    keys: readonly string[],
    loader: (keys: string[]) => Promise<Map<string, V>>,
  ): Promise<Array<V | null>>
  /** Stops the cache (idempotent). */
  close(): Promise<void>
}

/**
 * The demo's read path when no Redis is available: L1 (`L1Cache.getOrLoad`, single flight) → database.
 * redis-aside needs a Redis client, so this stands in for it with the same method names. It visits the `db` layer
 * through the loaders; the store records the `db` layer (db/recorded.ts) and the `l1` layer is counted from the
 * L1's own `stats()` (`metrics.watch('l1', l1)`, the one source of that layer), so nothing here records.
 */
export function l1OnlyCache<V>(l1: L1Cache<string, V>): ReadCache<V> {
  return {
    getOrLoad(key, loader, options) {
      // one lookup: getOrLoad counts the hit or the miss in the L1's stats once
      return l1.getOrLoad(key, loader, options)
    },
    async getOrLoadMany(keys, loader) {
      const out = new Map<string, V | null>()
      const missing: string[] = []
      for (const k of new Set(keys)) {
        const v = l1.get(k) // one lookup per key, counted once in the L1's stats
        if (v === undefined) missing.push(k)
        else out.set(k, v)
      }
      if (missing.length > 0) {
        const loaded = await loader(missing)
        for (const k of missing) {
          const v = loaded.get(k)
          if (v === undefined) out.set(k, null)
          else {
            l1.set(k, v)
            out.set(k, v)
          }
        }
      }
      return keys.map((k) => out.get(k) ?? null)
    },
    set(key: string, value: V, options?: { ttl?: number }) {
      l1.set(key, value, options)
    },
    delete(key) {
      l1.delete(key)
    },
    deleteMany(keys) {
      for (const k of keys) l1.delete(k)
    },
    evictLocal(keys) {
      if (keys === undefined) l1.clear()
      else for (const k of typeof keys === 'string' ? [keys] : keys) l1.delete(k)
    },
    close() {
      return l1.close()
    },
  }
}
