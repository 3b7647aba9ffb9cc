import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, describe, expect, test } from 'vitest'
import { createPool, type PoolStats, type WorkerPool } from '../src/index.js'
import { expectNoProcessErrors, Gate, rejection, TASKS_JS, type Tasks } from './helpers.js'

expectNoProcessErrors()

const pools: WorkerPool<Tasks>[] = []
function pool(maxThreads: number): WorkerPool<Tasks> {
  const p = createPool<Tasks>({ tasks: TASKS_JS, minThreads: 1, maxThreads })
  pools.push(p)
  return p
}
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.destroy()))
})

/** The documented formula: utilization between two snapshots. */
function intervalUtilization(a: PoolStats, b: PoolStats): number {
  return (b.busyTime - a.busyTime) / ((b.uptime - a.uptime) * b.maxThreads)
}

/** The invariants every snapshot keeps, and between two snapshots in order. */
function expectConsistent(a: PoolStats, b: PoolStats): void {
  for (const s of [a, b]) {
    expect(s.busyTime).toBeGreaterThanOrEqual(0)
    expect(s.uptime).toBeGreaterThanOrEqual(0)
    expect(s.busyTime).toBeLessThanOrEqual(s.uptime * s.maxThreads)
  }
  expect(b.busyTime).toBeGreaterThanOrEqual(a.busyTime)
  expect(b.uptime).toBeGreaterThanOrEqual(a.uptime)
  expect(b.createdAt).toBe(a.createdAt)
  expect(b.maxThreads).toBe(a.maxThreads)
}

describe('stats(): busyTime, createdAt, uptime', () => {
  test('a new pool: createdAt is its creation time, nothing busy yet', () => {
    const before = Date.now()
    const p = pool(2)
    const after = Date.now()
    const s = p.stats()
    expect(s.createdAt).toBeGreaterThanOrEqual(before)
    expect(s.createdAt).toBeLessThanOrEqual(after)
    expect(s.busyTime).toBe(0)
    expect(s.maxThreads).toBe(2)
    expect(s.uptime).toBeGreaterThanOrEqual(0)
    expect(s.utilization).toBe(0)
  })

  test('grows monotonically while tasks run, fail and queue, and stays within uptime x maxThreads', async () => {
    const p = pool(2)
    const snapshots: PoolStats[] = [p.stats()]
    const sampler = setInterval(() => snapshots.push(p.stats()), 2)
    try {
      const work = p.map(
        'sumSquares',
        Array.from({ length: 24 }, () => 300_000),
      )
      const failures = [
        rejection(p.run('throwValidation', 'x')),
        rejection(p.run('hang', undefined, { timeout: 20 })),
      ]
      await work
      await Promise.all(failures)
    } finally {
      clearInterval(sampler)
    }
    snapshots.push(p.stats())
    expect(snapshots.length).toBeGreaterThan(2)
    for (let i = 1; i < snapshots.length; i++) expectConsistent(snapshots[i - 1]!, snapshots[i]!)
    const last = snapshots.at(-1)!
    expect(last.busyTime).toBeGreaterThan(0)
    expect(last).toMatchObject({ completed: 24, failed: 2, running: 0 })
    // idle now: the busy time stops growing while the uptime goes on
    await sleep(10)
    const idle = p.stats()
    expectConsistent(last, idle)
    expect(idle.busyTime).toBe(last.busyTime)
    expect(idle.uptime).toBeGreaterThan(last.uptime)
  })

  test('the busy time of a task that held its thread covers the time it was seen holding it', async () => {
    const p = pool(1)
    await p.run('ping') // the thread is up
    const gate = new Gate()
    const before = p.stats()
    const t0 = performance.now()
    const task = p.run('gate', gate.view)
    await gate.started()
    const startedSeen = performance.now()
    await sleep(30)
    const during = p.stats()
    const openAt = performance.now()
    gate.open()
    expect(await task).toBe(1)
    const t1 = performance.now()
    const after = p.stats()
    expectConsistent(before, during)
    expectConsistent(during, after)
    // counted while still running
    expect(during.running).toBe(1)
    expect(during.busyTime).toBeGreaterThan(before.busyTime)
    // the task was on its thread at least from when it was seen started until the gate opened, and at most
    // from before run() until run() settled: the busy time added lies between the two (no timing threshold)
    const added = after.busyTime - before.busyTime
    expect(added).toBeGreaterThanOrEqual(openAt - startedSeen)
    expect(added).toBeLessThanOrEqual(t1 - t0)
  })

  test('interval utilization from two snapshots: one of two threads held all along is exactly 0.5', async () => {
    const p = pool(2)
    await p.run('ping')
    const gate = new Gate()
    const task = p.run('gate', gate.view)
    await gate.started()
    const a = p.stats()
    await sleep(20)
    const b = p.stats()
    gate.open()
    await task
    expectConsistent(a, b)
    // the held task is the only one running between a and b: busy grew exactly as fast as the uptime
    expect(b.busyTime - a.busyTime).toBeCloseTo(b.uptime - a.uptime, 6)
    expect(intervalUtilization(a, b)).toBeCloseTo(0.5, 6)
    // idle afterwards: the next interval is 0 whatever the lifetime average says
    const c = p.stats()
    await sleep(10)
    const d = p.stats()
    expect(intervalUtilization(c, d)).toBe(0)
    expect(d.utilization).toBeGreaterThan(0)
  })

  test('a destroyed pool keeps consistent figures (running tasks stop counting)', async () => {
    const p = pool(1)
    const gate = new Gate()
    const task = rejection(p.run('gate', gate.view))
    await gate.started()
    const a = p.stats()
    await p.destroy()
    expect((await task).code).toBe('E_POOL_DESTROYED')
    const b = p.stats()
    await sleep(10)
    const c = p.stats()
    expectConsistent(a, b)
    expectConsistent(b, c)
    expect(c.busyTime).toBe(b.busyTime)
  })
})
