/**
 * `PUT /api/products/:id` (delete-on-update through the writer, then the CDN purge by tag) and
 * `POST /api/products/:id/views` (a Redis counter written behind into the database, or the database directly).
 */
import { errors as invalidationErrors, type Tags, type WriteBehind, type Writer } from '@tierkit/invalidation'
import type { FastifyInstance } from 'fastify'
import type { DemoStore, Product } from '../db/types.js'
import { DemoError, NotFoundError } from '../errors.js'
import type { Fence } from '../fence.js'
import {
  type InvalidationMode,
  invalidateProduct,
  type LastInvalidation,
  preciseNow,
  type TagPurger,
} from '../invalidate.js'
import type { ReadCache } from '../l1-only.js'
import { type CachedProduct, cacheProduct } from '../read-caches.js'
import { type InvalidationRecord, pushRecent } from '../records.js'
import type { DemoRedisClient } from '../redis-client.js'
import { parseId, parsePatch } from '../requests.js'
import type { ViewCount } from '../writes.js'
import { productLoader } from './product-reads.js'

export type { TagPurger } from '../invalidate.js'

/** What the product writes use. */
export interface ProductWriteDeps {
  instanceId: string
  store: DemoStore
  products: ReadCache<CachedProduct | null>
  fence: Fence
  productWriter: Writer<Product>
  /** The demo's own commands (the view counter), through the client in use. */
  redis: DemoRedisClient | undefined
  views: WriteBehind<ViewCount> | undefined
  /** Local writes and CDN purges are appended here. */
  invalidations: InvalidationRecord[]
  /** The CDN purger of the moment (the tags purge through it; used directly only without Redis). */
  purger: () => TagPurger | undefined
  /** The tags over the product cache (with Redis): the single product reads are tagged. */
  tags: Tags<CachedProduct | null> | undefined
  /** Each product update's per-layer invalidation is appended here. */
  lastInvalidations: LastInvalidation[]
}

const INCR_IF_EXISTS =
  "if redis.call('exists', KEYS[1]) == 0 then return false end return redis.call('incr', KEYS[1])"

/** The counter at `key` incremented, `null` when there is none (every client answers the script's nil as null). */
async function incrIfExists(redis: DemoRedisClient, key: string): Promise<number | null> {
  const n = await redis.command(['EVAL', INCR_IF_EXISTS, 1, key])
  return n === null || n === undefined ? null : Number(n)
}

/** Writes through the writer; an invalidation that failed after the database write is acknowledged, with a warning. */
async function writeProduct(
  deps: ProductWriteDeps,
  next: Product,
  warn: (code: string) => void,
): Promise<void> {
  const id = next.id
  // before and after: a read of this product in flight across any part of the write is not stored at the edge
  deps.fence.bump(id)
  try {
    await deps.productWriter.write(`p:${id}`, next)
  } catch (e) {
    // the database has the new row and this instance's L1 is clear; only Redis (or the bus) could not be
    // told: the stale copy there lives at most CACHE_TTL_MS. The write is acknowledged, with a warning.
    if (
      !(e instanceof invalidationErrors.E_CACHE_DELETE_FAILED) &&
      !(e instanceof invalidationErrors.E_PUBLISH_FAILED)
    )
      throw e
    warn(e.code)
  } finally {
    deps.fence.bump(id)
  }
}

/** The `invalidate` query of a PUT: `soft` (the default) or `hard`. */
function parseMode(q: unknown): InvalidationMode {
  const v = (q as { invalidate?: unknown } | undefined)?.invalidate
  if (v === undefined || v === 'soft') return 'soft'
  if (v === 'hard') return 'hard'
  throw new DemoError('E_BAD_REQUEST', 400, 'invalidate must be soft or hard')
}

/** Invalidates the product in every layer (timed per layer) and records it. */
async function afterWrite(
  deps: ProductWriteDeps,
  p: Product,
  mode: InvalidationMode,
  putAt: number,
): Promise<LastInvalidation> {
  const from = deps.instanceId
  const last = await invalidateProduct(deps, p, cacheProduct(p), mode, putAt)
  pushRecent(deps.lastInvalidations, last)
  pushRecent(deps.invalidations, { at: last.at, kind: 'local', keys: last.keys, tags: last.tags, from })
  if (last.layers.some((l) => l.layer === 'cdn' && l.ms !== null))
    pushRecent(deps.invalidations, { at: Date.now(), kind: 'cdn-purge', keys: [], tags: last.tags, from })
  return last
}

function registerPut(app: FastifyInstance, deps: ProductWriteDeps): void {
  app.put('/api/products/:id', async (req, reply) => {
    const putAt = preciseNow()
    const id = parseId((req.params as { id: string }).id)
    const mode = parseMode(req.query)
    const patch = parsePatch(req.body)
    const current = await deps.store.getProduct(id)
    if (current === undefined) throw new NotFoundError(`product ${id} not found`)
    if (!reply.checkPreconditions({ etag: cacheProduct(current).etag })) return reply
    const next: Product = {
      ...current,
      ...patch,
      version: current.version + 1,
      updatedAt: new Date().toISOString(),
    }
    await writeProduct(deps, next, (code) => reply.header('x-cache-invalidation', `failed (${code})`))
    const last = await afterWrite(deps, next, mode, putAt)
    const failed = last.layers.filter((l) => l.result.startsWith('failed'))
    if (failed.length > 0)
      reply.header('x-cache-invalidation', failed.map((l) => `${l.layer} ${l.result}`).join('; '))
    const c = cacheProduct(next)
    return reply.header('etag', c.etag).type('application/json; charset=utf-8').send(c.json)
  })
}

function registerViews(app: FastifyInstance, deps: ProductWriteDeps): void {
  const { store, products, redis, views } = deps
  const loadProduct = productLoader(store)
  app.post('/api/products/:id/views', async (req, reply) => {
    const id = parseId((req.params as { id: string }).id)
    const exists = await products.getOrLoad(`p:${id}`, () => loadProduct(id))
    if (exists === null || exists === undefined) throw new NotFoundError(`product ${id} not found`)
    if (!redis || !views) {
      // no Redis: no durable queue to write behind to, so the database is written directly
      return reply.code(200).send({ id, views: await store.incrementViews(id), mode: 'direct' })
    }
    const key = `demo:views:${id}`
    let n = await incrIfExists(redis, key)
    if (n === null) {
      // first view since Redis started: the counter starts from what the database holds
      await redis.command(['SET', key, await store.getViews(id), 'NX'])
      n = (await incrIfExists(redis, key)) ?? 0
    }
    const queued = await views.write(`views:${id}`, { id, views: n })
    return reply.code(202).send({ id, views: n, mode: 'write-behind', version: queued.version })
  })
}

/** Registers the product update and the view counter. */
export function registerProductWrites(app: FastifyInstance, deps: ProductWriteDeps): void {
  registerPut(app, deps)
  registerViews(app, deps)
}
