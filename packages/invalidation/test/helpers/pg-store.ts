import { randomBytes } from 'node:crypto'
import pg from 'pg'
import type { Store, StoreWrite, WriteContext } from '../../src/index.js'

/** Where the tests find PostgreSQL (trust auth on loopback). */
export const PG_URL: string = process.env.TIERKIT_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

/**
 * A real durable Store: one PostgreSQL table `(key text primary key, value jsonb, version bigint, deleted bool)`.
 * It honours versions: a write applies only when its version is greater than the stored one (removals
 * keep a tombstone row with their version), so a replayed older write never overwrites a newer value.
 */
export class PgStore implements Store<unknown> {
  saves = 0
  constructor(
    readonly pool: pg.Pool,
    readonly table: string,
  ) {}

  /** Creates a uniquely named table. */
  static async create(prefix = 'inv'): Promise<PgStore> {
    const table = `${prefix}_${randomBytes(6).toString('hex')}`
    const pool = new pg.Pool({ connectionString: PG_URL, max: 4 })
    await pool.query(
      `CREATE TABLE ${table} (key text PRIMARY KEY, value jsonb, version bigint NOT NULL, deleted boolean NOT NULL DEFAULT false)`,
    )
    return new PgStore(pool, table)
  }

  /** Connects to an existing table (in a child process). */
  static open(table: string): PgStore {
    if (!/^[a-z0-9_]+$/.test(table)) throw new Error('bad table name')
    return new PgStore(new pg.Pool({ connectionString: PG_URL, max: 4 }), table)
  }

  async load(key: string): Promise<unknown> {
    const r = await this.pool.query(`SELECT value, deleted FROM ${this.table} WHERE key = $1`, [key])
    const row = r.rows[0] as { value: unknown; deleted: boolean } | undefined
    return row === undefined || row.deleted ? undefined : row.value
  }

  async save(key: string, value: unknown, ctx: WriteContext): Promise<boolean> {
    this.saves++
    const r = await this.pool.query(
      `INSERT INTO ${this.table} AS t (key, value, version, deleted) VALUES ($1, $2::jsonb, $3, false)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = excluded.version, deleted = false
       WHERE $4::boolean OR t.version < excluded.version`,
      [key, JSON.stringify(value), ctx.version ?? 0, ctx.version === undefined],
    )
    return r.rowCount === 1
  }

  async remove(key: string, ctx: WriteContext): Promise<boolean> {
    const r = await this.pool.query(
      `INSERT INTO ${this.table} AS t (key, value, version, deleted) VALUES ($1, NULL, $2, true)
       ON CONFLICT (key) DO UPDATE SET value = NULL, version = excluded.version, deleted = true
       WHERE $3::boolean OR t.version < excluded.version`,
      [key, ctx.version ?? 0, ctx.version === undefined],
    )
    return r.rowCount === 1
  }

  async saveMany(writes: readonly StoreWrite<unknown>[]): Promise<void> {
    if (writes.length === 0) return
    this.saves += writes.length
    const params: unknown[] = []
    const rows = writes.map((w, i) => {
      params.push(w.key, JSON.stringify(w.value), w.version)
      return `($${i * 3 + 1}, $${i * 3 + 2}::jsonb, $${i * 3 + 3}, false)`
    })
    await this.pool.query(
      `INSERT INTO ${this.table} AS t (key, value, version, deleted) VALUES ${rows.join(', ')}
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = excluded.version, deleted = false
       WHERE t.version < excluded.version`,
      params,
    )
  }

  /** Every row: key → { value, version, deleted }. */
  async dump(): Promise<Map<string, { value: unknown; version: number; deleted: boolean }>> {
    const r = await this.pool.query(`SELECT key, value, version, deleted FROM ${this.table}`)
    return new Map(
      r.rows.map((row: { key: string; value: unknown; version: string; deleted: boolean }) => [
        row.key,
        { value: row.value, version: Number(row.version), deleted: row.deleted },
      ]),
    )
  }

  async drop(): Promise<void> {
    await this.pool.query(`DROP TABLE IF EXISTS ${this.table}`).catch(() => {})
    await this.pool.end().catch(() => {})
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => {})
  }
}
