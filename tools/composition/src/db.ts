/**
 * The consumer's database: a `users` table in PostgreSQL (a schema of its own), shaped as the READMEs' `db`
 * (`findUser`, `findUsers`, `upsertUser`, `deleteUser`) and honouring write-behind's versions with the SQL of the
 * invalidation README. Values are stored with the family's exact serializer, so a `Map`, a `Set`, a `Date` or a
 * bigint comes back from the table as it went in. It counts its own queries: the `db` layer's own figures.
 */
import { exactSerializer } from '@tierkit/contracts'
import pg from 'pg'

/** A user, with the types JSON would lose (write-behind's queue must keep them). */
export interface User {
  id: number
  name: string
  /** Optional rich fields: round-trip through cache, queue and database exactly. */
  seen?: Set<string>
  scores?: Map<string, number>
  at?: Date
  big?: bigint
  note?: string | undefined
}

/** What the database counted itself. */
export interface DbCounts {
  /** `findUser` queries (one per loader call of `getOrLoad`). */
  findUser: number
  /** `findUsers` queries (one per loader call of `getOrLoadMany`) and the keys they asked for. */
  findUsers: number
  findUsersKeys: number
  /** Writes asked (`upsertUser` + `deleteUser`) and applied. */
  writes: number
  applied: number
}

/** The database of the composition tests. */
export interface Database {
  readonly schema: string
  readonly counts: DbCounts
  findUser(id: number, options: { signal: AbortSignal }): Promise<User | null>
  findUsers(ids: readonly string[]): Promise<Map<string, User>>
  upsertUser(key: string, value: unknown, version: number | undefined): Promise<boolean>
  deleteUser(key: string, version: number | undefined): Promise<boolean>
  /** The value as stored (decoded), `undefined` when absent or removed; not counted. */
  peek(key: string): Promise<unknown>
  /** The version kept with the row (0 for unversioned writes), `undefined` when there is no row. */
  versionOf(key: string): Promise<number | undefined>
  /** Drops the schema and closes the pool. */
  close(): Promise<void>
}

/** PostgreSQL of the machine: `DATABASE_URL`, else the CI default. */
export const PG_URL: string = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

function decodeUser(text: string): User {
  const v = exactSerializer.decode(text)
  if (typeof v !== 'object' || v === null || !('id' in v) || !('name' in v)) {
    throw new Error(`not a user row: ${text.slice(0, 80)}`)
  }
  const { id, name } = v
  if (typeof id !== 'number' || typeof name !== 'string')
    throw new Error(`not a user row: ${text.slice(0, 80)}`)
  return { ...v, id, name }
}

/** Opens the database in a new schema `name` (created, seeded with `seed`), dropped by `close()`. */
export async function openDatabase(schema: string, seed: readonly User[] = []): Promise<Database> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new TypeError(`bad schema name ${schema}`)
  const pool = new pg.Pool({ connectionString: PG_URL, max: 4 })
  pool.on('error', () => {})
  const t = `"${schema}".users`
  await pool.query(`CREATE SCHEMA "${schema}"`)
  await pool.query(
    `CREATE TABLE ${t} (key text PRIMARY KEY, value text NOT NULL, version bigint NOT NULL, deleted boolean NOT NULL)`,
  )
  for (const u of seed) {
    await pool.query(`INSERT INTO ${t} (key, value, version, deleted) VALUES ($1, $2, 0, false)`, [
      `user:${u.id}`,
      exactSerializer.encode(u),
    ])
  }
  const counts: DbCounts = { findUser: 0, findUsers: 0, findUsersKeys: 0, writes: 0, applied: 0 }
  const write = async (sql: string, params: unknown[]): Promise<boolean> => {
    counts.writes++
    const r = await pool.query(sql, params)
    const applied = (r.rowCount ?? 0) > 0
    if (applied) counts.applied++
    return applied
  }
  return {
    schema,
    counts,
    async findUser(id, { signal }) {
      counts.findUser++
      signal.throwIfAborted()
      const r = await pool.query(`SELECT value FROM ${t} WHERE key = $1 AND NOT deleted`, [`user:${id}`])
      const row = r.rows[0] as { value: string } | undefined
      return row === undefined ? null : decodeUser(row.value)
    },
    async findUsers(keys) {
      counts.findUsers++
      counts.findUsersKeys += keys.length
      const r = await pool.query(`SELECT key, value FROM ${t} WHERE key = ANY($1::text[]) AND NOT deleted`, [
        [...keys],
      ])
      return new Map(
        (r.rows as Array<{ key: string; value: string }>).map((row) => [row.key, decodeUser(row.value)]),
      )
    },
    upsertUser(key, value, version) {
      // the invalidation README's SQL: a versioned write applies only above the version held (a removal keeps
      // its version as a tombstone row); an unversioned one (delete-on-update, write-through) applies as it is
      return version === undefined
        ? write(
            `INSERT INTO ${t} AS t (key, value, version, deleted) VALUES ($1, $2, 0, false)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, deleted = false`,
            [key, exactSerializer.encode(value)],
          )
        : write(
            `INSERT INTO ${t} AS t (key, value, version, deleted) VALUES ($1, $2, $3, false)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = excluded.version, deleted = false
             WHERE t.version < excluded.version`,
            [key, exactSerializer.encode(value), version],
          )
    },
    deleteUser(key, version) {
      return version === undefined
        ? write(
            `INSERT INTO ${t} AS t (key, value, version, deleted) VALUES ($1, 'null', 0, true)
             ON CONFLICT (key) DO UPDATE SET deleted = true`,
            [key],
          )
        : write(
            `INSERT INTO ${t} AS t (key, value, version, deleted) VALUES ($1, 'null', $2, true)
             ON CONFLICT (key) DO UPDATE SET version = excluded.version, deleted = true
             WHERE t.version < excluded.version`,
            [key, version],
          )
    },
    async peek(key) {
      const r = await pool.query(`SELECT value FROM ${t} WHERE key = $1 AND NOT deleted`, [key])
      const row = r.rows[0] as { value: string } | undefined
      return row === undefined ? undefined : exactSerializer.decode(row.value)
    },
    async versionOf(key) {
      const r = await pool.query(`SELECT version FROM ${t} WHERE key = $1`, [key])
      const row = r.rows[0] as { version: string } | undefined
      return row === undefined ? undefined : Number(row.version)
    },
    async close() {
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {})
      await pool.end()
    },
  }
}
