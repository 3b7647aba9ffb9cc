import pg from 'pg'
import { seedProducts, seedUsers } from './seed.js'
import { INDEX_NAMES, INDEXES_SQL, PRODUCT_COLUMNS, type ProductRow, TABLES_SQL, toProduct } from './sql.js'
import { columns } from './sqlite.js'
import type { DemoStore, Product } from './types.js'

const BATCH = 10_000

/**
 * PostgreSQL through `pg` (a pool of 10), in `schema` (created when missing). Seeding: one transaction under an
 * advisory lock (so two instances starting together seed once), rows sent 10,000 at a time through `unnest`.
 * @example const store = openPostgresStore('postgres://127.0.0.1:5432/test', 'public')
 */
export function openPostgresStore(url: string, schema: string): DemoStore {
  const pool = new pg.Pool({ connectionString: url, max: 10, options: `-c search_path=${schema}` })
  pool.on('error', () => {}) // idle client errors (server restart) surface on the next query
  const q = async <R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<R[]> =>
    (await pool.query<R>(text, values)).rows

  return {
    kind: 'postgres',
    async init(n) {
      const client = await pool.connect()
      try {
        await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`)
        await client.query('BEGIN')
        await client.query("SELECT pg_advisory_xact_lock(hashtext('tierkit-demo-seed'))")
        for (const sql of TABLES_SQL) await client.query(sql)
        const before = Number((await client.query('SELECT count(*) AS n FROM products')).rows[0].n)
        if (before === 0) {
          let rows: unknown[][] = [[], [], [], [], [], [], [], []]
          const flush = async (): Promise<void> => {
            await client.query(
              'INSERT INTO products (id, name, category, brand_id, price_cents, stock, version, updated_at) SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::int[], $5::int[], $6::int[], $7::int[], $8::text[])',
              rows,
            )
            rows = [[], [], [], [], [], [], [], []]
          }
          for (const p of seedProducts(n.products)) {
            const cols = [p.id, p.name, p.category, p.brandId, p.priceCents, p.stock, p.version, p.updatedAt]
            cols.forEach((v, i) => {
              rows[i]!.push(v)
            })
            if (rows[0]!.length === BATCH) await flush()
          }
          if (rows[0]!.length > 0) await flush()
          let users: unknown[][] = [[], [], [], [], []]
          const flushUsers = async (): Promise<void> => {
            await client.query(
              'INSERT INTO users (id, name, email, created_at, api_token) SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::text[])',
              users,
            )
            users = [[], [], [], [], []]
          }
          for (const u of seedUsers(n.users)) {
            const cols = [u.id, u.name, u.email, u.createdAt, u.apiToken]
            cols.forEach((v, i) => {
              users[i]!.push(v)
            })
            if (users[0]!.length === BATCH) await flushUsers()
          }
          if (users[0]!.length > 0) await flushUsers()
        }
        for (const sql of INDEXES_SQL) await client.query(sql)
        await client.query('COMMIT')
        if (before === 0) await client.query('ANALYZE products; ANALYZE users')
        const counts = await this.counts()
        return { seeded: before === 0, ...counts }
      } catch (e) {
        await client.query('ROLLBACK').catch(() => {})
        throw e
      } finally {
        client.release()
      }
    },
    async getProduct(id) {
      const [r] = await q<ProductRow>(`SELECT ${PRODUCT_COLUMNS} FROM products WHERE id = $1`, [id])
      return r === undefined ? undefined : toProduct(r)
    },
    async getProducts(ids) {
      const out = new Map<number, Product>()
      if (ids.length === 0) return out
      for (const r of await q<ProductRow>(
        `SELECT ${PRODUCT_COLUMNS} FROM products WHERE id = ANY($1::int[])`,
        [ids],
      )) {
        out.set(Number(r.id), toProduct(r))
      }
      return out
    },
    async getUser(id) {
      const [r] = await q<{ id: number; name: string; email: string; created_at: string; api_token: string }>(
        'SELECT id, name, email, created_at, api_token FROM users WHERE id = $1',
        [id],
      )
      return r === undefined
        ? undefined
        : { id: Number(r.id), name: r.name, email: r.email, createdAt: r.created_at, apiToken: r.api_token }
    },
    async saveProduct(p) {
      const r = await pool.query(
        'UPDATE products SET name = $2, category = $3, brand_id = $4, price_cents = $5, stock = $6, version = $7, updated_at = $8 WHERE id = $1',
        [p.id, p.name, p.category, p.brandId, p.priceCents, p.stock, p.version, p.updatedAt],
      )
      return r.rowCount === 1
    },
    async saveViews(writes) {
      if (writes.length === 0) return 0
      // one statement: the batch is applied atomically, each row only if its version is newer
      const r = await pool.query(
        `UPDATE products AS p SET views = w.views, views_version = w.version
         FROM unnest($1::int[], $2::bigint[], $3::bigint[]) AS w(id, views, version)
         WHERE p.id = w.id AND p.views_version < w.version`,
        [writes.map((w) => w.id), writes.map((w) => w.views), writes.map((w) => w.version)],
      )
      return r.rowCount ?? 0
    },
    async getViews(id) {
      const [r] = await q<{ views: string }>('SELECT views FROM products WHERE id = $1', [id])
      return r === undefined ? 0 : Number(r.views)
    },
    async incrementViews(id) {
      const [r] = await q<{ views: string }>(
        'UPDATE products SET views = views + 1 WHERE id = $1 RETURNING views',
        [id],
      )
      return r === undefined ? 0 : Number(r.views)
    },
    async priceColumns() {
      const r = await pool.query({
        text: 'SELECT price_cents, category FROM products ORDER BY id',
        rowMode: 'array',
      })
      return columns(r.rows as Array<[number, string]>)
    },
    async indexes() {
      const rows = await q<{ indexname: string }>(
        "SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename IN ('products', 'users') ORDER BY indexname",
        [schema],
      )
      return rows.map((r) => r.indexname).filter((n) => INDEX_NAMES.includes(n))
    },
    async counts() {
      const [r] = await q<{ p: string; u: string }>(
        'SELECT (SELECT count(*) FROM products) AS p, (SELECT count(*) FROM users) AS u',
      )
      return { products: Number(r!.p), users: Number(r!.u) }
    },
    async close() {
      await pool.end()
    },
  }
}
