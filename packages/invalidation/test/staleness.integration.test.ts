/**
 * Bounded staleness after faults (issue 15, defect 9), against a real Redis that is stopped, killed and
 * restarted, with independent instances (each its own clients, L1 and cache) reading what one writer writes.
 * Every test ends by waiting (bounded, generously: the bound only turns a hang into a failure) until every
 * instance reads what the database holds for every key; the measured staleness is printed for the report.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { type RedisServer, startRedis } from '@tierkit/testkit'
import { afterEach, describe, expect, it } from 'vitest'
import { deleteOnUpdate, InvalidationError, writeThrough } from '../src/index.js'
import {
  converge,
  type Instance,
  makeInstance,
  type Read,
  RecordingStore,
  readOnce,
  staleness,
  summary,
} from './helpers/staleness.js'

const CONVERGE_MS = 20_000 // far below the caches' 600 s TTL: stale "until the TTL" fails
const KEYS = Array.from({ length: 10 }, (_, i) => `key:${i}`)

let instances: Instance[] = []
afterEach(async () => {
  await Promise.all(instances.map((i) => i.close()))
  instances = []
})

function inst(...args: Parameters<typeof makeInstance>): Instance {
  const i = makeInstance(...args)
  instances.push(i)
  return i
}

async function readyAll(list: Instance[]): Promise<void> {
  await Promise.all(
    list.map((i) => i.bus?.ready({ timeout: 15_000 }) ?? i.tracking?.ready({ timeout: 15_000 })),
  )
}

/** Waits (bounded) until the client's connection is up again. */
async function connected(i: Instance): Promise<void> {
  for (let n = 0; n < 300 && i.redis.status !== 'ready'; n++) await sleep(50)
}

describe('bus: staleness after a Redis outage', () => {
  it('a deleteOnUpdate whose cache delete AND bus publish failed during the outage still reaches every reader once Redis is back', async () => {
    // AOF: the old values survive the restart in L2, so a delete that is never retried leaves them there
    const server = await startRedis({ appendonly: true })
    const store = new RecordingStore()
    const w = inst('writer', server.url, 'bus')
    const r1 = inst('reader1', server.url, 'bus')
    const r2 = inst('reader2', server.url, 'bus')
    await readyAll([w, r1, r2])
    for (const k of KEYS) store.save(k, { n: 1 }, { version: undefined })
    for (const r of [r1, r2]) for (const k of KEYS) expect(await readOnce(r, store, k)).toBe(1)

    await server.stop()
    const writer = deleteOnUpdate({ cache: w.cache, store, bus: w.bus })
    const errors = await Promise.all(KEYS.map((k) => writer.write(k, { n: 2 }).catch((err: unknown) => err)))
    // loud: every write says the invalidation could not be done now
    expect(errors.every((e) => e instanceof InvalidationError)).toBe(true)
    expect(KEYS.map((k) => store.current(k))).toEqual(KEYS.map(() => 2))

    await server.restart()
    const { stale, tookMs } = await converge([r1, r2, w], store, KEYS, CONVERGE_MS)
    console.log(
      `[staleness] failed delete+publish during outage: converged ${tookMs} ms after Redis was back`,
    )
    expect({ stale: stale.length, first: stale.slice(0, 4) }).toEqual({ stale: 0, first: [] })
  })

  it('the bus re-subscribes (and clears L1) on its own schedule, not on the retryStrategy of the client it duplicates', async () => {
    const server = await startRedis()
    const store = new RecordingStore()
    const w = inst('writer', server.url, 'bus', { client: { retryStrategy: () => 100 } })
    // readers whose own clients wait 30 s between reconnection attempts
    const slow = { retryStrategy: () => 30_000 }
    const r1 = inst('reader1', server.url, 'bus', { client: slow })
    const r2 = inst('reader2', server.url, 'bus', { client: slow })
    await readyAll([w, r1, r2])
    for (const k of KEYS) store.save(k, { n: 1 }, { version: undefined })
    for (const r of [r1, r2]) for (const k of KEYS) expect(await readOnce(r, store, k)).toBe(1)

    await server.kill()
    await sleep(300)
    await server.restart()
    await connected(w)
    const writer = deleteOnUpdate({ cache: w.cache, store, bus: w.bus })
    for (const k of KEYS) await writer.write(k, { n: 2 }) // Redis is healthy: these succeed
    const { stale, tookMs } = await converge([r1, r2], store, KEYS, CONVERGE_MS)
    console.log(`[staleness] slow client retryStrategy: readers converged ${tookMs} ms after the writes`)
    expect({ stale: stale.length, first: stale.slice(0, 4) }).toEqual({ stale: 0, first: [] })
    expect(r1.bus!.stats().reconnects).toBeGreaterThanOrEqual(1)
  })
})

describe('client tracking: staleness after a Redis outage', () => {
  it('tracking is re-enabled and L1 kept clean on its own schedule, whatever the retryStrategy of the client it tracks on', async () => {
    const server = await startRedis()
    const store = new RecordingStore()
    const w = inst('writer', server.url, 'tracking', { client: { retryStrategy: () => 100 } })
    const slow = { retryStrategy: () => 30_000 }
    const r1 = inst('reader1', server.url, 'tracking', { client: slow })
    const r2 = inst('reader2', server.url, 'tracking', { client: slow })
    await readyAll([w, r1, r2])
    for (const k of KEYS) store.save(k, { n: 1 }, { version: undefined })
    for (const r of [r1, r2]) for (const k of KEYS) expect(await readOnce(r, store, k)).toBe(1)

    await server.kill()
    await sleep(300)
    await server.restart()
    await connected(w)
    const writer = writeThrough({ cache: w.cache, store })
    for (const k of KEYS) await writer.write(k, { n: 2 }) // Redis is healthy: these succeed
    const { stale, tookMs } = await converge([r1, r2], store, KEYS, CONVERGE_MS)
    console.log(
      `[staleness] tracking, slow client retryStrategy: readers converged ${tookMs} ms after the writes`,
    )
    expect({ stale: stale.length, first: stale.slice(0, 4) }).toEqual({ stale: 0, first: [] })
  })

  it('a writeThrough that failed during the outage reaches every tracking reader once Redis is back (AOF)', async () => {
    const server = await startRedis({ appendonly: true })
    const store = new RecordingStore()
    const w = inst('writer', server.url, 'tracking')
    const r1 = inst('reader1', server.url, 'tracking')
    const r2 = inst('reader2', server.url, 'tracking')
    await readyAll([w, r1, r2])
    for (const k of KEYS) store.save(k, { n: 1 }, { version: undefined })
    for (const r of [r1, r2]) for (const k of KEYS) expect(await readOnce(r, store, k)).toBe(1)
    await server.stop()
    const writer = writeThrough({ cache: w.cache, store })
    const errors = await Promise.all(KEYS.map((k) => writer.write(k, { n: 2 }).catch((e: unknown) => e)))
    expect(errors.every((e) => e instanceof InvalidationError)).toBe(true)
    await server.restart()
    const { stale, tookMs } = await converge([r1, r2, w], store, KEYS, CONVERGE_MS)
    console.log(
      `[staleness] tracking, failed writeThrough during outage: converged ${tookMs} ms after Redis was back`,
    )
    expect({ stale: stale.length, first: stale.slice(0, 4) }).toEqual({ stale: 0, first: [] })
  })
})

/**
 * One writer writes the keys round-robin while two readers read them; `fault` runs in the middle. Writes
 * stop when the fault is over, then one more round writes the first half of the keys: the other half was
 * last written during the outage (the writes that must not be lost for the readers). Clients use ioredis'
 * default reconnection (exponential, up to 5 s).
 */
async function workload(
  mode: 'bus' | 'tracking',
  server: RedisServer,
  fault: () => Promise<void>,
): Promise<{
  store: RecordingStore
  reads: Read[]
  readers: Instance[]
  faultEnd: number
  failures: number
}> {
  const store = new RecordingStore()
  const w = inst('writer', server.url, mode)
  const readers = [inst('reader1', server.url, mode), inst('reader2', server.url, mode)]
  await readyAll([w, ...readers])
  for (const k of KEYS) store.save(k, { n: 1 }, { version: undefined })
  const writer =
    mode === 'bus'
      ? deleteOnUpdate({ cache: w.cache, store, bus: w.bus })
      : writeThrough({ cache: w.cache, store })
  const reads: Read[] = []
  let writing = true
  let reading = true
  let failures = 0
  let n = 2
  const write = async (k: string): Promise<void> => {
    const v = n++
    await writer.write(k, { n: v }).catch(() => {
      failures++
    })
    store.wrote(k, v, Date.now())
  }
  const writes = (async () => {
    while (writing) {
      for (const k of KEYS) {
        if (!writing) break
        await write(k)
        await sleep(5)
      }
    }
  })()
  const readLoops = readers.map(async (r) => {
    for (let i = 0; reading; i++) {
      const key = KEYS[(i * 7) % KEYS.length]!
      const start = Date.now()
      const got = await readOnce(r, store, key).catch(() => -1)
      if (got >= 0) reads.push({ instance: r.name, key, start, n: got })
      await sleep(2)
    }
  })
  await sleep(1000)
  await fault()
  writing = false
  await writes
  const faultEnd = Date.now()
  for (const k of KEYS.slice(0, KEYS.length / 2)) await write(k)
  await sleep(4000)
  reading = false
  await Promise.all(readLoops)
  return { store, reads, readers: [...readers, w], faultEnd, failures }
}

function report(name: string, store: RecordingStore, reads: Read[], faultEnd: number): number {
  const s = reads.map((r) => staleness(store, r))
  const staleReads = s.filter((x) => x > 0)
  const afterEnd = reads.filter((r) => r.start >= faultEnd).map((r) => staleness(store, r))
  const after = reads.filter((r) => r.start > faultEnd + 2000).map((r) => staleness(store, r))
  console.log(
    `[staleness] ${name}: ${reads.length} reads, ${staleReads.length} stale (${(
      (100 * staleReads.length) / Math.max(1, reads.length)
    ).toFixed(
      1,
    )} %), stale by ms ${JSON.stringify(summary(staleReads))}; reads starting once Redis was back: ${
      afterEnd.length
    }, stale ${afterEnd.filter((x) => x > 0).length}, max ${Math.max(0, ...afterEnd)} ms; starting > 2 s after: ${
      after.length
    }, stale ${after.filter((x) => x > 0).length}`,
  )
  return Math.max(0, ...after)
}

describe('staleness under a continuous workload, Redis restarted', () => {
  for (const mode of ['bus', 'tracking'] as const) {
    it(`${mode}: every reader converges after Redis is killed and restarted (no persistence)`, async () => {
      const server = await startRedis()
      const { store, reads, readers, faultEnd } = await workload(mode, server, async () => {
        await server.kill()
        await sleep(1500)
        await server.restart()
      })
      const worst = report(`${mode}, SIGKILL + restart`, store, reads, faultEnd)
      const { stale, tookMs } = await converge(readers, store, KEYS, CONVERGE_MS)
      console.log(`[staleness] ${mode}: converged ${tookMs} ms after the workload stopped`)
      expect({ stale: stale.length, first: stale.slice(0, 4) }).toEqual({ stale: 0, first: [] })
      expect(worst).toBeLessThan(10_000) // generous: only "stale until the TTL" fails this
    })

    it(`${mode}: every reader converges after Redis is restarted with its data (AOF)`, async () => {
      const server = await startRedis({ appendonly: true })
      const { store, reads, readers, faultEnd } = await workload(mode, server, async () => {
        await server.stop()
        await sleep(1500)
        await server.restart()
      })
      const worst = report(`${mode}, stop + restart with AOF`, store, reads, faultEnd)
      const { stale, tookMs } = await converge(readers, store, KEYS, CONVERGE_MS)
      console.log(`[staleness] ${mode}: converged ${tookMs} ms after the workload stopped`)
      expect({ stale: stale.length, first: stale.slice(0, 4) }).toEqual({ stale: 0, first: [] })
      expect(worst).toBeLessThan(10_000)
    })
  }
})
