/** Request parsing and the bearer-token check of the demo's routes: bad input is a {@link BadRequestError}. */
import { timingSafeEqual } from 'node:crypto'
import type { ProductPatch } from './db/types.js'
import { BadRequestError } from './errors.js'

const ID_RE = /^[1-9]\d{0,9}$/
const MAX_IDS = 100

/** A product or user id from a path parameter: a positive 32-bit integer. */
export function parseId(raw: unknown): number {
  if (typeof raw !== 'string' || !ID_RE.test(raw) || Number(raw) > 2_147_483_647) {
    throw new BadRequestError(`id must be a positive integer, got "${String(raw)}"`)
  }
  return Number(raw)
}

/** The `ids` query parameter: comma-separated ids, at most 100, de-duplicated in order. */
export function parseIds(raw: unknown): number[] {
  if (typeof raw !== 'string' || raw === '')
    throw new BadRequestError('ids must be a comma-separated list of ids')
  const parts = raw.split(',')
  if (parts.length > MAX_IDS) throw new BadRequestError(`at most ${MAX_IDS} ids, got ${parts.length}`)
  return [...new Set(parts.map(parseId))]
}

/** The body of `PUT /api/products/:id`: at least one of `name`, `priceCents`, `stock`, nothing else. */
export function parsePatch(body: unknown): ProductPatch {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new BadRequestError('body must be a JSON object with name, priceCents and/or stock')
  }
  const b = body as Record<string, unknown>
  const patch: ProductPatch = {}
  for (const k of Object.keys(b)) {
    if (k !== 'name' && k !== 'priceCents' && k !== 'stock') throw new BadRequestError(`unknown field "${k}"`)
  }
  if (b.name !== undefined) {
    if (typeof b.name !== 'string' || b.name.trim() === '' || b.name.length > 200) {
      throw new BadRequestError('name must be a non-empty string of at most 200 characters')
    }
    patch.name = b.name
  }
  for (const k of ['priceCents', 'stock'] as const) {
    const v = b[k]
    if (v === undefined) continue
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > 1_000_000_000) {
      throw new BadRequestError(`${k} must be an integer from 0 to 1000000000`)
    }
    patch[k] = v
  }
  if (Object.keys(patch).length === 0)
    throw new BadRequestError('give at least one of name, priceCents, stock')
  return patch
}

/** The token of an `Authorization: Bearer <token>` header, or `undefined`. */
export function bearer(header: unknown): string | undefined {
  if (typeof header !== 'string') return undefined
  const m = /^Bearer ([\w.~+/-]+=*)$/i.exec(header.trim())
  return m?.[1]
}

/** Compares two tokens in constant time. */
export function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}
