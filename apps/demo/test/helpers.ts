import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { createDemo, type Demo } from '../src/app.js'
import { type DemoConfig, loadConfig } from '../src/config.js'

/** PostgreSQL of the machine (`.ci/run` makes sure it answers): DATABASE_URL, else the CI default. */
export const PG_URL: string =
  process.env.DATABASE_URL ?? process.env.TIERKIT_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

export type DbKind = 'sqlite' | 'postgres'

/** A database for one test file: a temp SQLite file, or a uniquely named PostgreSQL schema dropped at the end. */
export interface TestDb {
  env: Record<string, string>
  drop(): Promise<void>
}

export function testDb(kind: DbKind): TestDb {
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'tierkit-demo-test-'))
    return {
      env: { SQLITE_PATH: join(dir, 'demo.sqlite') },
      async drop() {
        rmSync(dir, { recursive: true, force: true })
      },
    }
  }
  const schema = `demo_test_${process.pid}_${randomBytes(4).toString('hex')}`
  return {
    env: { DATABASE_URL: PG_URL, DATABASE_SCHEMA: schema },
    async drop() {
      const c = new pg.Client({ connectionString: PG_URL })
      await c.connect()
      try {
        await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
      } finally {
        await c.end()
      }
    },
  }
}

/** Small seeds keep the suites fast; the full 100,000 / 10,000 seed has its own test. */
export const SMALL_SEED = { SEED_PRODUCTS: '2000', SEED_USERS: '200' }

export function testConfig(env: Record<string, string>): DemoConfig {
  return loadConfig({ PORT: '0', LOG_LEVEL: 'silent', WORKER_THREADS: '1', ...SMALL_SEED, ...env })
}

export async function startDemo(env: Record<string, string>): Promise<Demo> {
  return createDemo(testConfig(env), { log: () => {} })
}

/** fetch with a JSON body helper. */
export async function json(
  url: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
  // biome-ignore lint/suspicious/noExplicitAny: JSON bodies of many shapes; the assertions check them
): Promise<{ status: number; headers: Headers; body: any }> {
  const res = await fetch(url, {
    method: init.method ?? 'GET',
    headers: { ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}), ...init.headers },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  })
  const text = await res.text()
  let body: unknown = text
  try {
    body = text === '' ? undefined : JSON.parse(text)
  } catch {
    // not JSON
  }
  return { status: res.status, headers: res.headers, body }
}

export async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}
