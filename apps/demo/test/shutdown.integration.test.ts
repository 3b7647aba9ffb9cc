import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { startRedis } from '@tierkit/testkit'
import { afterAll, describe, expect, it } from 'vitest'
import { openSqliteStore } from '../src/db/sqlite.js'
import { answers, SMALL_SEED, spawnCli, type TestDb, testDb, until } from './helpers.js'

const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url))
let child: ChildProcess | undefined
let db: TestDb | undefined
afterAll(async () => {
  child?.kill('SIGKILL')
  await db?.drop()
})

describe('graceful shutdown on SIGTERM', () => {
  it('finishes in-flight requests, flushes write-behind, exits 0: every acknowledged view is in the database', async () => {
    const redis = await startRedis()
    db = testDb('sqlite')
    const proc = spawn(process.execPath, ['--import', 'tsx', CLI], {
      env: {
        ...process.env,
        ...db.env,
        ...SMALL_SEED,
        REDIS_URL: redis.url,
        PORT: '0',
        LOG_LEVEL: 'silent',
        WORKER_THREADS: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    child = proc
    let out = ''
    proc.stdout!.on('data', (d) => {
      out += d
    })
    proc.stderr!.on('data', (d) => {
      out += d
    })
    const exit = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)))
    await until(() => /listening on (http:\/\/\S+)/.test(out), 'the demo to listen', 60_000)
    const url = /listening on (http:\/\/\S+)/.exec(out)![1]!

    const acked: number[] = []
    let refused = 0
    const other: number[] = []
    const t0 = Date.now()
    const log = (what: string): void => {
      if (process.env.DEMO_TEST_DEBUG) console.log(`${Date.now() - t0} ms: ${what}`)
    }
    const one = async (): Promise<void> => {
      try {
        const r = await fetch(`${url}/api/products/50/views`, { method: 'POST' })
        const body = (await r.json()) as { views: number }
        if (r.status === 202) acked.push(body.views)
        else if (r.status === 503)
          refused++ // arrived while closing: refused, not acknowledged
        else other.push(r.status)
      } catch {
        refused++ // the server stopped accepting: not acknowledged
      }
    }
    // 8 concurrent clients; SIGTERM once some views are acknowledged, while requests are in flight
    let stop = false
    const clients = Array.from({ length: 8 }, async () => {
      while (!stop) await one()
    })
    log('listening')
    await until(() => acked.length >= 40, '40 acknowledged views')
    log('40 acknowledged')
    proc.kill('SIGTERM')
    setTimeout(() => {
      stop = true
    }, 300)
    await Promise.all(clients)
    log(`clients stopped (${acked.length} acknowledged, ${refused} refused while closing)`)
    expect(await exit).toBe(0)
    log('exited')
    expect(out).toContain('SIGTERM: shutting down gracefully')
    expect(other).toEqual([]) // no request failed with an error status: answered, or refused once closing
    expect(acked.length).toBeGreaterThanOrEqual(40)
    const store = openSqliteStore(db.env.SQLITE_PATH!)
    try {
      // counts are absolute and versioned: the database holds the last acknowledged one
      expect(await store.getViews(50)).toBe(Math.max(...acked))
      expect(new Set(acked).size).toBe(acked.length)
    } finally {
      await store.close()
    }
    await redis.stop()
  })
})

describe('a SIGKILLed demo does not orphan the redis-server it started', () => {
  it('the watchdog stops the server (its port stops answering) and removes its data dir', async () => {
    const kdb = testDb('sqlite')
    const cli = spawnCli([], { ...kdb.env, DEMO_REDIS: 'auto', REDIS_URL: '' })
    try {
      const port = Number(
        (
          await cli.waitFor(/started redis-server at redis:\/\/127\.0\.0\.1:(\d+)/, 'the demo to start Redis')
        )[0]![1],
      )
      await cli.waitFor(/listening on http/, 'the demo to listen')
      expect(await answers(port)).toBe(true)
      cli.proc.kill('SIGKILL')
      expect(await cli.exited).toBe('SIGKILL')
      await until(async () => !(await answers(port)), 'the redis-server to stop')
    } finally {
      cli.proc.kill('SIGKILL')
      await kdb.drop()
    }
  })
})
