/**
 * Queue writes are idempotent (issue 15, defect 10a): when the connection drops after Redis ran the
 * enqueue script but before its reply arrived, ioredis sends the script again on the new connection
 * (`autoResendUnfulfilledCommands`). Before the fix that queued the write twice, with two versions.
 * node-redis rejects such a command instead (`Socket closed unexpectedly`): the writer sends it again itself
 * (issue 20; before, the write was refused with QueueWriteError although Redis had queued it).
 */

import { exactSerializer } from '@tierkit/contracts'
import { delayProxy, startRedis } from '@tierkit/testkit'
import type { Redis } from 'ioredis'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { createFlusher, queueKeys, writeBehind } from '../src/index.js'
import { adminClient, redisClient } from './helpers/clients.js'
import { MemoryStore } from './helpers/memory-store.js'
import { urlThrough } from './helpers/secure.js'

const closers: Array<() => Promise<unknown>> = []
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => {})
})

async function setup(name: string) {
  const server = await startRedis()
  // to the port of server.url (in the secure run the TLS port, passed through by the proxy)
  const proxy = await delayProxy({ host: server.host, port: Number(new URL(server.url).port) })
  closers.push(() => proxy.close())
  const direct = adminClient(server.url) // the test's own inspection
  direct.on('error', () => {})
  closers.push(async () => direct.disconnect())
  // the writer's client goes through the proxy; unanswered commands are sent again (ioredis' defaults;
  // under node-redis the writer does)
  const redis = redisClient(urlThrough(server.url, proxy), { maxRetriesPerRequest: 5 })
  redis.on('error', () => {})
  closers.push(async () => redis.disconnect())
  const wb = writeBehind<number>({ redis, name })
  await wb.write('warm-up', 0) // the script is loaded, later writes are one EVALSHA
  let reconnects = 0
  redis.on('reconnecting', () => reconnects++)
  return { proxy, direct, redis, wb, stream: queueKeys(name).stream, reconnects: () => reconnects }
}

/** How many times Redis ran EVALSHA so far. */
async function evalshaCalls(direct: Redis): Promise<number> {
  const info = await direct.info('commandstats')
  return Number(/cmdstat_evalsha:calls=(\d+)/.exec(info)?.[1] ?? 0)
}

/** The stream's entries as `key=value@version` (the value decoded from the queue's encoding). */
async function entries(direct: Redis, stream: string): Promise<string[]> {
  const raw = (await direct.xrange(stream, '-', '+')) as Array<[string, string[]]>
  return raw.map(([, f]) => `${f[1]}=${String(exactSerializer.decode(f[5]!))}@${f[7]}`)
}

describe('write-behind: a queue write sent twice is queued once', () => {
  it('the reply is lost after Redis ran the script: it is sent again (by ioredis, or by the writer under node-redis), the write is in the queue once', async () => {
    const { proxy, direct, wb, stream, reconnects } = await setup('idem1')
    const calls = await evalshaCalls(direct)
    proxy.setLatency(1_000) // each way: the reply is still in the proxy once the entry is in Redis
    const write = wb.write('k', 1)
    await vi.waitFor(async () => expect((await direct.xlen(stream)) === 2).toBe(true), {
      timeout: 10_000,
      interval: 5,
    })
    proxy.setLatency(0)
    expect(proxy.dropConnections()).toBeGreaterThan(0) // the reply never reaches the client
    const ack = await write
    expect(reconnects()).toBeGreaterThan(0)
    // Redis really ran the script twice: once before the drop, once when it was sent again
    expect((await evalshaCalls(direct)) - calls).toBe(2)
    const queued = await entries(direct, stream)
    // before the fix: ['warm-up=0@…', 'k=1@v', 'k=1@v+n'] (the second copy with a newer version)
    expect(queued.filter((e) => e.startsWith('k='))).toEqual([`k=1@${ack.version}`])
    const newest = (await direct.xrevrange(stream, '+', '-', 'COUNT', 1))[0]
    expect(ack.id).toBe(newest?.[0]) // the re-sent script answered with the first run's id and version
  })

  it('sixteen writes in flight when the connection drops: each is queued exactly once and applied once', async () => {
    const { proxy, direct, redis, wb, stream } = await setup('idem2')
    const calls = await evalshaCalls(direct)
    proxy.setLatency(1_000)
    const writes = Array.from({ length: 16 }, (_, i) => wb.write(`k${i}`, i))
    await vi.waitFor(async () => expect((await direct.xlen(stream)) === 17).toBe(true), {
      timeout: 10_000,
      interval: 5,
    })
    proxy.setLatency(0)
    proxy.dropConnections()
    const acks = await Promise.all(writes)
    expect((await evalshaCalls(direct)) - calls).toBe(32) // each script ran twice
    const queued = (await entries(direct, stream)).filter((e) => !e.startsWith('warm-up'))
    expect(queued.sort()).toEqual(acks.map((a, i) => `k${i}=${i}@${a.version}`).sort())
    // and later writes of the same writer are not mistaken for re-sent ones
    const more = await Promise.all(Array.from({ length: 16 }, (_, i) => wb.write(`k${i}`, 100 + i)))
    expect(new Set([...acks, ...more].map((a) => a.id)).size).toBe(32)
    const store = new MemoryStore<number>()
    const flusher = createFlusher({ redis: direct, name: 'idem2', store, pollInterval: 50 })
    closers.push(() => flusher.close({ timeout: 5_000 }))
    await wb.flush({ timeout: 10_000 })
    for (let i = 0; i < 16; i++)
      expect(store.rows.get(`k${i}`)).toEqual({ value: 100 + i, version: more[i]!.version })
    // 1 warm-up + 16 + 16 entries, each applied once (coalesced or saved), none twice
    expect(flusher.stats().saved + flusher.stats().coalesced + flusher.stats().skipped).toBe(33)
    expect(redis.status).toBe('ready')
    // the writer's record holds only what may still be re-sent: after one more write, that write alone
    await wb.write('last', 1)
    const records = await direct.keys('wb:{idem2}:w:*')
    expect(records).toHaveLength(1)
    expect(await direct.zcard(records[0]!)).toBe(1)
    expect(await direct.pttl(records[0]!)).toBeGreaterThan(0)
  })
})
