/**
 * One invalidation of a product across the layers, through `@tierkit/invalidation`'s one API: this instance's L1
 * copies are evicted, then `expireByTag` (soft) / `deleteByTag` (hard) moves the tags' versions on in Redis (L2),
 * publishes them on the bus (every other instance's L1) and purges the CDN with the same tags (the tags object
 * carries the demo's purger as its `cdn`), and resolves with each layer's time ({@link TagInvalidation}).
 * `PUT /api/products/:id` calls it; `/api/stats` and the dashboard show the last one, layer by layer.
 */
import { PurgeFailedError } from '@tierkit/cdn-headers'
import type { CdnPurgeReport, CdnPurger, TagInvalidation, Tags } from '@tierkit/invalidation'
import type { CdnPurgeMode } from './cdn-log.js'
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

/** What a purge of the demo reports: the `PurgeReport` of `@tierkit/cdn-headers`, with the URLs it touched when known. */
export type DemoPurgeReport = CdnPurgeReport & { readonly refetched?: number; readonly removed?: number }

/**
 * Purges CDN entries by cache tag (the CDN mode plugs nginx in): `@tierkit/cdn-headers`' `TagPurger` shape, so
 * it is the `cdn` of the tags. Never rejects for a CDN failure: the report lists what was not purged.
 */
export interface TagPurger {
  /** Makes the CDN refresh (`soft`) or drop (`hard`) every response carrying one of `tags`. */
  purgeTags(tags: readonly string[], options?: { mode?: InvalidationMode }): Promise<DemoPurgeReport>
}

/** A tag the CDN did not purge, as `/api/stats` shows it. */
export interface PurgeFailureInfo {
  tag: string
  /** `io`, `unavailable`, `error`, … (cdn-headers' `PurgeFailureReason`, or `error` for a purger that threw). */
  reason: string
  message: string
}

/** How one layer took an invalidation. */
export interface LayerInvalidation {
  layer: 'l1' | 'l2' | 'bus' | 'cdn'
  mode: InvalidationMode
  /**
   * ms: for `l1`, this instance's eviction; for `l2`, `bus` and `cdn`, from the start of the tags call to that
   * layer done, as the returned {@link TagInvalidation} gives it. `null` when the layer is not there.
   */
  ms: number | null
  /** `ok`, what was done, `failed (…)` with the error code or the reasons, or why the layer was skipped. */
  result: string
  /** The CDN's tags not purged, with the reason (only on a `cdn` layer that failed). */
  failed?: PurgeFailureInfo[]
}

/** Another instance's L1 taking an invalidation made here, as it reported it (`--instances N`, over IPC). */
export interface RemoteEviction {
  /** Its `INSTANCE_ID`. */
  instance: string
  /** From the start of the tags call here to the bus message applied there (its L1 copies stale or gone), ms. */
  ms: number
}

/** The last invalidation of `/api/stats` (`lastInvalidation`). */
export interface LastInvalidation {
  /** Epoch ms. */
  at: number
  /** When the PUT arrived: epoch ms with a fractional part (`performance.timeOrigin + performance.now()`). */
  putAt: number
  /** When the tags call started ({@link preciseNow}): the origin of the l2, bus, cdn and remote times. */
  calledAt: number
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

/**
 * The `cdn` of the tags when the demo runs behind a CDN: purges through the purger of the moment (nginx starts
 * after the demo, it needs its URL); before one is set, every tag fails (reason `unavailable`).
 */
export function currentPurger(current: () => TagPurger | undefined): CdnPurger {
  return {
    purgeTags(tags, options) {
      const p = current()
      if (p !== undefined) return p.purgeTags(tags, options)
      const error = new PurgeFailedError(0, tags, 'no CDN purger set (nginx not started yet)', {
        reason: 'unavailable',
      })
      return Promise.resolve({
        purged: [],
        hardened: [],
        failed: tags.map((tag) => ({ tag, reason: 'unavailable', error })),
      })
    },
  }
}

/** What {@link invalidateProduct} reaches. */
export interface InvalidateDeps {
  instanceId: string
  products: ReadCache<CachedProduct | null>
  /** The tags object over the product cache (with Redis), its `cdn` the demo's purger when behind a CDN. */
  tags: Tags<CachedProduct | null> | undefined
  /** The CDN purger, used directly only without Redis (no tags). */
  purger: () => TagPurger | undefined
}

const elapsed = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6

function errorCode(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : String(e)
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}

/** The `cdn` row of a purge report: the URLs touched (when known), hardened tags, failed tags and why. */
export function cdnLayer(mode: InvalidationMode, ms: number, report: DemoPurgeReport): LayerInvalidation {
  const { refetched, removed } = report
  const done =
    refetched !== undefined && removed !== undefined
      ? `${refetched} re-fetched, ${removed} removed`
      : `${report.purged.length} tags purged`
  const hard = report.hardened.length > 0 ? `; hardened: ${report.hardened.join(', ')}` : ''
  if (report.failed.length === 0) return { layer: 'cdn', mode, ms, result: done + hard }
  const failed = report.failed.map((f) => ({ tag: f.tag, reason: f.reason, message: messageOf(f.error) }))
  const why = failed.map((f) => `${f.tag}: ${f.reason}`).join(', ')
  return { layer: 'cdn', mode, ms, result: `failed (${why}); ${done}${hard}`, failed }
}

/** The l2, bus and cdn rows of what the tags call returned. */
function apiLayers(inv: TagInvalidation, op: string): LayerInvalidation[] {
  const mode = inv.mode
  return [
    { layer: 'l2', mode, ms: inv.redis.ms, result: op },
    inv.bus === undefined
      ? { layer: 'bus', mode, ms: null, result: 'no bus' }
      : { layer: 'bus', mode, ms: inv.bus.ms, result: 'published' },
    inv.cdn === undefined
      ? { layer: 'cdn', mode, ms: null, result: 'no cdn' }
      : cdnLayer(mode, inv.cdn.ms, inv.cdn.report),
  ]
}

/** The rows of a tags call that rejected: Redis failed (nothing further done), or the bus (all else done). */
function failedLayers(e: unknown, mode: InvalidationMode, op: string, ms: number): LayerInvalidation[] {
  const code = errorCode(e)
  if (code === 'E_PUBLISH_FAILED') {
    // the versions moved on and the CDN was purged, but the call's result is lost with the rejection
    return [
      { layer: 'l2', mode, ms: null, result: `${op} (its time lost: the bus failed)` },
      { layer: 'bus', mode, ms, result: `failed (${code})` },
      { layer: 'cdn', mode, ms: null, result: 'purged, its report lost: the bus failed' },
    ]
  }
  return [
    { layer: 'l2', mode, ms, result: `failed (${code})` },
    { layer: 'bus', mode, ms: null, result: 'not reached (redis failed)' },
    { layer: 'cdn', mode, ms: null, result: 'not purged (redis failed)' },
  ]
}

/** The one call across L2, the bus and the CDN. */
async function throughTags(
  t: Tags<CachedProduct | null>,
  tags: string[],
  mode: InvalidationMode,
): Promise<{ ok: boolean; layers: LayerInvalidation[] }> {
  const op = mode === 'soft' ? 'expireByTag' : 'deleteByTag'
  const t0 = process.hrtime.bigint()
  try {
    const inv = await (mode === 'soft' ? t.expireByTag(tags) : t.deleteByTag(tags))
    return { ok: true, layers: apiLayers(inv, op) }
  } catch (e) {
    return { ok: errorCode(e) === 'E_PUBLISH_FAILED', layers: failedLayers(e, mode, op, elapsed(t0)) }
  }
}

/** Without Redis there are no tags: no L2, no bus; the CDN (if any) is purged directly. */
async function withoutRedis(
  deps: InvalidateDeps,
  tags: string[],
  mode: InvalidationMode,
): Promise<LayerInvalidation[]> {
  const skipped = (layer: 'l2' | 'bus'): LayerInvalidation => ({ layer, mode, ms: null, result: 'no redis' })
  const purger = deps.purger()
  if (purger === undefined)
    return [skipped('l2'), skipped('bus'), { layer: 'cdn', mode, ms: null, result: 'no cdn' }]
  const t0 = process.hrtime.bigint()
  let report: DemoPurgeReport
  try {
    report = await purger.purgeTags(tags, { mode })
  } catch (error) {
    report = { purged: [], hardened: [], failed: tags.map((tag) => ({ tag, reason: 'error', error })) }
  }
  return [skipped('l2'), skipped('bus'), cdnLayer(mode, elapsed(t0), report)]
}

/** Soft, with Redis: the writer stores the new row under the new stamps (read-your-writes on this instance). */
async function storeFresh(deps: InvalidateDeps, id: number, fresh: CachedProduct): Promise<void> {
  // the other instances serve theirs within grace, and one of them refreshes
  await deps.tags?.set(taggedProductKey(id), fresh, { tags: productReadTags(id) }).catch(() => {
    // Redis went away meanwhile: the next read loads
  })
}

/**
 * Invalidates `product` in every layer: this instance's L1 copies (evicted), then one tags call (L2 by tag, every
 * other instance's L1 through the versions the bus carries, then the CDN, purged last so that its soft re-fetch
 * reads the new row); soft: `fresh` is then stored for this instance's next read. Never rejects: a layer that
 * failed says so in its `result`.
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
  const calledAt = preciseNow()
  let layers: LayerInvalidation[]
  if (deps.tags === undefined) layers = await withoutRedis(deps, tags, mode)
  else {
    const r = await throughTags(deps.tags, tags, mode)
    layers = r.layers
    if (mode === 'soft' && r.ok) await storeFresh(deps, id, fresh)
  }
  return { at, putAt, calledAt, remote: [], from: deps.instanceId, mode, keys, tags, layers: [l1, ...layers] }
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
      inv.remote.push({ instance: report.instance, ms: report.at - inv.calledAt })
    return true
  }
  return false
}
