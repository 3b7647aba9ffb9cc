/**
 * `processBatch` alone, on a real Redis and a real in-process Store, without a flusher loop around it: the
 * entries are queued by the real producer, read with XREADGROUP / XCLAIM as the shard loop reads them, and
 * handed to `processBatch` directly, so each assertion is about one batch.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { exactSerializer, type WriteContext } from '@tierkit/contracts'
import type { Redis } from 'ioredis'
import { describe, expect, it, vi } from 'vitest'
import { type FlusherEvent, type FlusherOptions, type FlusherStats, readDeadLetters } from '../src/index.js'
import { processBatch } from '../src/write-behind/batch.js'
import { type FlusherContext, resolveFlusherOptions, type ShardState } from '../src/write-behind/config.js'
import { keysOf } from '../src/write-behind/keys.js'
import { Producer } from '../src/write-behind/producer.js'
import { entriesOf, type RawEntry } from '../src/write-behind/stream.js'
import { MemoryStore } from './helpers/memory-store.js'
import { useRedisFixture } from './helpers/redis.js'

const fx = useRedisFixture()
const CONSUMER = 'c1'

/** A shard 0 of queue `name` with its group, and what a batch on it reports. */
async function shard(redis: Redis, name: string, store: FlusherOptions['store'], extra: object = {}) {
  const config = resolveFlusherOptions(
    { redis, name, store, consumer: CONSUMER, backoff: { base: 1, max: 1 }, ...extra },
    'test',
    '',
  )
  const events: FlusherEvent[] = []
  const stats: FlusherStats = {
    saved: 0,
    coalesced: 0,
    skipped: 0,
    retries: 0,
    deadLettered: 0,
    claimed: 0,
    batches: 0,
    prunedConsumers: 0,
  }
  const flusher: FlusherContext = {
    config,
    stats,
    emit: (e) => events.push(e),
    highest: 0,
    stopping: false,
    pause: (ms) => sleep(ms),
    retrying: () => 0,
    shardCount: () => 1,
    blocking: () => redis,
  }
  const state: ShardState = { flusher, keys: keysOf(name, 0), retryAt: new Map() }
  await fx.admin().xgroup('CREATE', state.keys.stream, config.group, '0', 'MKSTREAM')
  const producer = new Producer(redis, name, 1)
  const queue = (key: string, value: unknown) =>
    producer.enqueue('test', key, 's', exactSerializer.encode(value) as string)
  /** New entries, as the shard loop reads them. */
  const read = async (): Promise<RawEntry[]> => {
    const r = (await fx
      .admin()
      .xreadgroup('GROUP', config.group, CONSUMER, 'COUNT', 100, 'STREAMS', state.keys.stream, '>')) as Array<
      [string, unknown]
    > | null
    return r?.[0] ? entriesOf(r[0][1]) : []
  }
  /** Entries delivered again to this consumer (a retry: one more delivery each). */
  const redeliver = async (ids: string[]): Promise<RawEntry[]> =>
    entriesOf(await fx.admin().xclaim(state.keys.stream, config.group, CONSUMER, 0, ...ids))
  const pending = async (): Promise<number> =>
    Number(((await fx.admin().xpending(state.keys.stream, config.group)) as unknown[])[0])
  return { state, stats, events, queue, read, redeliver, pending }
}

describe('processBatch', () => {
  it('applies the highest version of each key, acknowledges the batch and skips a replayed older entry', async () => {
    const redis = fx.client()
    const store = new MemoryStore<{ n: number }>()
    const s = await shard(redis, 'pb-versions', store)
    const a1 = await s.queue('a', { n: 1 })
    const a2 = await s.queue('a', { n: 2 })
    const b1 = await s.queue('b', { n: 10 })
    expect(a2.version).toBeGreaterThan(a1.version)

    await processBatch(s.state, await s.read())
    expect(store.value('a')).toEqual({ n: 2 })
    expect(store.rows.get('a')!.version).toBe(a2.version)
    expect(store.rows.get('b')!.version).toBe(b1.version)
    expect(store.saves).toBe(2) // the older write of a was coalesced, not saved
    expect(s.stats).toMatchObject({ saved: 2, coalesced: 1, skipped: 0, batches: 1 })
    expect(s.state.flusher.highest).toBe(b1.version)
    expect(await fx.admin().get(`${s.state.keys.guard}a`)).toBe(String(a2.version))
    expect(await fx.admin().xlen(s.state.keys.stream)).toBe(0)
    expect(await s.pending()).toBe(0)
    const applied = s.events.find((e) => e.type === 'applied')
    expect(applied).toEqual({ type: 'applied', entries: 3, keys: 2, versions: [a2.version, b1.version] })

    // an older entry of a replayed (a re-sent XADD): the guard shows a newer version applied, the Store is not called
    await fx
      .admin()
      .xadd(
        s.state.keys.stream,
        '*',
        'k',
        'a',
        'o',
        's',
        'v',
        exactSerializer.encode({ n: 1 }) as string,
        'n',
        String(a1.version),
      )
    await processBatch(s.state, await s.read())
    expect(store.saves).toBe(2)
    expect(store.value('a')).toEqual({ n: 2 })
    expect(s.stats.skipped).toBe(1)
    expect(await fx.admin().xlen(s.state.keys.stream)).toBe(0)
    expect(await fx.admin().get(`${s.state.keys.guard}a`)).toBe(String(a2.version)) // never lowered
  })

  it('retries an entry the Store fails, without holding back the others, then dead-letters it after maxAttempts', async () => {
    const redis = fx.client()
    const store = new MemoryStore<unknown>()
    const poison = 'poison' // the Store throws on this value (compared as decoded, so a primitive)
    store.poison = poison
    const s = await shard(redis, 'pb-dead', store, { maxAttempts: 2 })
    const bad = await s.queue('bad', poison)
    await s.queue('good', { n: 1 })

    // attempt 1: the good entry is applied and acknowledged, the bad one stays pending for a retry
    await processBatch(s.state, await s.read())
    expect(store.value('good')).toEqual({ n: 1 })
    expect(store.value('bad')).toBeUndefined()
    expect(s.stats).toMatchObject({ saved: 1, retries: 1, deadLettered: 0 })
    const retry = s.events.find((e) => e.type === 'retry')
    expect(retry).toMatchObject({ type: 'retry', key: 'bad', id: bad.id, attempt: 1 })
    expect([...s.state.retryAt.keys()]).toEqual([bad.id])
    expect(await s.pending()).toBe(1)
    expect(await fx.admin().xlen(s.state.keys.stream)).toBe(1)

    // attempt 2 (delivered again): maxAttempts reached, moved to the dead-letter stream and out of the queue
    await processBatch(s.state, await s.redeliver([bad.id]))
    expect(s.stats).toMatchObject({ saved: 1, retries: 1, deadLettered: 1 })
    expect(s.state.retryAt.size).toBe(0)
    expect(await s.pending()).toBe(0)
    expect(await fx.admin().xlen(s.state.keys.stream)).toBe(0)
    const [dead, ...more] = await readDeadLetters(redis, 'pb-dead')
    expect(more).toEqual([])
    expect(dead).toMatchObject({
      key: 'bad',
      operation: 'save',
      version: bad.version,
      originalId: bad.id,
      attempts: 2,
      code: 'E_STORE_FAILED',
    })
    expect(exactSerializer.decode(dead!.payload)).toEqual(poison)
    expect(s.events.find((e) => e.type === 'dead-letter')).toMatchObject({
      key: 'bad',
      id: bad.id,
      attempts: 2,
    })
  })

  it('acknowledges an entry only once the Store has applied it', async () => {
    const redis = fx.client()
    let release!: () => void
    const gate = new Promise<void>((r) => {
      release = r
    })
    const saved: Array<{ key: string; ctx: WriteContext }> = []
    const store = {
      async save(key: string, _value: unknown, ctx: WriteContext) {
        saved.push({ key, ctx })
        await gate
      },
      remove: () => undefined,
    }
    const s = await shard(redis, 'pb-ack', store)
    const w = await s.queue('k', { n: 1 })
    const batch = processBatch(s.state, await s.read())
    await vi.waitFor(() => expect(saved).toHaveLength(1), { timeout: 5_000, interval: 5 })
    expect(saved[0]).toEqual({ key: 'k', ctx: { version: w.version } })
    // the Store has not answered: the entry is still queued and pending, the guard not raised
    expect(await fx.admin().xlen(s.state.keys.stream)).toBe(1)
    expect(await s.pending()).toBe(1)
    expect(await fx.admin().get(`${s.state.keys.guard}k`)).toBeNull()
    expect(s.events).toEqual([])
    release()
    await batch
    expect(await fx.admin().xlen(s.state.keys.stream)).toBe(0)
    expect(await s.pending()).toBe(0)
    expect(await fx.admin().get(`${s.state.keys.guard}k`)).toBe(String(w.version))
    expect(s.stats.saved).toBe(1)
  })
})
