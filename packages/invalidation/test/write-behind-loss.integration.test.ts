/**
 * Write-behind without loss: real processes, a real durable Store (a PostgreSQL table that honours
 * versions), SIGKILL of the flusher process twice, and SIGKILL of the Redis server (AOF, fsync always).
 */
import { startRedis } from '@tierkit/testkit'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { QueueWriteError, queueKeys, readDeadLetters, writeBehind } from '../src/index.js'
import { type Child, spawnChild } from './helpers/child.js'
import { PgStore } from './helpers/pg-store.js'

const WRITES = 10_000
const KEYS = 1_000
const CONCURRENCY = 16

const cleanups: Array<() => Promise<unknown>> = []
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {})
})

let store: PgStore
beforeAll(async () => {
  store = await PgStore.create('wbloss')
  cleanups.push(() => store.drop())
})

/**
 * Which key write `i` goes to: the first KEYS writes cover every key once, the rest are skewed (80 % to the
 * 100 hottest keys, deterministic), so batches hold several writes of the same key and coalescing is exercised.
 */
function keyOf(i: number): string {
  if (i < KEYS) return `key:${i}`
  const x = Math.imul(i + 1, 2654435761) >>> 0
  const hot = x % 10 < 8
  return `key:${hot ? (x >>> 8) % 100 : 100 + ((x >>> 8) % (KEYS - 100))}`
}

interface Acked {
  i: number
  version: number
}

/**
 * Produces WRITES writes over KEYS keys with CONCURRENCY in flight (`throttle` is awaited before each); a
 * write that is not acknowledged is retried (same value) until it is. Returns, per key, the acknowledged write with the highest version.
 */
async function produce(
  wb: ReturnType<typeof writeBehind<{ i: number }>>,
  throttle: (done: number) => Promise<void> | void,
): Promise<{ last: Map<string, Acked>; acked: number; failures: number }> {
  const last = new Map<string, Acked>()
  let next = 0
  let acked = 0
  let failures = 0
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++
      if (i >= WRITES) return
      const key = keyOf(i)
      await throttle(acked)
      for (;;) {
        try {
          const { version } = await wb.write(key, { i })
          const prev = last.get(key)
          if (prev === undefined || version > prev.version) last.set(key, { i, version })
          acked++
          break
        } catch (e) {
          if (!(e instanceof QueueWriteError)) throw e
          failures++
          await new Promise((r) => setTimeout(r, 20))
        }
      }
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  return { last, acked, failures }
}

async function expectExactlyTheLastAcked(last: Map<string, Acked>): Promise<void> {
  const rows = await store.dump()
  expect(rows.size).toBe(KEYS)
  let mismatches = 0
  for (const [key, want] of last) {
    const row = rows.get(key)
    if (row === undefined || row.version !== want.version || (row.value as { i: number }).i !== want.i)
      mismatches++
  }
  expect(mismatches).toBe(0)
}

describe('write-behind without loss', () => {
  it('the flusher process is SIGKILLed twice mid-run: the database ends with exactly the last acknowledged value of every key', async () => {
    const redis = await startRedis()
    const name = 'loss-flusher'
    const env = { REDIS_URL: redis.url, NAME: name, TABLE: store.table, CLAIM_IDLE_MS: '1000', BATCH: '100' }
    const producer = new Redis(redis.url)
    cleanups.push(() => producer.quit())
    const wb = writeBehind<{ i: number }>({ redis: producer, name })

    let applied = 0
    let claimed = 0
    let rowWrites = 0
    const track = (c: Child): Child => {
      c.onEvent((m) => {
        if (m.event === 'applied') {
          applied += m.entries as number
          rowWrites += (m.versions as number[]).length
        }
        if (m.event === 'claimed') claimed += m.entries as number
      })
      return c
    }
    let flusher = track(await spawnChild('flusher', env))
    cleanups.push(() => flusher.call('exit').catch(() => {}))
    let kills = 0
    const appliedAtKill: number[] = []
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
    // Two kills in the middle of the run, each while the victim is inside a Store batch that it will never
    // acknowledge: the first before the batch reached PostgreSQL, the second after (written, not acknowledged).
    // The producer stays at most 2,000 writes ahead of the database, so both kills happen while writes flow.
    const killer = (async () => {
      for (const [at, when] of [
        [WRITES * 0.2, 'before'],
        [WRITES * 0.5, 'after'],
      ] as const) {
        while (applied < at) await sleep(20)
        const victim = flusher
        const stalled = new Promise<void>((r) => victim.onEvent((m) => m.event === 'stalled' && r()))
        await victim.call('stall', { when })
        await stalled
        appliedAtKill.push(applied)
        victim.proc.kill('SIGKILL')
        expect(await victim.exited).toBe(null)
        kills++
        flusher = track(await spawnChild('flusher', env))
      }
    })()
    const killing = [killer]
    const { last, acked } = await produce(wb, async (done) => {
      while (done - applied > 2_000) await sleep(10)
    })
    await Promise.all(killing)
    expect(kills).toBe(2)
    // both kills happened in the middle: after some entries were applied, long before all were
    for (const n of appliedAtKill) {
      expect(n).toBeGreaterThan(0)
      expect(n).toBeLessThan(WRITES * 0.9)
    }
    expect(acked).toBe(WRITES)
    await wb.flush(60_000)
    expect(claimed).toBeGreaterThan(0) // entries of the killed consumers were taken over
    expect(rowWrites).toBeLessThan(applied) // batches were coalesced (hot keys written once per batch)
    await expectExactlyTheLastAcked(last)
    expect(await readDeadLetters(producer, name)).toEqual([])
    expect(await producer.xlen(queueKeys(name).stream)).toBe(0)
  })

  it('the Redis server (appendonly yes, appendfsync always) is SIGKILLed mid-run and restarted: nothing acknowledged is lost', async () => {
    const redis = await startRedis({ appendonly: true, appendfsync: 'always' })
    const name = 'loss-redis'
    await store.pool.query(`TRUNCATE ${store.table}`)
    const env = { REDIS_URL: redis.url, NAME: name, TABLE: store.table, CLAIM_IDLE_MS: '1000', BATCH: '100' }
    const flusher = await spawnChild('flusher', env)
    cleanups.push(() => flusher.call('exit').catch(() => {}))
    const producer = new Redis(redis.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false })
    producer.on('error', () => {})
    cleanups.push(async () => producer.disconnect())
    const wb = writeBehind<{ i: number }>({ redis: producer, name })
    let applied = 0
    flusher.onEvent((m) => {
      if (m.event === 'applied') applied += m.entries as number
    })
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
    let appliedAtKill = -1
    // the producer stays at most 2,000 writes ahead of the database; Redis dies once 30 % are applied
    const killed = (async () => {
      while (applied < WRITES * 0.3) await sleep(20)
      appliedAtKill = applied
      await redis.kill()
      await sleep(200)
      await redis.restart()
    })()
    const { last, acked, failures } = await produce(wb, async (done) => {
      while (done - applied > 2_000) await sleep(10)
    })
    await killed
    expect(appliedAtKill).toBeGreaterThan(0) // the flusher was busy when Redis died...
    expect(appliedAtKill).toBeLessThan(WRITES * 0.9) // ...in the middle of the run
    expect(acked).toBe(WRITES)
    expect(failures).toBeGreaterThan(0) // writes were refused while Redis was down (and retried)
    await wb.flush(60_000)
    await expectExactlyTheLastAcked(last)
    expect(await readDeadLetters(producer, name)).toEqual([])
  })
})
