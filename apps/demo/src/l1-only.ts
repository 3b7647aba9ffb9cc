import type { L1Cache } from '@tierkit/l1-cache'

/** The subset of redis-aside's `Cache` the demo uses; {@link l1OnlyCache} provides it without Redis. */
export interface ReadCache {
  getOrLoad<T>(key: string, loader: () => T | Promise<T>, options?: { ttl?: number }): Promise<T>
  getOrLoadMany<T>(
    keys: readonly string[],
    loader: (keys: string[]) => Map<string, T> | Promise<Map<string, T>>,
  ): Promise<T[]>
  set(key: string, value: unknown, options?: { ttl?: number }): Promise<void>
  delete(key: string): Promise<void>
  deleteMany(keys: readonly string[]): Promise<void>
  evictLocal(keys: string | readonly string[]): void
  close(): Promise<void>
}

type Observe = (layer: 'l1' | 'db', outcome: 'hit' | 'miss' | 'error', ms: number) => void

/**
 * The demo's read path when no Redis is available: L1 (single-flight `getOrLoad`) → database. redis-aside needs
 * a Redis client, so this small adapter stands in for it (same method names) and reports the same layers.
 */
export function l1OnlyCache(l1: L1Cache<string, unknown>, namespace: string, observe: Observe): ReadCache {
  const p = `${namespace}:`
  const timed = async <T>(fn: () => T | Promise<T>): Promise<T> => {
    const t0 = performance.now()
    try {
      const v = await fn()
      observe('db', 'hit', performance.now() - t0)
      return v
    } catch (e) {
      observe('db', 'error', performance.now() - t0)
      throw e
    }
  }
  const api: ReadCache = {
    getOrLoad<T>(key: string, loader: () => T | Promise<T>, options?: { ttl?: number }): Promise<T> {
      const t0 = performance.now()
      const v = l1.get(p + key)
      if (v !== undefined) {
        observe('l1', 'hit', performance.now() - t0)
        return Promise.resolve(v as T)
      }
      observe('l1', 'miss', performance.now() - t0)
      return l1.getOrLoad(p + key, () => timed(loader), options) as Promise<T>
    },
    async getOrLoadMany<T>(
      keys: readonly string[],
      loader: (keys: string[]) => Map<string, T> | Promise<Map<string, T>>,
    ): Promise<T[]> {
      const out = new Map<string, T>()
      const missing: string[] = []
      for (const k of keys) {
        const t0 = performance.now()
        const v = l1.get(p + k)
        observe('l1', v === undefined ? 'miss' : 'hit', performance.now() - t0)
        if (v === undefined) missing.push(k)
        else out.set(k, v as T)
      }
      if (missing.length > 0) {
        const loaded = await timed(() => loader([...new Set(missing)]))
        for (const k of missing) {
          const v = loaded.has(k) ? (loaded.get(k) as T) : (null as T)
          l1.set(p + k, v)
          out.set(k, v)
        }
      }
      return keys.map((k) => out.get(k) as T)
    },
    async set(key, value, options) {
      l1.set(p + key, value, options)
    },
    async delete(key) {
      l1.delete(p + key)
    },
    async deleteMany(keys) {
      for (const k of keys) l1.delete(p + k)
    },
    evictLocal(keys) {
      for (const k of typeof keys === 'string' ? [keys] : keys) l1.delete(p + k)
    },
    async close() {},
  }
  return api
}
