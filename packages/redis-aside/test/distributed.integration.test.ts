import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eventually, startTopology, TOPOLOGIES, type Topology, uniqueNs } from './helpers.js'
import { WorkerProcess } from './worker.js'

interface WorkerResult {
  pid: number
  loaderCalls: number
  results: string[]
  n: number
}

/** A lock-worker process (test/fixtures/lock-worker.mjs). */
class Worker extends WorkerProcess {
  constructor() {
    super('lock-worker.mjs')
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
      await sleep(100)
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
