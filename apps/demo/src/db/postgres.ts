import pg from 'pg'
import { columns } from './columns.js'
import { seedProducts, seedUsers } from './seed.js'
import { INDEX_NAMES, INDEXES_SQL, PRODUCT_COLUMNS, type ProductRow, TABLES_SQL, toProduct } from './sql.js'
import type { DemoStore, PriceColumns, Product, User } from './types.js'

const BATCH = 10_000

const INSERT_PRODUCTS =
  'INSERT INTO products (id, name, category, brand_id, price_cents, stock, version, updated_at) SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::int[], $5::int[], $6::int[], $7::int[], $8::text[])'
const INSERT_USERS =
  'INSERT INTO users (id, name, email, created_at, api_token) SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::text[])'

/** Inserts `rows` (each a tuple of `width` columns) through `unnest`, `BATCH` rows a statement. */
async function insertColumns(
  client: pg.PoolClient,
  sql: string,
  width: number,
  rows: Iterable<readonly unknown[]>,
): Promise<void> {
  let batch: unknown[][] = Array.from({ length: width }, () => [])
  const flush = async (): Promise<void> => {
    await client.query(sql, batch)
    batch = Array.from({ length: width }, () => [])
  }
  for (const row of rows) {
    row.forEach((v, i) => {
      batch[i]!.push(v)
    })
    if (batch[0]!.length === BATCH) await flush()
  }
  if (batch[0]!.length > 0) await flush()
}

function* productRows(n: number): Iterable<readonly unknown[]> {
  for (const p of seedProducts(n))
    yield [p.id, p.name, p.category, p.brandId, p.priceCents, p.stock, p.version, p.updatedAt]
}

function* userRows(n: number): Iterable<readonly unknown[]> {
  for (const u of seedUsers(n)) yield [u.id, u.name, u.email, u.createdAt, u.apiToken]
}

/** Creates the schema and tables, and seeds them when empty, in one transaction under an advisory lock. */
async function initSchema(
  client: pg.PoolClient,
  schema: string,
  n: { products: number; users: number },
): Promise<boolean> {
  await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`)
  await client.query('BEGIN')
  await client.query("SELECT pg_advisory_xact_lock(hashtext('tierkit-demo-seed'))")
  for (const sql of TABLES_SQL) await client.query(sql)
  const before = Number((await client.query('SELECT count(*) AS n FROM products')).rows[0].n)
  if (before === 0) {
    await insertColumns(client, INSERT_PRODUCTS, 8, productRows(n.products))
    await insertColumns(client, INSERT_USERS, 5, userRows(n.users))
  }
  for (const sql of INDEXES_SQL) await client.query(sql)
  await client.query('COMMIT')
  if (before === 0) await client.query('ANALYZE products; ANALYZE users')
  return before === 0
}

/** The demo's store on PostgreSQL (see {@link openPostgresStore}). */
class PostgresStore implements DemoStore {
  readonly kind = 'postgres' as const
  readonly #pool: pg.Pool
  readonly #schema: string

  constructor(url: string, schema: string) {
    this.#schema = schema
    this.#pool = new pg.Pool({ connectionString: url, max: 10, options: `-c search_path=${schema}` })
    this.#pool.on('error', () => {}) // idle client errors (server restart) surface on the next query
  }

  async #q<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<R[]> {
    return (await this.#pool.query<R>(text, values)).rows
  }

  async init(n: {
    products: number
    users: number
  }): Promise<{ seeded: boolean; products: number; users: number }> {
    const client = await this.#pool.connect()
    try {
      const seeded = await initSchema(client, this.#schema, n)
      return { seeded, ...(await this.counts()) }
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {})
      throw e
    } finally {
      client.release()
    }
  }

  async getProduct(id: number): Promise<Product | undefined> {
    const [r] = await this.#q<ProductRow>(`SELECT ${PRODUCT_COLUMNS} FROM products WHERE id = $1`, [id])
    return r === undefined ? undefined : toProduct(r)
  }

  async getProducts(ids: readonly number[]): Promise<Map<number, Product>> {
    const out = new Map<number, Product>()
    if (ids.length === 0) return out
    for (const r of await this.#q<ProductRow>(
      `SELECT ${PRODUCT_COLUMNS} FROM products WHERE id = ANY($1::int[])`,
      [ids],
    )) {
      out.set(Number(r.id), toProduct(r))
    }
    return out
  }

  async categoryProductIds(category: string, limit: number): Promise<number[]> {
    const rows = await this.#q<{ id: number }>(
      'SELECT id FROM products WHERE category = $1 ORDER BY id LIMIT $2',
      [category, limit],
    )
    return rows.map((r) => Number(r.id))
  }

  async getUser(id: number): Promise<User | undefined> {
    const [r] = await this.#q<{
      id: number
      name: string
      email: string
      created_at: string
      api_token: string
    }>('SELECT id, name, email, created_at, api_token FROM users WHERE id = $1', [id])
    return r === undefined
      ? undefined
      : { id: Number(r.id), name: r.name, email: r.email, createdAt: r.created_at, apiToken: r.api_token }
  }

  async saveProduct(p: Product): Promise<boolean> {
    const r = await this.#pool.query(
      'UPDATE products SET name = $2, category = $3, brand_id = $4, price_cents = $5, stock = $6, version = $7, updated_at = $8 WHERE id = $1',
      [p.id, p.name, p.category, p.brandId, p.priceCents, p.stock, p.version, p.updatedAt],
    )
    return r.rowCount === 1
  }

  async saveViews(writes: ReadonlyArray<{ id: number; views: number; version: number }>): Promise<number> {
    if (writes.length === 0) return 0
    // one statement: the batch is applied atomically, each row only if its version is newer
    const r = await this.#pool.query(
      `UPDATE products AS p SET views = w.views, views_version = w.version
       FROM unnest($1::int[], $2::bigint[], $3::bigint[]) AS w(id, views, version)
       WHERE p.id = w.id AND p.views_version < w.version`,
      [writes.map((w) => w.id), writes.map((w) => w.views), writes.map((w) => w.version)],
    )
    return r.rowCount ?? 0
  }

  async getViews(id: number): Promise<number> {
    const [r] = await this.#q<{ views: string }>('SELECT views FROM products WHERE id = $1', [id])
    return r === undefined ? 0 : Number(r.views)
  }

  async incrementViews(id: number): Promise<number> {
    const [r] = await this.#q<{ views: string }>(
      'UPDATE products SET views = views + 1 WHERE id = $1 RETURNING views',
      [id],
    )
    return r === undefined ? 0 : Number(r.views)
  }

  async priceColumns(): Promise<PriceColumns> {
    const r = await this.#pool.query({
      text: 'SELECT price_cents, category FROM products ORDER BY id',
      rowMode: 'array',
    })
    return columns(r.rows as Array<[number, string]>)
  }

  async indexes(): Promise<string[]> {
    const rows = await this.#q<{ indexname: string }>(
      "SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename IN ('products', 'users') ORDER BY indexname",
      [this.#schema],
    )
    return rows.map((r) => r.indexname).filter((n) => INDEX_NAMES.includes(n))
  }

  async counts(): Promise<{ products: number; users: number }> {
    const [r] = await this.#q<{ p: string; u: string }>(
      'SELECT (SELECT count(*) FROM products) AS p, (SELECT count(*) FROM users) AS u',
    )
    return { products: Number(r!.p), users: Number(r!.u) }
  }

  async close(): Promise<void> {
    await this.#pool.end()
  }
}

/**
 * PostgreSQL through `pg` (a pool of 10), in `schema` (created when missing). Seeding: one transaction under an
 * advisory lock (so two instances starting together seed once), rows sent 10,000 at a time through `unnest`.
 * @example const store = openPostgresStore('postgres://127.0.0.1:5432/test', 'public')
 */
export function openPostgresStore(url: string, schema: string): DemoStore {
  return new PostgresStore(url, schema)
}
