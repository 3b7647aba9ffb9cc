import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { json, SMALL_SEED, type TestDb, testDb, until } from './helpers.js'

const BUILT = fileURLToPath(new URL('../dist/cli.js', import.meta.url))
let db: TestDb | undefined
afterAll(async () => {
  await db?.drop()
})

describe('the build (turbo builds before testing)', () => {
  it('node dist/cli.js serves, runs the report on dist/tasks.js threads (no tsx), stops on SIGTERM', async () => {
    if (!existsSync(BUILT))
      throw new Error('dist/cli.js is missing: run pnpm --filter @tierkit/demo build first')
    db = testDb('sqlite')
    const p = spawn(process.execPath, [BUILT], {
      env: {
        ...process.env,
        ...db.env,
        ...SMALL_SEED,
        PORT: '0',
        DEMO_REDIS: 'off',
        REDIS_URL: '',
        WORKER_THREADS: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    p.stdout.on('data', (d) => {
      out += d
    })
    p.stderr.on('data', (d) => {
      out += d
    })
    const exit = new Promise<number | null>((r) => p.once('exit', (c) => r(c)))
    try {
      await until(() => /listening on (http:\/\/\S+)/.test(out), 'the built demo to listen', 60_000)
      const url = /listening on (http:\/\/\S+)/.exec(out)![1]!
      const r = await json(`${url}/api/reports/price-stats`, { method: 'POST', body: { resamples: 10 } })
      expect(r.status, out).toBe(200)
      expect(r.body.categories.at(-1)).toMatchObject({ category: 'all', count: 2000 })
      expect(out).toContain('redis: none (DEMO_REDIS=off): running with the in-process L1 cache only')
    } finally {
      p.kill('SIGTERM')
    }
    expect(await exit).toBe(0)
  })
})
