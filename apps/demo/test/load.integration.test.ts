import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { TABLE_HEADER, type TableRow } from '../src/load-table.js'
import { SMALL_SEED } from './helpers.js'

const LOAD = fileURLToPath(new URL('../src/load-cli.ts', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'tierkit-demo-load-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function run(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', LOAD, ...args], {
      env: {
        ...process.env,
        ...SMALL_SEED,
        SQLITE_PATH: join(dir, 'demo.sqlite'),
        WORKER_THREADS: '1',
        REDIS_URL: '',
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
    p.on('exit', (code) => resolve({ code, out }))
  })
}

describe('the load generator (pnpm demo:load)', () => {
  it('--chaos: Redis stopped and restarted mid-run, zero failed requests, the circuit opened and closed; table + JSON report', async () => {
    const report = join(dir, 'chaos.json')
    const { code, out } = await run([
      '--chaos',
      // short: it asserts behaviour (no failure, the circuit opens and closes), not speed. Redis stops at 2.7 s and
      // starts at 5.3 s; the breaker half-opens every 2 s, so it has closed again before the end at 8 s
      '--duration',
      '8',
      '--warmup',
      '0',
      '--connections',
      '4',
      '--out',
      report,
    ])
    expect(code, out).toBe(0)
    expect(out).toContain(TABLE_HEADER)
    expect(out).toMatch(/\| L1 \| \d+\.\d% \|/)
    const r = JSON.parse(readFileSync(report, 'utf8'))
    expect(r.requests).toBeGreaterThan(100)
    expect(r.failed).toEqual({ errors: 0, timeouts: 0, non2xx: 0, total: 0 })
    expect(r.chaos.map((c: { event: string }) => c.event)).toEqual(['redis stopped', 'redis started'])
    const states = r.circuit.map((c: { state: string }) => c.state)
    expect(states).toContain('open')
    expect(states.lastIndexOf('closed')).toBeGreaterThan(states.indexOf('open'))
    expect(r.layers.map((l: { layer: string }) => l.layer)).toEqual(['cdn', 'l1', 'l2', 'db'])
    expect(r.layers[1].hits + r.layers[1].misses).toBeGreaterThan(0)
  })

  const row = (table: TableRow[], layer: string): TableRow => table.find((t) => t.layer === layer)!
  /** Every layer shows a positive reduction, or says why not. */
  const honest = (t: TableRow): boolean =>
    (t.reduction !== null && t.reduction > 0) ||
    /not in this run|does not pay on this machine|no cache makes the database itself faster/.test(t.note)

  it('by default: two instances, a 15 ms database, a no-cache run of the same requests, the reduction from both runs', async () => {
    const report = join(dir, 'default.json')
    const { code, out } = await run([
      '--requests',
      '600',
      '--warmup-requests',
      '200',
      '--connections',
      '4',
      '--out',
      report,
    ])
    expect(code, out).toBe(0)
    expect(out).toContain(TABLE_HEADER)
    expect(out).not.toContain('socket hang up')
    const r = JSON.parse(readFileSync(report, 'utf8'))
    // the same requests twice: caches off, then on; two instances behind both
    expect([r.cache, r.baseline.cache]).toEqual(['on', 'off'])
    expect([r.instances, r.baseline.instances]).toEqual([2, 2])
    expect(r.requests).toBe(600)
    expect(r.baseline.requests).toBe(r.requests)
    expect(r.failed.total + r.baseline.failed.total).toBe(0)
    expect(r.db).toEqual({ kind: 'sqlite', latencyMs: 15 })
    const table: TableRow[] = r.table
    expect(table.map((t) => t.layer)).toEqual(['cdn', 'l1', 'l2', 'db', 'listing', 'client'])
    // the category listings of the mix: their own row, against the same listings without caches
    expect(r.listing.count).toBeGreaterThan(0)
    expect(r.baseline.listing.count).toBeGreaterThan(0)
    expect(r.listing.non200 + r.baseline.listing.non200).toBe(0)
    expect(row(table, 'listing').reduction).toBeCloseTo(
      1 - r.listing.sumMs / r.listing.count / (r.baseline.listing.sumMs / r.baseline.listing.count),
      9,
    )
    expect(row(table, 'db').note).toContain('simulated delay 15 ms (DB_LATENCY_MS) + a real SQLite query')
    // L2 serves what the other instance loaded; its latency is Redis time, the app's wait shown apart
    const l2 = r.layers.find((l: { layer: string }) => l.layer === 'l2')
    expect(l2.hits).toBeGreaterThan(0)
    expect(r.redisTime.calls).toBeGreaterThan(0)
    expect(row(table, 'l2').avgMs).toBe(r.redisTime.avgMs)
    expect(row(table, 'l2').note).toMatch(/Redis time .*the app waited .*event-loop delay/)
    expect(row(table, 'l2').note).toContain('what the other of 2 instances loaded')
    // the reductions come from the two runs
    const d0 = r.baseline.layers.find((l: { layer: string }) => l.layer === 'db').avgMs
    const l1 = r.layers.find((l: { layer: string }) => l.layer === 'l1')
    expect(row(table, 'l1').noCacheMs).toBe(d0)
    expect(row(table, 'l1').reduction).toBeCloseTo(1 - l1.avgMs / d0, 9)
    expect(row(table, 'l2').reduction).toBeCloseTo(1 - (l1.avgMs + l2.avgMs) / d0, 9)
    expect(row(table, 'client').reduction).toBeCloseTo(1 - r.client.avgMs / r.baseline.client.avgMs, 9)
    // the db layer counts hits and misses; the caches took reads off the database
    const db = r.layers.find((l: { layer: string }) => l.layer === 'db')
    const baseDb = r.baseline.layers.find((l: { layer: string }) => l.layer === 'db')
    expect(row(table, 'db').hitRate).toBe(db.hits / (db.hits + db.misses))
    expect(db.hits + db.misses).toBeLessThan(baseDb.hits + baseDb.misses)
    expect(row(table, 'cdn').note).toContain('not in this run')
    for (const t of table) expect(honest(t), `${t.layer}: ${t.note}`).toBe(true)
  })

  it('--cdn: the CDN row judged against the same caches without nginx; no "socket hang up" at shutdown', async () => {
    const report = join(dir, 'cdn.json')
    const { code, out } = await run([
      '--cdn',
      '--requests',
      '400',
      '--warmup-requests',
      '200',
      '--connections',
      '4',
      '--out',
      report,
    ])
    expect(code, out).toBe(0)
    expect(out).not.toContain('socket hang up')
    expect(out).not.toContain('"level":50')
    const r = JSON.parse(readFileSync(report, 'utf8'))
    expect(r.direct.requests).toBe(r.requests)
    expect(r.cdn.hit + r.cdn.miss).toBeGreaterThan(0)
    const cdn = row(r.table, 'cdn')
    expect(cdn.note).toMatch(/(^|; )(pays|does not pay on this machine)/)
    expect(cdn.reduction).toBeCloseTo(
      1 - r.clientByCdn.hit.sumMs / r.clientByCdn.hit.count / r.baseline.client.avgMs,
      9,
    )
    for (const t of r.table) expect(honest(t), `${t.layer}: ${t.note}`).toBe(true)
  })
})
