import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import { CATEGORIES, seedProducts, seedUsers } from './seed.js'
import { INDEX_NAMES, INDEXES_SQL, PRODUCT_COLUMNS, type ProductRow, TABLES_SQL, toProduct } from './sql.js'
import type { DemoStore, PriceColumns, Product, User } from './types.js'

interface UserRow {
  id: number
  name: string
  email: string
  created_at: string
  api_token: string
}

/**
 * The embedded default: SQLite through better-sqlite3 (WAL mode). Seeding runs in one transaction with prepared
 * statements, the indexes are built after the rows.
 * @example const store = openSqliteStore('data/demo.sqlite'); await store.init({ products: 100_000, users: 10_000 })
 */
export function openSqliteStore(path: string): DemoStore {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  for (const sql of TABLES_SQL) db.exec(sql)
  const getProduct = db.prepare<[number], ProductRow>(`SELECT ${PRODUCT_COLUMNS} FROM products WHERE id = ?`)
  const getProducts = db.prepare<[string], ProductRow>(
    `SELECT ${PRODUCT_COLUMNS} FROM products WHERE id IN (SELECT value FROM json_each(?))`,
  )
  const getUser = db.prepare<[number], UserRow>(
    'SELECT id, name, email, created_at, api_token FROM users WHERE id = ?',
  )
  const saveProduct = db.prepare(
    'UPDATE products SET name = @name, category = @category, brand_id = @brandId, price_cents = @priceCents, stock = @stock, version = @version, updated_at = @updatedAt WHERE id = @id',
  )
  const saveViews = db.prepare(
    'UPDATE products SET views = @views, views_version = @version WHERE id = @id AND views_version < @version',
  )
  const saveViewsMany = db.transaction(
    (writes: ReadonlyArray<{ id: number; views: number; version: number }>) => {
      let changed = 0
      for (const w of writes) changed += saveViews.run(w).changes
      return changed
    },
  )
  const getViews = db.prepare<[number], { views: number }>('SELECT views FROM products WHERE id = ?')
  const incViews = db.prepare<[number], { views: number }>(
    'UPDATE products SET views = views + 1 WHERE id = ? RETURNING views',
  )
  const countProducts = db.prepare<[], { n: number }>('SELECT count(*) AS n FROM products')
  const countUsers = db.prepare<[], { n: number }>('SELECT count(*) AS n FROM users')

  const seed = db.transaction((products: number, users: number): boolean => {
    if (countProducts.get()!.n > 0) return false // another process seeded it meanwhile
    const p = db.prepare(
      'INSERT INTO products (id, name, category, brand_id, price_cents, stock, version, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    )
    for (const r of seedProducts(products)) {
      p.run(r.id, r.name, r.category, r.brandId, r.priceCents, r.stock, r.version, r.updatedAt)
    }
    const u = db.prepare('INSERT INTO users (id, name, email, created_at, api_token) VALUES (?, ?, ?, ?, ?)')
    for (const r of seedUsers(users)) u.run(r.id, r.name, r.email, r.createdAt, r.apiToken)
    for (const sql of INDEXES_SQL) db.exec(sql)
    return true
  })

  return {
    kind: 'sqlite',
    async init(n) {
      // IMMEDIATE: a second process opening the same file waits instead of seeding twice
      const seeded = countProducts.get()!.n === 0 && seed.immediate(n.products, n.users)
      if (!seeded) for (const sql of INDEXES_SQL) db.exec(sql)
      return { seeded, products: countProducts.get()!.n, users: countUsers.get()!.n }
    },
    async getProduct(id) {
      const r = getProduct.get(id)
      return r === undefined ? undefined : toProduct(r)
    },
    async getProducts(ids) {
      const out = new Map<number, Product>()
      if (ids.length === 0) return out
      for (const r of getProducts.all(JSON.stringify(ids))) out.set(Number(r.id), toProduct(r))
      return out
    },
    async getUser(id) {
      const r = getUser.get(id)
      if (r === undefined) return undefined
      const user: User = {
        id: r.id,
        name: r.name,
        email: r.email,
        createdAt: r.created_at,
        apiToken: r.api_token,
      }
      return user
    },
    async saveProduct(p) {
      return saveProduct.run(p).changes === 1
    },
    async saveViews(writes) {
      return saveViewsMany(writes)
    },
    async getViews(id) {
      return getViews.get(id)?.views ?? 0
    },
    async incrementViews(id) {
      return incViews.get(id)?.views ?? 0
    },
    async priceColumns() {
      const rows = db.prepare('SELECT price_cents, category FROM products ORDER BY id').raw().all() as Array<
        [number, string]
      >
      return columns(rows)
    },
    async indexes() {
      const rows = db
        .prepare<[], { name: string }>(
          "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('products', 'users') AND name LIKE 'idx_%' ORDER BY name",
        )
        .all()
      return rows.map((r) => r.name).filter((n) => INDEX_NAMES.includes(n))
    },
    async counts() {
      return { products: countProducts.get()!.n, users: countUsers.get()!.n }
    },
    async close() {
      if (db.open) db.close()
    },
  }
}

/** Builds the report's columns from `[price, category]` rows. */
export function columns(rows: ReadonlyArray<readonly [number | string, string]>): PriceColumns {
  const categories = [...CATEGORIES]
  const index = new Map(categories.map((c, i) => [c, i]))
  const prices = new Float64Array(rows.length)
  const categoryIndex = new Int32Array(rows.length)
  rows.forEach(([price, cat], i) => {
    prices[i] = Number(price)
    let ci = index.get(cat)
    if (ci === undefined) {
      ci = categories.push(cat) - 1
      index.set(cat, ci)
    }
    categoryIndex[i] = ci
  })
  return { prices, categoryIndex, categories }
}
