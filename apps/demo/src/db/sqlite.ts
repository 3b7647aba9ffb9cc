import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import { columns } from './columns.js'
import { seedProducts, seedUsers } from './seed.js'
import { INDEX_NAMES, INDEXES_SQL, PRODUCT_COLUMNS, type ProductRow, TABLES_SQL, toProduct } from './sql.js'
import type { DemoStore, PriceColumns, Product, User } from './types.js'

interface UserRow {
  id: number
  name: string
  email: string
  created_at: string
  api_token: string
}

/** The prepared statements of the store. */
function statements(db: Database.Database) {
  const saveViews = db.prepare(
    'UPDATE products SET views = @views, views_version = @version WHERE id = @id AND views_version < @version',
  )
  return {
    getProduct: db.prepare<[number], ProductRow>(`SELECT ${PRODUCT_COLUMNS} FROM products WHERE id = ?`),
    getProducts: db.prepare<[string], ProductRow>(
      `SELECT ${PRODUCT_COLUMNS} FROM products WHERE id IN (SELECT value FROM json_each(?))`,
    ),
    categoryIds: db.prepare<[string, number], { id: number }>(
      'SELECT id FROM products WHERE category = ? ORDER BY id LIMIT ?',
    ),
    getUser: db.prepare<[number], UserRow>(
      'SELECT id, name, email, created_at, api_token FROM users WHERE id = ?',
    ),
    saveProduct: db.prepare(
      'UPDATE products SET name = @name, category = @category, brand_id = @brandId, price_cents = @priceCents, stock = @stock, version = @version, updated_at = @updatedAt WHERE id = @id',
    ),
    saveViewsMany: db.transaction((writes: ReadonlyArray<{ id: number; views: number; version: number }>) => {
      let changed = 0
      for (const w of writes) changed += saveViews.run(w).changes
      return changed
    }),
    getViews: db.prepare<[number], { views: number }>('SELECT views FROM products WHERE id = ?'),
    incViews: db.prepare<[number], { views: number }>(
      'UPDATE products SET views = views + 1 WHERE id = ? RETURNING views',
    ),
    countProducts: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM products'),
    countUsers: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM users'),
  }
}

/** The seeding transaction: the rows through prepared statements, then the indexes. */
function seeder(db: Database.Database, countProducts: Database.Statement<[], { n: number }>) {
  return db.transaction((products: number, users: number): boolean => {
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
}

/** The demo's store on SQLite (see {@link openSqliteStore}). */
class SqliteStore implements DemoStore {
  readonly kind = 'sqlite' as const
  readonly #db: Database.Database
  readonly #s: ReturnType<typeof statements>
  readonly #seed: ReturnType<typeof seeder>

  constructor(db: Database.Database) {
    this.#db = db
    this.#s = statements(db)
    this.#seed = seeder(db, this.#s.countProducts)
  }

  async init(n: {
    products: number
    users: number
  }): Promise<{ seeded: boolean; products: number; users: number }> {
    // IMMEDIATE: a second process opening the same file waits instead of seeding twice
    const seeded = this.#s.countProducts.get()!.n === 0 && this.#seed.immediate(n.products, n.users)
    if (!seeded) for (const sql of INDEXES_SQL) this.#db.exec(sql)
    return { seeded, ...(await this.counts()) }
  }

  async getProduct(id: number): Promise<Product | undefined> {
    const r = this.#s.getProduct.get(id)
    return r === undefined ? undefined : toProduct(r)
  }

  async getProducts(ids: readonly number[]): Promise<Map<number, Product>> {
    const out = new Map<number, Product>()
    if (ids.length === 0) return out
    for (const r of this.#s.getProducts.all(JSON.stringify(ids))) out.set(Number(r.id), toProduct(r))
    return out
  }

  async categoryProductIds(category: string, limit: number): Promise<number[]> {
    return this.#s.categoryIds.all(category, limit).map((r) => Number(r.id))
  }

  async getUser(id: number): Promise<User | undefined> {
    const r = this.#s.getUser.get(id)
    if (r === undefined) return undefined
    return { id: r.id, name: r.name, email: r.email, createdAt: r.created_at, apiToken: r.api_token }
  }

  async saveProduct(p: Product): Promise<boolean> {
    return this.#s.saveProduct.run(p).changes === 1
  }

  async saveViews(writes: ReadonlyArray<{ id: number; views: number; version: number }>): Promise<number> {
    return this.#s.saveViewsMany(writes)
  }

  async getViews(id: number): Promise<number> {
    return this.#s.getViews.get(id)?.views ?? 0
  }

  async incrementViews(id: number): Promise<number> {
    return this.#s.incViews.get(id)?.views ?? 0
  }

  async priceColumns(): Promise<PriceColumns> {
    const rows = this.#db
      .prepare('SELECT price_cents, category FROM products ORDER BY id')
      .raw()
      .all() as Array<[number, string]>
    return columns(rows)
  }

  async indexes(): Promise<string[]> {
    const rows = this.#db
      .prepare<[], { name: string }>(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('products', 'users') AND name LIKE 'idx_%' ORDER BY name",
      )
      .all()
    return rows.map((r) => r.name).filter((n) => INDEX_NAMES.includes(n))
  }

  async counts(): Promise<{ products: number; users: number }> {
    return { products: this.#s.countProducts.get()!.n, users: this.#s.countUsers.get()!.n }
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close()
  }
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
  return new SqliteStore(db)
}
