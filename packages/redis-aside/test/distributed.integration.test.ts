import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eventually, startTopology, TOPOLOGIES, type Topology, uniqueNs } from './helpers.js'

const here = dirname(fileURLToPath(import.meta.url))
const workerFile = join(here, 'fixtures', 'lock-worker.mjs')
const pkg = join(here, '..')

/** The built entry when it is newer than every source file (turbo builds before testing), else the sources via tsx. */
function entry(): { args: string[]; entry: string } {
  const dist = join(pkg, 'dist', 'index.js')
  const src = join(pkg, 'src')
  const newestSrc = Math.max(...readdirSync(src).map((f) => statSync(join(src, f)).mtimeMs))
  if (existsSync(dist) && statSync(dist).mtimeMs >= newestSrc)
    return { args: [], entry: pathToFileURL(dist).href }
  return { args: ['--import', 'tsx'], entry: pathToFileURL(join(src, 'index.ts')).href }
}

interface WorkerResult {
  pid: number
  loaderCalls: number
  results: string[]
  n: number
}

/** A worker process; `next()` resolves with its next stdout line. */
class Worker {
  readonly child: ChildProcessWithoutNullStreams
  private buffer = ''
  private readonly lines: string[] = []
  private waiting: ((line: string) => void) | undefined
  private stderr = ''

  constructor() {
    const env: NodeJS.ProcessEnv = {}
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VITEST')) env[k] = v
    const { args, entry: e } = entry()
    env.RA_ENTRY = e
    this.child = spawn(process.execPath, [...args, workerFile], { cwd: pkg, env })
    this.child.stderr.on('data', (d: Buffer) => {
      this.stderr += d.toString()
    })
    this.child.stdout.on('data', (d: Buffer) => {
      this.buffer += d.toString()
      let nl = this.buffer.indexOf('\n')
      while (nl >= 0) {
        const line = this.buffer.slice(0, nl)
        this.buffer = this.buffer.slice(nl + 1)
        if (this.waiting) {
          const w = this.waiting
          this.waiting = undefined
          w(line)
        } else {
          this.lines.push(line)
        }
        nl = this.buffer.indexOf('\n')
      }
    })
  }

  next(): Promise<string> {
    const line = this.lines.shift()
    if (line !== undefined) return Promise.resolve(line)
    return new Promise((resolve, reject) => {
      this.waiting = resolve
      this.child.once('exit', (code) => reject(new Error(`worker exited (${code}): ${this.stderr}`)))
    })
  }

  send(line: string): void {
    this.child.stdin.write(`${line}\n`)
  }
}

let workers: Worker[] = []
beforeAll(async () => {
  workers = Array.from({ length: 4 }, () => new Worker())
  expect(await Promise.all(workers.map((w) => w.next()))).toEqual(['ready', 'ready', 'ready', 'ready'])
}, 60_000)
afterAll(() => {
  for (const w of workers) w.child.kill('SIGKILL')
})

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
    const prep = JSON.stringify({ topology, nodes: t.nodes(), namespace: ns, key: 'hot-key', calls: 250 })
    for (const w of workers) w.send(`prep ${prep}`)
    expect(await Promise.all(workers.map((w) => w.next()))).toEqual([
      'prepared',
      'prepared',
      'prepared',
      'prepared',
    ])
    for (const w of workers) w.send('go')
    const results = (await Promise.all(workers.map((w) => w.next()))).map(
      (l) => JSON.parse(l) as WorkerResult,
    )
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
  }, 60_000)

  it('when the lease holder dies mid-load, one follower takes over after the lease and loads once', async () => {
    const ns = uniqueNs('takeover')
    const prep = JSON.stringify({ topology, nodes: t.nodes(), namespace: ns, key: 'hot-key', calls: 100 })
    const doomed = new Worker()
    try {
      expect(await doomed.next()).toBe('ready')
      for (const w of [doomed, ...workers]) w.send(`prep ${prep}`)
      expect(await Promise.all([doomed, ...workers].map((w) => w.next()))).toEqual(Array(5).fill('prepared'))
      const redis = t.client()
      doomed.send('go-hang') // takes the lease and hangs in its loader
      await eventually(async () => (await redis.get(`loader-calls:${ns}`)) === '1')
      for (const w of workers) w.send('go') // followers: they wait on the lease holder
      await new Promise((r) => setTimeout(r, 100))
      doomed.child.kill('SIGKILL') // the holder dies without releasing: its lease (1 s) must expire
      const results = (await Promise.all(workers.map((w) => w.next()))).map(
        (l) => JSON.parse(l) as WorkerResult,
      )
      expect(results.map((r) => r.loaderCalls).reduce((a, b) => a + b, 0)).toBe(1)
      expect(await redis.get(`loader-calls:${ns}`)).toBe('2') // the dead holder's call + one takeover
      redis.disconnect()
      const values = new Set(results.flatMap((r) => r.results))
      expect(values.size).toBe(1)
      expect(results.map((r) => r.n)).toEqual([100, 100, 100, 100])
    } finally {
      doomed.child.kill('SIGKILL')
    }
  }, 60_000)
})
