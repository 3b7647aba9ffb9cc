/** `GET /api/public/products/:id` and `GET /api/public/products?ids=`: the cached product reads. */
import type { Tags } from '@tierkit/invalidation'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { DemoStore } from '../db/types.js'
import { NotFoundError } from '../errors.js'
import type { Fence } from '../fence.js'
import { PURGE_HEADER, productReadTags, taggedProductKey } from '../invalidate.js'
import type { ReadCache } from '../l1-only.js'
import { type CachedProduct, cacheProduct } from '../read-caches.js'
import { parseId, parseIds } from '../requests.js'

/** What the product reads use. */
export interface ProductReadDeps {
  store: DemoStore
  products: ReadCache<CachedProduct | null>
  fence: Fence
  /** The tags over the product cache (with Redis): a single product read is tagged `product:<id>`. */
  tags: Tags<CachedProduct | null> | undefined
  /** Records a load of the tagged reads in the `db` layer (found: hit, absent: miss). */
  recordDb: ((outcome: 'hit' | 'miss', ms: number) => void) | undefined
  /** Test-only: awaited after the cache read and before the answer is sent, with the ids read. */
  beforeResponse: ((ids: readonly number[]) => Promise<void> | void) | undefined
}

/** Loads one product for the cache (null: no such product). */
export function productLoader(store: DemoStore): (id: number) => Promise<CachedProduct | null> {
  return async (id) => {
    const p = await store.getProduct(id)
    return p === undefined ? null : cacheProduct(p)
  }
}

/** One product through the tags (with Redis) or the plain cache; a CDN purge's re-fetch never takes a stale value. */
export function readOne(
  deps: ProductReadDeps,
  req: FastifyRequest,
  id: number,
): Promise<CachedProduct | null | undefined> {
  const loadProduct = productLoader(deps.store)
  if (deps.tags === undefined) return deps.products.getOrLoad(`p:${id}`, () => loadProduct(id))
  const refetch = req.headers[PURGE_HEADER] === '1'
  // the db layer of the metrics: redis-aside records its own loads, the tags' loads are recorded here
  const load = async (): Promise<CachedProduct | null> => {
    const t0 = performance.now()
    const p = await loadProduct(id)
    deps.recordDb?.(p === null ? 'miss' : 'hit', performance.now() - t0)
    return p
  }
  return deps.tags.getOrLoad(taggedProductKey(id), load, {
    tags: productReadTags(id),
    ...(refetch ? { grace: 0 } : {}),
  })
}

function registerOne(app: FastifyInstance, deps: ProductReadDeps): void {
  const { fence, beforeResponse } = deps
  app.get('/api/public/products/:id', (req, reply) => {
    const id = parseId((req.params as { id: string }).id)
    fence.enter(req, id, deps.tags !== undefined && req.headers[PURGE_HEADER] === '1')
    const send = (c: CachedProduct | null | undefined) => {
      if (c === null || c === undefined) throw new NotFoundError(`product ${id} not found`)
      reply
        .header('etag', c.etag)
        .header('cache-tag', `product:${id}`)
        .type('application/json; charset=utf-8')
      return reply.send(c.json)
    }
    const read = readOne(deps, req, id)
    if (beforeResponse === undefined) return read.then(send)
    return read.then(async (c) => {
      await beforeResponse([id])
      return send(c)
    })
  })
}

function registerMany(app: FastifyInstance, deps: ProductReadDeps): void {
  const { store, products, fence, beforeResponse } = deps
  app.get('/api/public/products', async (req, reply) => {
    const ids = parseIds((req.query as { ids?: unknown }).ids)
    fence.enterMany(req, ids)
    const keys = ids.map((id) => `p:${id}`)
    const found = await products.getOrLoadMany(keys, async (missing) => {
      const rows = await store.getProducts(missing.map((k) => Number(k.slice(2))))
      const out = new Map<string, CachedProduct | null>()
      for (const k of missing) {
        const p = rows.get(Number(k.slice(2)))
        out.set(k, p === undefined ? null : cacheProduct(p))
      }
      return out
    })
    if (beforeResponse) await beforeResponse(ids)
    const bodies: string[] = []
    const missing: number[] = []
    found.forEach((c, i) => {
      if (c === null || c === undefined) missing.push(ids[i]!)
      else bodies.push(c.json)
    })
    reply
      .header(
        'cache-tag',
        ['products', ...ids.filter((id) => !missing.includes(id)).map((id) => `product:${id}`)].join(','),
      )
      .type('application/json; charset=utf-8')
    return reply.send(`{"products":[${bodies.join(',')}],"missing":${JSON.stringify(missing)}}`)
  })
}

/** Registers both product reads. */
export function registerProductReads(app: FastifyInstance, deps: ProductReadDeps): void {
  registerOne(app, deps)
  registerMany(app, deps)
}
