/** Schema shared by both databases (portable SQL). */
export const TABLES_SQL: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS products (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    brand_id INTEGER NOT NULL,
    price_cents INTEGER NOT NULL,
    stock INTEGER NOT NULL,
    version INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    views BIGINT NOT NULL DEFAULT 0,
    views_version BIGINT NOT NULL DEFAULT 0
  )`,
  `CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    created_at TEXT NOT NULL,
    api_token TEXT NOT NULL
  )`,
]

/** Indexes created after the seed (faster than maintaining them row by row). */
export const INDEXES_SQL: readonly string[] = [
  'CREATE INDEX IF NOT EXISTS idx_products_category ON products (category)',
  'CREATE INDEX IF NOT EXISTS idx_products_brand ON products (brand_id)',
  'CREATE INDEX IF NOT EXISTS idx_products_price ON products (price_cents)',
  'CREATE UNIQUE INDEX IF NOT EXISTS idx_users_email ON users (email)',
  'CREATE UNIQUE INDEX IF NOT EXISTS idx_users_token ON users (api_token)',
]

/** The index names above. */
export const INDEX_NAMES: readonly string[] = INDEXES_SQL.map((s) => /INDEX IF NOT EXISTS (\w+)/.exec(s)![1]!)

/** Columns of a product row, in the order both stores select them. */
export const PRODUCT_COLUMNS = 'id, name, category, brand_id, price_cents, stock, version, updated_at'

/** A raw product row. */
export interface ProductRow {
  id: number | string
  name: string
  category: string
  brand_id: number | string
  price_cents: number | string
  stock: number | string
  version: number | string
  updated_at: string
}

/** Maps a raw row (numbers may come back as strings from pg's BIGINT) to a Product. */
export function toProduct(r: ProductRow): import('./types.js').Product {
  return {
    id: Number(r.id),
    name: r.name,
    category: r.category,
    brandId: Number(r.brand_id),
    priceCents: Number(r.price_cents),
    stock: Number(r.stock),
    version: Number(r.version),
    updatedAt: r.updated_at,
  }
}
