/**
 * The database as the `db` layer of the metrics sees it: every read query (`getProduct`, `getProducts`, `getUser`)
 * is one lookup, a `hit` when the rows exist and a `miss` when one does not, an `error` when the query
 * failed. It is the `db` layer's one source where nothing else records it (L1 only, `DEMO_CACHE=off`); with Redis,
 * redis-aside records `db` itself (each loader run a hit: it has no miss for a loader that found nothing yet), so
 * `observer` is then `undefined`. With `latencyMs` > 0 each read first waits that long: the simulated cost of a
 * database across a network (the load generator's default is 15 ms, `DB_LATENCY_MS`).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { CacheObserver } from '@tierkit/metrics'
import type { DemoStore } from './types.js'

/** `store` with its row reads recorded as the `db` layer (when `observer`) and delayed by `latencyMs` (when > 0). */
export function recordedStore(
  store: DemoStore,
  observer: CacheObserver | undefined,
  latencyMs: number,
): DemoStore {
  const timed = async <T>(read: () => Promise<T>, found: (v: T) => boolean): Promise<T> => {
    const t0 = performance.now()
    let v: T
    try {
      if (latencyMs > 0) await sleep(latencyMs)
      v = await read()
    } catch (e) {
      observer?.record('db', 'error', performance.now() - t0)
      throw e
    }
    observer?.record('db', found(v) ? 'hit' : 'miss', performance.now() - t0)
    return v
  }
  return {
    kind: store.kind,
    init: (seed) => store.init(seed),
    getProduct: (id) =>
      timed(
        () => store.getProduct(id),
        (p) => p !== undefined,
      ),
    getProducts: (ids) =>
      timed(
        () => store.getProducts(ids),
        // one lookup per query, as redis-aside counts one per batch loader call: a miss when a row is absent
        (rows) => ids.every((id) => rows.has(id)),
      ),
    categoryProductIds: (category, limit) =>
      timed(
        () => store.categoryProductIds(category, limit),
        (ids) => ids.length > 0,
      ),
    getUser: (id) =>
      timed(
        () => store.getUser(id),
        (u) => u !== undefined,
      ),
    saveProduct: (p) => store.saveProduct(p),
    saveViews: (w) => store.saveViews(w),
    getViews: (id) => store.getViews(id),
    incrementViews: (id) => store.incrementViews(id),
    priceColumns: () => store.priceColumns(),
    indexes: () => store.indexes(),
    counts: () => store.counts(),
    close: () => store.close(),
  }
}
