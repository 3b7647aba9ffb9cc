import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startRedis } from '@tierkit/testkit'
import pg from 'pg'
import { expect, vi } from 'vitest'
import { createDemo, type Demo, type DemoOptions } from '../src/app.js'
import { type Cdn, startCdn } from '../src/cdn.js'
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
      env: { SQLITE_PATH: join(dir, 'demo.sqlite'), DATABASE_URL: '' },
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

export async function startDemo(env: Record<string, string>, options: DemoOptions = {}): Promise<Demo> {
  return createDemo(testConfig(env), { log: () => {}, ...options })
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

/** Waits until `check` holds (`vi.waitFor`, polled every 50 ms): events, not time; the timeout only stops a hang. */
export function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  return vi.waitFor(async () => expect(await check(), `waiting for ${what}`).toBe(true), {
    timeout: timeoutMs,
    interval: 50,
  })
}

/** The demo's CLI run as a real process (through tsx), its output collected. */
export interface CliProcess {
  readonly proc: ChildProcess
  /** Everything printed so far (stdout and stderr). */
  output(): string
  /** Resolves with the exit code (or the signal) once the process is gone. */
  readonly exited: Promise<number | string | null>
  /** Waits for `re` in the output and returns its matches (all of them with the `g` flag). */
  waitFor(re: RegExp, what: string, timeoutMs?: number): Promise<RegExpMatchArray[]>
}

export const CLI_PATH: string = new URL('../src/cli.ts', import.meta.url).pathname

export function spawnCli(args: string[], env: Record<string, string>): CliProcess {
  const proc = spawn(process.execPath, ['--import', 'tsx', CLI_PATH, ...args], {
    env: { ...process.env, ...SMALL_SEED, PORT: '0', LOG_LEVEL: 'silent', WORKER_THREADS: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  proc.stdout!.on('data', (d) => {
    out += d
  })
  proc.stderr!.on('data', (d) => {
    out += d
  })
  const exited = new Promise<number | string | null>((r) =>
    proc.once('exit', (code, signal) => r(code ?? signal)),
  )
  return {
    proc,
    output: () => out,
    exited,
    async waitFor(re, what, timeoutMs = 60_000) {
      const all = (): RegExpMatchArray[] =>
        re.global ? [...out.matchAll(re)] : re.test(out) ? [re.exec(out)!] : []
      await until(() => all().length > 0 || proc.exitCode !== null, what, timeoutMs)
      const m = all()
      if (m.length === 0) throw new Error(`the demo exited before ${what}:\n${out}`)
      return m
    },
  }
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
export function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port })
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}

/** A demo on SQLite and its own Redis, behind nginx (`--cdn`). */
export interface DemoBehindCdn {
  db: TestDb
  demo: Demo
  cdn: Cdn
  /** Stops nginx, the demo and Redis, and drops the database (whatever of them started). */
  close(): Promise<void>
}

/**
 * Starts a demo behind nginx (`{ cdn: true }`: its tags have a CDN layer); `purge`: the demo purges through that
 * nginx (its `setPurger`; else a tag purge fails, reason `unavailable`, until the test sets one).
 */
export async function startDemoBehindCdn(options: { purge: boolean }): Promise<DemoBehindCdn> {
  const redis = await startRedis()
  const db = testDb('sqlite')
  let demo: Demo | undefined
  let cdn: Cdn | undefined
  const close = async (): Promise<void> => {
    await cdn?.close()
    await demo?.close()
    await db.drop()
    await redis.stop()
  }
  try {
    demo = await startDemo({ ...db.env, REDIS_URL: redis.url }, { cdn: true })
    cdn = await startCdn({ upstreams: [demo.url], metrics: demo.metrics })
    if (options.purge) demo.setPurger(cdn)
    return { db, demo, cdn, close }
  } catch (err) {
    await close()
    throw err
  }
}
