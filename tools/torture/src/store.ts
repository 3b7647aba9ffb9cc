/**
 * The database: a version-honouring key-value table in PostgreSQL (one schema per run) that records every save it
 * is asked to make, applied or skipped, in commit order, so the checker can see what overwrote what.
 *
 * - synchronous writes (deleteOnUpdate, writeThrough, tags) carry no version from the package: the store applies
 *   them when the value's logical version is higher than the stored one;
 * - write-behind writes carry the queue's version (`context.version`): the store applies them when that is higher
 *   than the stored queue version, as the invalidation README says a Store should. The checker then verifies, from
 *   the log, that the logical versions were applied in order (no lower one overwrote a higher one).
 */
import pg from 'pg'
import { decodeTyped, encodeTyped, type Item } from './codec.js'
import { now } from './history.js'
import type { AppliedEvent } from './types.js'

/** The PostgreSQL server of the machine (trust auth, database `test`), unless `TORTURE_PG_URL` says otherwise. */
export function pgUrl(): string {
  return process.env.TORTURE_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
}

function ident(schema: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new TypeError(`bad schema name ${schema}`)
  return `"${schema}"`
}

/** Creates the schema with its two tables and one row (version 0) per key. */
export async function createSchema(connectionString: string, schema: string, keys: string[]): Promise<void> {
  const c = new pg.Client({ connectionString })
  await c.connect()
  try {
    const s = ident(schema)
    await c.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`)
    await c.query(`CREATE SCHEMA ${s}`)
    await c.query(
      `CREATE TABLE ${s}.kv (key text PRIMARY KEY, value text NOT NULL, lv bigint NOT NULL, qv bigint NOT NULL DEFAULT 0)`,
    )
    await c.query(
      `CREATE TABLE ${s}.applied (id bigserial PRIMARY KEY, key text NOT NULL, lv bigint NOT NULL, qv bigint NOT NULL, w text NOT NULL, applied boolean NOT NULL, at double precision NOT NULL, p text NOT NULL)`,
    )
    const values = keys.map(() => encodeTyped({ v: 0, w: 'seed', by: 'seed' } satisfies Item))
    await c.query(
      `INSERT INTO ${s}.kv (key, value, lv, qv) SELECT k, v, 0, 0 FROM unnest($1::text[], $2::text[]) AS t(k, v)`,
      [keys, values],
    )
  } finally {
    await c.end()
  }
}

/** Drops the run's schema. */
export async function dropSchema(connectionString: string, schema: string): Promise<void> {
  const c = new pg.Client({ connectionString })
  await c.connect()
  try {
    await c.query(`DROP SCHEMA IF EXISTS ${ident(schema)} CASCADE`)
  } finally {
    await c.end()
  }
}

/** Everything the store was asked to save, in commit order. */
export async function readApplied(connectionString: string, schema: string): Promise<AppliedEvent[]> {
  const c = new pg.Client({ connectionString })
  await c.connect()
  try {
    const r = await c.query(
      `SELECT id, key, lv, qv, w, applied, at, p FROM ${ident(schema)}.applied ORDER BY id`,
    )
    return r.rows.map((row) => ({
      t: 'applied' as const,
      id: Number(row.id),
      key: String(row.key),
      lv: Number(row.lv),
      qv: Number(row.qv),
      w: String(row.w),
      applied: Boolean(row.applied),
      at: Number(row.at),
      p: String(row.p),
    }))
  } finally {
    await c.end()
  }
}

/** The final content of the table: key → logical version, queue version and the typed encoding of the value. */
export async function readFinal(
  connectionString: string,
  schema: string,
): Promise<Map<string, { lv: number; qv: number; enc: string }>> {
  const c = new pg.Client({ connectionString })
  await c.connect()
  try {
    const r = await c.query(`SELECT key, value, lv, qv FROM ${ident(schema)}.kv`)
    return new Map(
      r.rows.map((row) => [
        String(row.key),
        { lv: Number(row.lv), qv: Number(row.qv), enc: String(row.value) },
      ]),
    )
  } finally {
    await c.end()
  }
}

/** The Store handed to the writers and flushers (the invalidation package's `Store` shape) plus a loader. */
export interface TortureStore {
  load(key: string): Promise<Item | undefined>
  save(key: string, value: Item, context: { version: number | undefined }): Promise<boolean>
  remove(key: string, context: { version: number | undefined }): Promise<boolean>
  saveMany(writes: ReadonlyArray<{ key: string; value: Item; version: number }>): Promise<undefined>
  /** Called after a write-behind batch committed (the flusher's mid-batch kill hooks in here). */
  afterCommit?: () => Promise<void>
  close(): Promise<void>
}

/** Opens the store for one process. */
export function openStore(connectionString: string, schema: string, proc: string): TortureStore {
  const s = ident(schema)
  const pool = new pg.Pool({ connectionString, max: 4, idleTimeoutMillis: 10_000 })
  pool.on('error', () => {})
  const lvOf = (value: unknown): number => {
    const v = (value as { v?: unknown } | null)?.v
    return typeof v === 'number' && Number.isSafeInteger(v) ? v : -1
  }
  const wOf = (value: unknown): string => {
    const w = (value as { w?: unknown } | null)?.w
    return typeof w === 'string' ? w : ''
  }

  const saveOne = async (
    q: pg.PoolClient,
    key: string,
    value: unknown,
    version: number | undefined,
  ): Promise<boolean> => {
    const lv = lvOf(value)
    const enc = encodeTyped(value)
    const r =
      version === undefined
        ? await q.query(
            `INSERT INTO ${s}.kv AS t (key, value, lv, qv) VALUES ($1, $2, $3, 0)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, lv = excluded.lv WHERE t.lv < excluded.lv RETURNING 1`,
            [key, enc, lv],
          )
        : await q.query(
            `INSERT INTO ${s}.kv AS t (key, value, lv, qv) VALUES ($1, $2, $3, $4)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, lv = excluded.lv, qv = excluded.qv WHERE t.qv < excluded.qv RETURNING 1`,
            [key, enc, lv, version],
          )
    const applied = (r.rowCount ?? 0) > 0
    await q.query(
      `INSERT INTO ${s}.applied (key, lv, qv, w, applied, at, p) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [key, lv, version ?? 0, wOf(value), applied, now(), proc],
    )
    return applied
  }

  const inTx = async <T>(fn: (q: pg.PoolClient) => Promise<T>): Promise<T> => {
    const q = await pool.connect()
    try {
      await q.query('BEGIN')
      const out = await fn(q)
      await q.query('COMMIT')
      return out
    } catch (e) {
      await q.query('ROLLBACK').catch(() => {})
      throw e
    } finally {
      q.release()
    }
  }

  const store: TortureStore = {
    async load(key) {
      const r = await pool.query(`SELECT value FROM ${s}.kv WHERE key = $1`, [key])
      const row = r.rows[0] as { value: string } | undefined
      return row === undefined ? undefined : (decodeTyped(row.value) as Item)
    },
    async save(key, value, context) {
      const applied = await inTx((q) => saveOne(q, key, value, context.version))
      if (context.version !== undefined) await store.afterCommit?.()
      return applied
    },
    async remove() {
      return true
    },
    async saveMany(writes) {
      await inTx(async (q) => {
        for (const w of writes) await saveOne(q, w.key, w.value, w.version)
      })
      await store.afterCommit?.()
      return undefined
    },
    async close() {
      await pool.end()
    },
  }
  return store
}
