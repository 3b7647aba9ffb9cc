/**
 * Write-behind after Redis lost the queue (FLUSHALL, or a restart without persistence): every write
 * acknowledged after the loss must be applied (issue 15, defect 1). Writes acknowledged just before the loss
 * are lost with Redis: an acknowledgement is as durable as Redis' persistence.
 */

import { setTimeout as sleep } from 'node:timers/promises'
import { type RedisServer, startRedis } from '@tierkit/testkit'
import type { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { createFlusher, type FlusherEvent, queueKeys, writeBehind } from '../src/index.js'
import { adminClient, redisClient } from './helpers/clients.js'
import { MemoryStore } from './helpers/memory-store.js'

const closers: Array<() => Promise<unknown>> = []
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => {})
})

function client(server: RedisServer): Redis {
  const r = redisClient(server.url, { maxRetriesPerRequest: 1 })
  r.on('error', () => {})
  closers.push(async () => r.disconnect())
  return r
}

/** The client of the test's own doings (FLUSHALL, the server clock): the admin connection in the secure run. */
function adminOf(server: RedisServer): Redis {
  const r = adminClient(server.url, { maxRetriesPerRequest: 1 })
  r.on('error', () => {})
  closers.push(async () => r.disconnect())
  return r
}

/** Writes `n` values to 20 keys (retrying a write Redis refused while it restarts); returns the last value per key. */
async function writeMany(
  wb: ReturnType<typeof writeBehind<number>>,
  from: number,
  n: number,
): Promise<Map<string, { value: number; version: number }>> {
  const last = new Map<string, { value: number; version: number }>()
  for (let i = from; i < from + n; i++) {
    const key = `k${i % 20}`
    for (let attempt = 0; ; attempt++) {
      try {
        const { version } = await wb.write(key, i)
        last.set(key, { value: i, version })
        break
      } catch (e) {
        if (attempt >= 100 || (e as { code?: string }).code !== 'E_QUEUE_WRITE_FAILED') throw e
        await sleep(50)
      }
    }
  }
  return last
}

function expectApplied(store: MemoryStore<number>, last: Map<string, { value: number; version: number }>) {
  const wrong = [...last].filter(([k, w]) => {
    const row = store.rows.get(k)
    return row?.value !== w.value || row.version !== w.version
  })
  expect(wrong).toEqual([])
  expect(last.size).toBe(20)
}

describe('write-behind after Redis lost the queue', () => {
  it('FLUSHALL: the flusher re-creates its consumer group and applies every write acknowledged afterwards', async () => {
    const server = await startRedis()
    const redis = client(server)
    const admin = adminOf(server)
    const store = new MemoryStore<number>()
    const events: FlusherEvent[] = []
    const wb = writeBehind<number>({ redis, name: 'rq1' })
    const flusher = createFlusher({
      redis,
      name: 'rq1',
      store,
      pollInterval: 50,
      onEvent: (e) => events.push(e),
    })
    closers.push(() => flusher.close({ timeout: 5_000 }))
    const before = await writeMany(wb, 0, 40)
    await wb.flush({ timeout: 10_000 })
    expectApplied(store, before)

    await admin.flushall()
    const after = await writeMany(wb, 1000, 100)
    // bounded: before the fix this ended in E_FLUSH_TIMEOUT with NOGROUP errors repeating
    await wb.flush({ timeout: 15_000 })
    expectApplied(store, after)
    expect(await admin.xlen(queueKeys('rq1').stream)).toBe(0)
    // the flusher did see the loss (NOGROUP) and got over it
    expect(events.filter((e) => e.type === 'error').length).toBeGreaterThan(0)
  })

  it('a restart without persistence: same, for writes acknowledged after Redis came back', async () => {
    const server = await startRedis()
    const redis = client(server)
    const store = new MemoryStore<number>()
    const wb = writeBehind<number>({ redis, name: 'rq2' })
    const flusher = createFlusher({ redis, name: 'rq2', store, pollInterval: 50 })
    closers.push(() => flusher.close({ timeout: 5_000 }))
    const before = await writeMany(wb, 0, 40)
    await wb.flush({ timeout: 10_000 })
    expectApplied(store, before)

    await server.restart() // no AOF, no RDB: the stream, its group, the version counter and the guards are gone
    const after = await writeMany(wb, 1000, 100)
    await wb.flush({ timeout: 15_000 })
    expectApplied(store, after)
  })

  it('the lost version counter: versions handed out afterwards stay above the applied ones, even with the clock behind', async () => {
    const server = await startRedis()
    const redis = client(server)
    const admin = adminOf(server)
    const store = new MemoryStore<number>()
    const wb = writeBehind<number>({ redis, name: 'rq3' })
    const first = createFlusher({ redis, name: 'rq3', store, pollInterval: 50 })
    // the versions handed out so far came from a server whose clock was an hour ahead of this one's
    // (a restart on another host, a failover): what Redis loses, the next versions must still exceed
    const [sec] = await admin.time()
    await admin.set(queueKeys('rq3').seq, String((Number(sec) + 3600) * 1_000_000))
    const before = await writeMany(wb, 0, 40)
    await first.close({ timeout: 10_000 })
    expectApplied(store, before)
    const maxBefore = Math.max(...[...before.values()].map((w) => w.version))

    await admin.flushall() // no flusher runs now: nothing but the writer can keep its versions growing
    const versions: number[] = []
    const after = new Map<string, { value: number; version: number }>()
    for (let i = 1000; i < 1100; i++) {
      const { version } = await wb.write(`k${i % 20}`, i)
      versions.push(version)
      after.set(`k${i % 20}`, { value: i, version })
    }
    expect(versions.filter((v) => v <= maxBefore)).toEqual([])
    const second = createFlusher({ redis, name: 'rq3', store, pollInterval: 50 })
    closers.push(() => second.close({ timeout: 5_000 }))
    await wb.flush({ timeout: 15_000 })
    // a Store that honours versions refuses a lower one: before the fix the database kept the old values
    expectApplied(store, after)
  })
})
