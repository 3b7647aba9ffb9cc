import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
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
    expect(out).toContain('| Layer | Hit Rate | Avg Latency | p99 |')
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
})
