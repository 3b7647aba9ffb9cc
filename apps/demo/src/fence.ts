/** The CDN fence: an answer read before a write of its product and sent after it must not reach the edge. */

/**
 * A product answer that took longer than this at the origin is not stored by the CDN (`no-store`): any stale
 * answer the edge may store was read at most this long before it was sent, which bounds how late an answer read
 * before a write can still reach the edge (the CDN's late-store check then replaces it). See {@link createFence}.
 */
export const CDN_MAX_STORABLE_MS = 500

/** What a product read captured when it started: the write generations of its products. */
interface FenceEntry {
  epoch: number
  ids: readonly number[] | number
  gens: readonly number[] | number
  /** A CDN purge's re-fetch: answered fresh, whatever the grace. */
  fresh: boolean
  /** Read through the tags with grace (a category listing): a product in its grace window makes it unstorable. */
  grace: boolean
}

/** What the routes do with the fence. */
export interface Fence {
  /** A write of product `id` started or ended, or a bus message about it came. */
  bump(id: number): void
  /**
   * Product `id` was invalidated by tag (softly, maybe): for `ms`, a read of it may be answered the old value within
   * its grace, so its answers are not stored at the edge (a CDN purge's re-fetch, answered fresh, is).
   */
  expired(id: number, ms: number): void
  /** Every product may have changed (the bus reconnected: messages may have been lost). */
  bumpAll(): void
  /** A read of product `id` starts (`fresh`: a CDN purge's re-fetch, answered without grace). */
  enter(req: object, id: number, fresh?: boolean): void
  /**
   * A read of products `ids` starts; `grace`: it reads them through the tags with grace (the category listing),
   * so a product in its soft-expiry window (see `expired`) makes the answer unstorable too.
   */
  enterMany(req: object, ids: readonly number[], grace?: boolean): void
  /** Whether the answer to `req` (a product read) must not be stored at the edge. */
  stale(req: object, elapsedMs: number): boolean
}

/**
 * The CDN fence. Every write of a product bumps its generation twice (when it starts and when the database, Redis
 * and the bus are done), a bus message from another instance bumps it once, a bus reconnection (messages may have
 * been lost) bumps them all. A product read records the generations when it starts; when its answer is sent, a
 * changed generation means the answer may hold the old row and the purge may already have passed: it goes out
 * `no-store`. So does an answer that took longer than {@link CDN_MAX_STORABLE_MS}.
 */
export function createFence(): Fence {
  const gens = new Map<number, number>()
  /** product → until when (epoch ms) its answers may be stale values served within grace */
  const softUntil = new Map<number, number>()
  const inGrace = (id: number): boolean => {
    const u = softUntil.get(id)
    if (u === undefined) return false
    if (u > Date.now()) return true
    softUntil.delete(id)
    return false
  }
  const reads = new WeakMap<object, FenceEntry>()
  let epoch = 0
  const gen = (id: number): number => gens.get(id) ?? 0
  return {
    bump(id: number): void {
      gens.set(id, gen(id) + 1)
    },
    expired(id: number, ms: number): void {
      gens.set(id, gen(id) + 1)
      softUntil.set(id, Math.max(softUntil.get(id) ?? 0, Date.now() + ms))
    },
    bumpAll(): void {
      epoch++
    },
    enter(req: object, id: number, fresh = false): void {
      reads.set(req, { epoch, ids: id, gens: gen(id), fresh, grace: true })
    },
    enterMany(req: object, ids: readonly number[], grace = false): void {
      reads.set(req, { epoch, ids, gens: ids.map(gen), fresh: false, grace })
    },
    /** Whether the answer to `req` (a product read) must not be stored at the edge. */
    stale(req: object, elapsedMs: number): boolean {
      const e = reads.get(req)
      if (e === undefined) return false
      if (elapsedMs > CDN_MAX_STORABLE_MS || e.epoch !== epoch) return true
      if (typeof e.ids === 'number') return gen(e.ids) !== e.gens || (!e.fresh && inGrace(e.ids))
      const g = e.gens as readonly number[]
      for (let i = 0; i < e.ids.length; i++) {
        if (gen(e.ids[i]!) !== g[i] || (e.grace && inGrace(e.ids[i]!))) return true
      }
      return false
    },
  }
}
