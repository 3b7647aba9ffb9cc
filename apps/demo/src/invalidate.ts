/**
 * One invalidation of a product across the layers, timed per layer: this instance's L1 (the other instances' by
 * the bus), L2 (the tags' versions in Redis: `expireByTag` soft, `deleteByTag` hard) and the CDN (a purge by tag,
 * soft: re-fetched, hard: removed). `PUT /api/products/:id` calls it; `/api/stats` shows the last one.
 */
import type { Tags } from '@tierkit/invalidation'
import type { CdnPurgeMode, CdnPurgeResult } from './cdn-log.js'
import type { ReadCache } from './l1-only.js'
import type { CachedProduct } from './read-caches.js'

/**
 * The header of a CDN purge's re-fetch: nginx bypasses its cache for it and replaces the entry, and the origin
 * answers it fresh (no stale value within grace).
 */
export const PURGE_HEADER = 'x-tierkit-purge'

/** How long after a soft invalidation the old value of a product may still be served (the tags' grace). */
export const TAG_GRACE_MS = 10_000

/** `soft`: stale at once, the old value served within grace and refreshed once; `hard`: gone at once. */
export type InvalidationMode = CdnPurgeMode

/** Purges CDN entries by cache tag (the CDN mode plugs nginx in; without a CDN it does nothing). */
export interface TagPurger {
  /** Makes the CDN refresh (`soft`, the default) or drop (`hard`) every response carrying one of `tags`. */
  purgeTags(
    tags: readonly string[],
    options?: { mode?: InvalidationMode },
  ): Promise<CdnPurgeResult | undefined>
}

/** How one layer took an invalidation. */
export interface LayerInvalidation {
  layer: 'l1' | 'l2' | 'cdn'
  mode: InvalidationMode
  /** How long the layer's call took (ms), `null` when the layer is not there. */
  ms: number | null
  /** `ok`, what was done, the error code, or why the layer was skipped. */
  result: string
}

/** Another instance's L1 taking an invalidation made here, as it reported it (`--instances N`, over IPC). */
export interface RemoteEviction {
  /** Its `INSTANCE_ID`. */
  instance: string
  /** From the PUT's arrival here to the bus message applied there (its L1 copies stale or gone), ms. */
  ms: number
}

/** The last invalidation of `/api/stats` (`lastInvalidation`). */
export interface LastInvalidation {
  /** Epoch ms. */
  at: number
  /** When the PUT arrived: epoch ms with a fractional part (`performance.timeOrigin + performance.now()`). */
  putAt: number
  /** The other instances' L1s reached through the bus, one per instance, as they report it. */
  remote: RemoteEviction[]
  from: string
  mode: InvalidationMode
  keys: readonly string[]
  tags: readonly string[]
  layers: LayerInvalidation[]
}

/** The tagged cache key of a product's single read (`GET /api/public/products/:id`, through the tags). */
export function taggedProductKey(id: number): string {
  return `tp:${id}`
}

/** The tags of a product's single read. */
export function productReadTags(id: number): string[] {
  return [`product:${id}`]
}

/** The tags a product update invalidates: its own and its category listing's. */
export function productUpdateTags(id: number, category: string): string[] {
  return [`product:${id}`, `category:${category}`]
}

/** What {@link invalidateProduct} reaches. */
export interface InvalidateDeps {
  instanceId: string
  products: ReadCache<CachedProduct | null>
  /** The tags object over the product cache (with Redis). */
  tags: Tags<CachedProduct | null> | undefined
  purger: () => TagPurger | undefined
}

const elapsed = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6

function errorCode(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code
  return `failed (${typeof code === 'string' ? code : String(e)})`
}

async function l2Layer(
  deps: InvalidateDeps,
  tags: string[],
  mode: InvalidationMode,
): Promise<LayerInvalidation> {
  const t = deps.tags
  if (t === undefined) return { layer: 'l2', mode, ms: null, result: 'no redis' }
  const t0 = process.hrtime.bigint()
  try {
    // one script on the tags' slot (the versions or soft stamps move on), then one PUBLISH of the new versions
    await (mode === 'soft' ? t.expireByTag(tags) : t.deleteByTag(tags))
    return { layer: 'l2', mode, ms: elapsed(t0), result: mode === 'soft' ? 'expireByTag' : 'deleteByTag' }
  } catch (e) {
    return { layer: 'l2', mode, ms: elapsed(t0), result: errorCode(e) }
  }
}

async function cdnLayer(
  deps: InvalidateDeps,
  tags: string[],
  mode: InvalidationMode,
): Promise<LayerInvalidation> {
  const purger = deps.purger()
  if (purger === undefined) return { layer: 'cdn', mode, ms: null, result: 'no cdn' }
  const t0 = process.hrtime.bigint()
  try {
    const r = await purger.purgeTags(tags, { mode })
    const result = r === undefined ? 'purged' : `${r.refetched} re-fetched, ${r.removed} removed`
    return { layer: 'cdn', mode, ms: elapsed(t0), result }
  } catch (e) {
    return { layer: 'cdn', mode, ms: elapsed(t0), result: errorCode(e) }
  }
}

/** Soft, with Redis: the writer stores the new row under the new stamps (read-your-writes on this instance). */
async function storeFresh(deps: InvalidateDeps, id: number, fresh: CachedProduct): Promise<void> {
  // the other instances serve theirs within grace, and one of them refreshes
  await deps.tags?.set(taggedProductKey(id), fresh, { tags: productReadTags(id) }).catch(() => {
    // Redis went away meanwhile: the next read loads
  })
}

/**
 * Invalidates `product` in every layer, in order: this instance's L1 copies (evicted), L2 by tag (and every other
 * instance's L1, through the versions the bus carries; soft: `fresh` is then stored for this instance's next read),
 * then the CDN (after L2, so that its soft re-fetch reads the new row). Never rejects: a layer that failed says so
 * in its `result`.
 */
export async function invalidateProduct(
  deps: InvalidateDeps,
  product: { id: number; category: string },
  fresh: CachedProduct,
  mode: InvalidationMode,
  putAt: number = preciseNow(),
): Promise<LastInvalidation> {
  const at = Date.now()
  const id = product.id
  const keys = [`p:${id}`, taggedProductKey(id)]
  const tags = productUpdateTags(id, product.category)
  const t0 = process.hrtime.bigint()
  deps.products.evictLocal(keys)
  const l1: LayerInvalidation = {
    layer: 'l1',
    mode,
    ms: elapsed(t0),
    result: 'evicted here; others by the bus',
  }
  const l2 = await l2Layer(deps, tags, mode)
  if (mode === 'soft' && l2.result === 'expireByTag') await storeFresh(deps, id, fresh)
  const cdn = await cdnLayer(deps, tags, mode)
  return { at, putAt, remote: [], from: deps.instanceId, mode, keys, tags, layers: [l1, l2, cdn] }
}

/** Epoch ms with a fractional part, comparable between the processes of one machine. */
export function preciseNow(): number {
  return performance.timeOrigin + performance.now()
}

/** What an instance reports when the bus applied another instance's tag invalidation (see {@link recordRemote}). */
export interface RemoteReport {
  /** The reporting instance. */
  instance: string
  /** The tags of the message, as sent. */
  tags: readonly string[]
  /** When it was applied there ({@link preciseNow}). */
  at: number
}

/**
 * Adds `report` to the invalidation made here that it answers: the latest one with the same tags that started
 * before it (the first report of an instance is kept). Returns whether one was found.
 */
export function recordRemote(list: readonly LastInvalidation[], report: RemoteReport): boolean {
  for (let i = list.length - 1; i >= 0; i--) {
    const inv = list[i]!
    if (report.at < inv.putAt) continue
    if (inv.tags.length !== report.tags.length || inv.tags.some((t, k) => t !== report.tags[k])) continue
    if (!inv.remote.some((r) => r.instance === report.instance))
      inv.remote.push({ instance: report.instance, ms: report.at - inv.putAt })
    return true
  }
  return false
}
