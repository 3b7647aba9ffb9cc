import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTopology, TOPOLOGIES, type Topology, uniqueNs } from './helpers.js'

const here = dirname(fileURLToPath(import.meta.url))
const worker = join(here, 'fixtures', 'lock-worker.ts')

interface WorkerResult {
  pid: number
  loaderCalls: number
  results: string[]
  n: number
}

function startWorker(args: string[]) {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VITEST')) env[k] = v
  const child = spawn(process.execPath, ['--import', 'tsx', worker, ...args], {
    cwd: join(here, '..'),
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString()
  })
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      if (out.includes('ready\n')) resolve()
    })
    child.once('exit', (code) => reject(new Error(`worker exited (${code}) before ready: ${err}`)))
  })
  const done = new Promise<WorkerResult>((resolve, reject) => {
    child.once('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('{'))
      if (code !== 0 || !line) reject(new Error(`worker failed (${code}): ${err}\n${out}`))
      else resolve(JSON.parse(line) as WorkerResult)
    })
  })
  done.catch(() => {})
  return { child, ready, done }
}

describe.each(TOPOLOGIES)('distributed stampede lock on %s', (topology) => {
  let t: Topology
  beforeAll(async () => {
    t = await startTopology(topology)
  }, 60_000)
  afterAll(async () => {
    await t?.close()
  })

  it('4 processes × 250 concurrent getOrLoad of one cold key → one loader call in total', async () => {
    const ns = uniqueNs('lock')
    const workers = Array.from({ length: 4 }, () =>
      startWorker([topology, JSON.stringify(t.nodes()), ns, 'hot-key', '250']),
    )
    try {
      await Promise.all(workers.map((w) => w.ready))
      for (const w of workers) w.child.stdin.write('go\n')
      const results = await Promise.all(workers.map((w) => w.done))
      // exactly one process ran the loader, once
      expect(results.map((r) => r.loaderCalls).reduce((a, b) => a + b, 0)).toBe(1)
      const redis = t.client()
      expect(await redis.get(`loader-calls:${ns}`)).toBe('1')
      redis.disconnect()
      // all 1,000 calls got the same value, the one the loading process produced
      expect(results.map((r) => r.n)).toEqual([250, 250, 250, 250])
      const values = new Set(results.flatMap((r) => r.results))
      expect(values.size).toBe(1)
      const value = JSON.parse([...values][0]!) as { loadedBy: number }
      expect(results.map((r) => r.pid)).toContain(value.loadedBy)
    } finally {
      for (const w of workers) w.child.kill('SIGKILL')
    }
  }, 60_000)
})
