// Every entry point given the client library's own client (helpers/clients.ts ownRedisClient), not the suite's
// test proxy, which answers any ioredis command method through `call`: under node-redis a package may use
// only what the client interface of @tierkit/contracts/redis has (call, get, set, eval..., the stream
// commands it wraps). Before (issue 20), the bus's heartbeat called `ping()` (under node-redis a TypeError
// every heartbeat, thrown out of a timer: the process crashed, or the subscriber was dropped as dead), and
// write-behind's flush, retries and dead letters called `xrange`, `xrevrange` and `xpending`.
import { setTimeout as sleep } from 'node:timers/promises'
import { type RedisServer, startRedis } from '@tierkit/testkit'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import {
  type BusEvent,
  createFlusher,
  createInvalidationBus,
  FlushTimeoutError,
  readDeadLetters,
  writeBehind,
} from '../src/index.js'
import { ownRedisClient } from './helpers/clients.js'
import { MemoryStore } from './helpers/memory-store.js'

let server: RedisServer
let admin: Redis
const closers: Array<() => Promise<unknown>> = []
beforeAll(async () => {
  server = await startRedis()
  admin = new Redis(server.port, '127.0.0.1')
})
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => {})
  admin.disconnect()
  await server.stop()
})

async function own() {
  const c = await ownRedisClient(server.url)
  closers.push(c.close)
  return c.client
}

/** How many times Redis ran `command` so far. */
async function calls(command: string): Promise<number> {
  const info = String(await admin.call('INFO', 'commandstats'))
  return Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info)?.[1] ?? 0)
}

it('bus: the heartbeat PINGs the subscriber through the client interface; messages flow, nothing is dropped', async () => {
  const events: BusEvent[] = []
  const a = createInvalidationBus({ redis: await own(), channel: 'own-bus' })
  const b = createInvalidationBus({
    redis: await own(),
    channel: 'own-bus',
    heartbeatInterval: 20,
    onEvent: (e) => events.push(e),
  })
  closers.push(
    () => a.close(),
    () => b.close(),
  )
  await Promise.all([a.ready(), b.ready()])
  const pings = await calls('ping')
  await sleep(400) // some 20 heartbeats
  expect((await calls('ping')) - pings).toBeGreaterThanOrEqual(5)
  expect(events.filter((e) => e.type === 'error')).toEqual([])
  await a.publish({ keys: ['k'] })
  await expect.poll(() => b.stats().received, { timeout: 10_000, interval: 10 }).toBe(1)
  expect(b.stats().reconnects).toBe(0) // never dropped as dead
})

it('write-behind: a flush that times out counts what is queued, retries and dead letters read the streams', async () => {
  const redis = await own()
  const name = 'own-wb'
  const wb = writeBehind<number>({ redis, name })
  closers.push(() => wb.close({ timeout: 100 }).catch(() => {}))
  for (let i = 0; i < 3; i++) await wb.write(`k${i}`, i)
  // no flusher yet: the flush times out with the count of entries still queued (XRANGE)
  const e = await wb.flush({ timeout: 100 }).catch((x: unknown) => x)
  expect(e).toBeInstanceOf(FlushTimeoutError)
  expect(e).toMatchObject({ remaining: 3, unreachableShards: 0 })
  const store = new MemoryStore<number>()
  store.failing = true
  const f = createFlusher({
    redis,
    name,
    store,
    maxAttempts: 2,
    backoff: { base: 5, max: 20 },
    claimTimeout: 60_000,
  })
  closers.push(() => f.close({ timeout: 5_000 }))
  await wb.flush({ timeout: 20_000 }) // each entry tried twice (its deliveries: XPENDING), then dead-lettered
  expect(f.stats()).toMatchObject({ deadLettered: 3, retries: 3, saved: 0 })
  const dead = await readDeadLetters(redis, name)
  expect(dead.map((d) => d.key).sort()).toEqual(['k0', 'k1', 'k2'])
  for (const d of dead) expect(d).toMatchObject({ operation: 'save', attempts: 2, code: 'E_STORE_FAILED' })
})
