/**
 * Write-behind without loss: real processes, a real durable Store (a PostgreSQL table that honours
 * versions), SIGKILL of the flusher process twice, and SIGKILL of the Redis server (AOF, fsync always).
 */

import { setTimeout as sleep } from 'node:timers/promises'
import { startRedis } from '@tierkit/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { QueueWriteError, queueKeys, readDeadLetters, writeBehind } from '../src/index.js'
import { type Child, spawnChild } from './helpers/child.js'
import { adminClient, redisClient } from './helpers/clients.js'
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
 * write that is not acknowledged is retried (same value) until it is. `last` holds, per key, the
 * acknowledged write with the highest version. `rewriteAndFreeze(keys)` spends some of the WRITES on one
 * more write of each of `keys`, and no write touches them afterwards.
 */
function makeProducer(wb: ReturnType<typeof writeBehind<{ i: number }>>) {
  const last = new Map<string, Acked>()
  const frozen = new Set<string>()
  const state = { next: 0, acked: 0, failures: 0 }
  const writeOne = async (i: number, key: string): Promise<void> => {
    for (;;) {
      try {
        const { version } = await wb.write(key, { i })
        const prev = last.get(key)
        if (prev === undefined || version > prev.version) last.set(key, { i, version })
        state.acked++
        return
      } catch (e) {
        if (!(e instanceof QueueWriteError)) throw e
        state.failures++
        await sleep(20)
      }
    }
  }
  const pickKey = (i: number): string => {
    let key = keyOf(i)
    for (let j = 1; frozen.has(key); j++) key = keyOf(KEYS + i + j * 7919)
    return key
  }
  return {
    last,
    state,
    async run(throttle: (done: number) => Promise<void> | void): Promise<void> {
      const worker = async (): Promise<void> => {
        for (;;) {
          const i = state.next++
          if (i >= WRITES) return
          const key = pickKey(i)
          await throttle(state.acked)
          await writeOne(i, key)
        }
      }
      await Promise.all(Array.from({ length: CONCURRENCY }, worker))
    },
    async rewriteAndFreeze(keys: readonly string[]): Promise<number> {
      const fresh = [...new Set(keys)].filter((k) => !frozen.has(k))
      for (const k of fresh) frozen.add(k)
      let n = 0
      for (const key of fresh) {
        const i = state.next++
        if (i >= WRITES) break
        await writeOne(i, key)
        n++
      }
      return n
    },
  }
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
    const env = { REDIS_URL: redis.url, NAME: name, TABLE: store.table, CLAIM_TIMEOUT: '1000', BATCH: '100' }
    const producer = redisClient(redis.url)
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
    // two flushers in the group: when one dies, the other goes on with newer entries
    const flushers = [track(await spawnChild('flusher', env)), track(await spawnChild('flusher', env))]
    cleanups.push(() => Promise.all(flushers.map((f) => f.call('exit').catch(() => {}))))
    const p = makeProducer(wb)
    let kills = 0
    let rewritten = 0
    let paused = false
    const appliedAtKill: number[] = []
    // Two kills in the middle of the run, each while the victim is inside a Store batch that it will never
    // acknowledge: the first before the batch reached PostgreSQL, the second after (written, not acknowledged).
    // Right after each kill, the keys of that batch are written once more (and then never again): the
    // surviving flusher applies these newer writes first and reclaims the dead one's older entries only
    // after claimTimeout, so the old versions must be refused (guard, Store version), or the check fails.
    const killer = (async () => {
      for (const [at, when, idx] of [
        [WRITES * 0.2, 'before', 0],
        [WRITES * 0.5, 'after', 1],
      ] as const) {
        while (applied < at) await sleep(20)
        const victim = flushers[idx]!
        const stalled = new Promise<string[]>((r) =>
          victim.onEvent((m) => m.event === 'stalled' && r(m.keys as string[])),
        )
        await victim.call('stall', { when })
        const keys = await stalled
        appliedAtKill.push(applied)
        victim.proc.kill('SIGKILL')
        // the producer pauses while the victim is replaced, so that the run is not over before the next kill
        paused = true
        expect(await victim.exited).toBe(null)
        kills++
        rewritten += await p.rewriteAndFreeze(keys)
        flushers[idx] = track(await spawnChild('flusher', env))
        paused = false
      }
    })()
    // the producer stays at most 2,000 writes ahead of the database, so the kills happen while writes flow
    await p.run(async (done) => {
      while (paused || done - applied > 2_000) await sleep(10)
    })
    await killer
    const { last } = p
    expect(kills).toBe(2)
    expect(rewritten).toBeGreaterThan(0)
    // both kills happened in the middle: after some entries were applied, long before all were
    for (const n of appliedAtKill) {
      expect(n).toBeGreaterThan(0)
      expect(n).toBeLessThan(WRITES * 0.9)
    }
    expect(p.state.acked).toBe(WRITES)
    await wb.flush({ timeout: 60_000 })
    expect(claimed).toBeGreaterThan(0) // entries of the killed consumers were taken over
    expect(rowWrites).toBeLessThan(applied) // batches were coalesced (hot keys written once per batch)
    await expectExactlyTheLastAcked(last)
    expect(await readDeadLetters(producer, name)).toEqual([])
    const admin = adminClient(redis.url)
    cleanups.push(() => admin.quit())
    expect(await admin.xlen(queueKeys(name).stream)).toBe(0)
  })

  it('the Redis server (appendonly yes, appendfsync always) is SIGKILLed mid-run and restarted: nothing acknowledged is lost', async () => {
    const redis = await startRedis({ appendonly: true, appendfsync: 'always' })
    const name = 'loss-redis'
    await store.pool.query(`TRUNCATE ${store.table}`)
    const env = { REDIS_URL: redis.url, NAME: name, TABLE: store.table, CLAIM_TIMEOUT: '1000', BATCH: '100' }
    const flusher = await spawnChild('flusher', env)
    cleanups.push(() => flusher.call('exit').catch(() => {}))
    const producer = redisClient(redis.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false })
    producer.on('error', () => {})
    cleanups.push(async () => producer.disconnect())
    const wb = writeBehind<{ i: number }>({ redis: producer, name })
    let applied = 0
    flusher.onEvent((m) => {
      if (m.event === 'applied') applied += m.entries as number
    })
    let appliedAtKill = -1
    // the producer stays at most 2,000 writes ahead of the database; Redis dies once 30 % are applied
    const killed = (async () => {
      while (applied < WRITES * 0.3) await sleep(20)
      appliedAtKill = applied
      await redis.kill()
      await sleep(200)
      await redis.restart()
    })()
    const p = makeProducer(wb)
    await p.run(async (done) => {
      while (done - applied > 2_000) await sleep(10)
    })
    const { last } = p
    const { acked, failures } = p.state
    await killed
    expect(appliedAtKill).toBeGreaterThan(0) // the flusher was busy when Redis died...
    expect(appliedAtKill).toBeLessThan(WRITES * 0.9) // ...in the middle of the run
    expect(acked).toBe(WRITES)
    expect(failures).toBeGreaterThan(0) // writes were refused while Redis was down (and retried)
    await wb.flush({ timeout: 60_000 })
    await expectExactlyTheLastAcked(last)
    expect(await readDeadLetters(producer, name)).toEqual([])
  })
})
