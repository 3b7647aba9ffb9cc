/**
 * `GET /api/categories/:category/products`: the first {@link LISTING_SIZE} products of a category, in id order,
 * read through the tags of `@tierkit/invalidation` (with Redis): the listing's members under `tc:<category>`,
 * tagged `category:<category>`, and each product as its single read has it, `tp:<id>` tagged `product:<id>`
 * (one entry for both routes). `PUT /api/products/:id` expires `product:<id>` and `category:<its category>`, so
 * the listing is refreshed in every layer: L1 of every instance (the bus carries the tags' versions), L2, and the
 * CDN (the answer carries `Cache-Tag: category:<c>,product:<id>,...`, removed by the purge).
 */
import { computeETag } from '@tierkit/cdn-headers'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { CATEGORIES } from '../db/seed.js'
import { BadRequestError, NotFoundError } from '../errors.js'
import { PURGE_HEADER } from '../invalidate.js'
import type { CachedProduct } from '../read-caches.js'
import { type ProductReadDeps, readOne } from './product-reads.js'

/** Products in a category listing. */
export const LISTING_SIZE = 20

/** The cache key of a listing's members (through the tags with Redis, else the plain product cache). */
export function listingKey(category: string): string {
  return `tc:${category}`
}

/** The tags of a listing's members. */
export function listingTags(category: string): string[] {
  return [`category:${category}`]
}

/** The category of the path: lower-case letters (else 400), one of the seed's (else 404). */
export function parseCategory(raw: unknown): string {
  if (typeof raw !== 'string' || !/^[a-z]{1,32}$/.test(raw))
    throw new BadRequestError(`category must be lower-case letters, got "${String(raw)}"`)
  if (!CATEGORIES.includes(raw)) throw new NotFoundError(`category ${raw} not found`)
  return raw
}

/** The members' ids, cached as a JSON body (the product cache's value shape). */
async function readMembers(deps: ProductReadDeps, req: FastifyRequest, category: string): Promise<number[]> {
  const load = async (): Promise<CachedProduct> => {
    const t0 = performance.now()
    const ids = await deps.store.categoryProductIds(category, LISTING_SIZE)
    deps.recordDb?.(ids.length > 0 ? 'hit' : 'miss', performance.now() - t0)
    const json = JSON.stringify(ids)
    return { json, etag: computeETag(json) }
  }
  const refetch = req.headers[PURGE_HEADER] === '1'
  const members =
    deps.tags === undefined
      ? await deps.products.getOrLoad(listingKey(category), load)
      : await deps.tags.getOrLoad(listingKey(category), load, {
          tags: listingTags(category),
          ...(refetch ? { grace: 0 } : {}),
        })
  if (members === null || members === undefined) return []
  const ids: unknown = JSON.parse(members.json)
  return Array.isArray(ids) ? ids.filter((id): id is number => typeof id === 'number') : []
}

/** Registers the category listing. */
export function registerCategoryListing(app: FastifyInstance, deps: ProductReadDeps): void {
  app.get('/api/categories/:category/products', async (req, reply) => {
    const category = parseCategory((req.params as { category: string }).category)
    const ids = await readMembers(deps, req, category)
    // an answer holding a product written meanwhile, or served old within its grace, is not stored at the edge
    deps.fence.enterMany(req, ids, deps.tags !== undefined)
    const found = await Promise.all(ids.map((id) => readOne(deps, req, id)))
    if (deps.beforeResponse) await deps.beforeResponse(ids)
    const bodies: string[] = []
    const shown: number[] = []
    found.forEach((c, i) => {
      if (c === null || c === undefined) return
      bodies.push(c.json)
      shown.push(ids[i]!)
    })
    const body = `{"category":${JSON.stringify(category)},"products":[${bodies.join(',')}]}`
    reply
      .header('etag', computeETag(body))
      .header('cache-tag', [...listingTags(category), ...shown.map((id) => `product:${id}`)].join(','))
      .type('application/json; charset=utf-8')
    return reply.send(body)
  })
}
