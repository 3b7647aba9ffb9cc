import { setTimeout as sleep } from 'node:timers/promises'
import { startRedis } from '@tierkit/testkit'
import type { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import {
  createFlusher,
  type Flusher,
  type FlusherEvent,
  FlushTimeoutError,
  QueueWriteError,
  queueKeys,
  readDeadLetters,
  requeueDeadLetters,
  TierkitTypeError,
  UnserializableValueError,
  writeBehind,
} from '../src/index.js'
import { makeCache } from './helpers/cache.js'
import { redisClient } from './helpers/clients.js'
import { BatchMemoryStore, MemoryStore } from './helpers/memory-store.js'
import { useRedisFixture } from './helpers/redis.js'

const fx = useRedisFixture()
const { closers } = fx
const client = fx.client

function flusherFor(redis: Redis, name: string, store: MemoryStore, extra: Record<string, unknown> = {}) {
  const events: FlusherEvent[] = []
  const f: Flusher = createFlusher({
    redis,
    name,
    store,
    claimTimeout: 60_000,
    backoff: { base: 5, max: 20 },
    onEvent: (e) => events.push(e),
    ...extra,
  })
  closers.push(() => f.close({ timeout: 5_000 }))
  return { f, events }
}

describe('writeBehind', () => {
  it('updates the cache at once and applies the writes to the Store through the flusher', async () => {
    const redis = client()
    const { cache } = makeCache(fx.url(), 'wb1')
    const store = new MemoryStore<{ n: number }>()
    const wb = writeBehind<{ n: number }>({ redis, name: 'wb1', cache, flusher: { store, pollInterval: 50 } })
    const acks = []
    for (let i = 0; i < 20; i++) acks.push(await wb.write(`k${i % 5}`, { n: i }))
    // versions grow with every write
    for (let i = 1; i < acks.length; i++) expect(acks[i]!.version).toBeGreaterThan(acks[i - 1]!.version)
    expect(await cache.get('k4')).toEqual({ n: 19 })
    await wb.flush()
    for (let k = 0; k < 5; k++) {
      expect(store.value(`k${k}`)).toEqual({ n: 15 + k })
      expect(store.rows.get(`k${k}`)!.version).toBe(acks[15 + k]!.version)
    }
    expect(await fx.admin().xlen(queueKeys('wb1').stream)).toBe(0)
    await wb.remove('k0')
    expect(await cache.get('k0')).toBeUndefined()
    const closing = wb.close()
    expect(wb.close()).toBe(closing) // idempotent
    await closing
    expect(store.rows.get('k0')!.value).toBeUndefined()
    await expect(wb.write('k', { n: 1 })).rejects.toMatchObject({
      code: 'E_CLOSED',
      name: 'ClosedError',
      message: 'the write-behind writer of queue "wb1" is closed',
    })
    await expect(wb.remove('k')).rejects.toMatchObject({ code: 'E_CLOSED' })
    await expect(wb.flush()).rejects.toMatchObject({ code: 'E_CLOSED' })
    await expect(wb.flusher!.flush()).rejects.toMatchObject({
      code: 'E_CLOSED',
      message: 'the flusher is closed',
    })
  })

  it('coalesces writes to the same key: the last version wins, older entries are removed with it', async () => {
    const redis = client()
    const store = new BatchMemoryStore<number>()
    const wb = writeBehind<number>({ redis, name: 'wb2' })
    let last = 0
    for (let i = 0; i < 300; i++) last = (await wb.write(`k${i % 10}`, i)).version
    const { f } = flusherFor(redis, 'wb2', store, { batchSize: 300 })
    await wb.flush()
    expect(f.stats()).toMatchObject({ saved: 10, coalesced: 290 })
    expect(store.batches).toBe(1)
    for (let k = 0; k < 10; k++) expect(store.value(`k${k}`)).toBe(290 + k)
    expect(store.rows.get('k9')!.version).toBe(last)
  })

  it('never applies an older value over a newer one when an old entry is replayed', async () => {
    const redis = client()
    const store = new MemoryStore<string>()
    const wb = writeBehind<string>({ redis, name: 'wb3' })
    const old = await wb.write('k', 'old')
    const cur = await wb.write('k', 'new')
    const { f } = flusherFor(redis, 'wb3', store, { batchSize: 1 })
    await wb.flush()
    expect(store.value('k')).toBe('new')
    // a stale entry re-appears (as a reclaimed entry of a crashed consumer would)
    const { stream, guard } = queueKeys('wb3')
    await fx.admin().xadd(stream, '*', 'k', 'k', 'o', 's', 'v', 'J"old"', 'n', String(old.version))
    await f.flush()
    expect(store.value('k')).toBe('new')
    expect(f.stats().skipped).toBe(1) // the Redis guard skipped it
    // without the guard (expired), the Store's version check still refuses it
    await fx.admin().del(`${guard}k`)
    const savesBefore = store.saves
    await fx.admin().xadd(stream, '*', 'k', 'k', 'o', 's', 'v', 'J"old"', 'n', String(old.version))
    await f.flush()
    expect(store.saves).toBe(savesBefore + 1)
    expect(store.value('k')).toBe('new')
    expect(store.rows.get('k')!.version).toBe(cur.version)
  })

  it('moves entries to the dead-letter stream after N tries when the Store fails every write', async () => {
    const redis = client()
    const store = new MemoryStore<number>()
    store.failing = true
    const wb = writeBehind<number>({ redis, name: 'wb4' })
    for (let i = 0; i < 6; i++) await wb.write(`k${i}`, i)
    const { f, events } = flusherFor(redis, 'wb4', store, { maxAttempts: 3, batchSize: 10 })
    await wb.flush()
    // every entry was tried exactly 3 times, then dead-lettered: nothing spins, nothing is dropped
    expect(store.saves).toBe(18)
    expect(f.stats()).toMatchObject({ deadLettered: 6, retries: 12, saved: 0 })
    const { stream } = queueKeys('wb4')
    expect(await fx.admin().xlen(stream)).toBe(0)
    expect(((await fx.admin().xpending(stream, 'flushers')) as unknown[])[0]).toBe(0)
    const dead = await readDeadLetters(redis, 'wb4')
    expect(dead.map((d) => d.key).sort()).toEqual(['k0', 'k1', 'k2', 'k3', 'k4', 'k5'])
    for (const d of dead) {
      expect(d).toMatchObject({ operation: 'save', attempts: 3, code: 'E_STORE_FAILED' })
      expect(d.error).toContain('store down')
    }
    expect(events.filter((e) => e.type === 'dead-letter')).toHaveLength(6)
    // after the cause is fixed, dead letters can be requeued and are applied with their versions
    store.failing = false
    expect(
      await requeueDeadLetters(
        redis,
        'wb4',
        dead.map((d) => d.id),
      ),
    ).toBe(6)
    await f.flush()
    for (let i = 0; i < 6; i++) expect(store.value(`k${i}`)).toBe(i)
    expect(await readDeadLetters(redis, 'wb4')).toEqual([])
  })

  it('during a database outage takes no new entries while many wait for a retry, then applies everything', async () => {
    const redis = client()
    const store = new MemoryStore<number>()
    store.failing = true
    const wb = writeBehind<number>({ redis, name: 'wb11' })
    for (let i = 0; i < 100; i++) await wb.write(`k${i}`, i)
    const { f } = flusherFor(redis, 'wb11', store, { batchSize: 5, maxAttempts: 1000 })
    while (f.stats().retries < 100) await sleep(20)
    // at most 4 × batchSize entries are out in retries; the other entries were never delivered
    expect(store.tried.size).toBeLessThanOrEqual(20)
    const [pending] = (await fx.admin().xpending(queueKeys('wb11').stream, 'flushers')) as [number]
    expect(pending).toBeLessThanOrEqual(20)
    expect(await fx.admin().xlen(queueKeys('wb11').stream)).toBe(100)
    store.failing = false
    await wb.flush()
    for (let i = 0; i < 100; i++) expect(store.value(`k${i}`)).toBe(i)
    expect(f.stats().deadLettered).toBe(0)
  })

  it('isolates a poison entry in a batch and dead-letters a Store that returns garbage', async () => {
    const redis = client()
    const store = new BatchMemoryStore<string>()
    store.poison = 'poison'
    const wb = writeBehind<string>({ redis, name: 'wb5' })
    for (const [k, v] of [
      ['a', 'x'],
      ['b', 'poison'],
      ['c', 'y'],
    ] as const)
      await wb.write(k, v)
    const { f } = flusherFor(redis, 'wb5', store, { maxAttempts: 2 })
    await wb.flush()
    expect(store.value('a')).toBe('x')
    expect(store.value('c')).toBe('y')
    expect(store.rows.has('b')).toBe(false)
    const dead = await readDeadLetters(redis, 'wb5')
    expect(dead).toHaveLength(1)
    expect(dead[0]).toMatchObject({ key: 'b', payload: 'J"poison"', attempts: 2 })

    // a Store that returns garbage: dead-lettered with the code, and the value that never reached the
    // database is dropped from the cache, so cache and database agree again
    const garbage = new MemoryStore<string>()
    garbage.garbage = { rows: [] }
    const { cache } = makeCache(fx.url(), 'wb6')
    const wb2 = writeBehind<string>({
      redis,
      name: 'wb6',
      cache,
      flusher: { store: garbage, maxAttempts: 2, backoff: { base: 5, max: 20 } },
    })
    closers.push(() => wb2.close({ timeout: 5_000 }))
    await wb2.write('g', 'v')
    expect(await cache.get('g')).toBe('v')
    await wb2.flush()
    const [d] = await readDeadLetters(redis, 'wb6')
    expect(d).toMatchObject({ key: 'g', code: 'E_STORE_BAD_RESULT', attempts: 2 })
    expect(await cache.get('g')).toBeUndefined()
    expect(garbage.rows.has('g')).toBe(false)
    expect(f.stats().deadLettered).toBe(1)
  })

  it('takes over the entries of a crashed consumer with XAUTOCLAIM', async () => {
    const redis = client()
    const store = new MemoryStore<number>()
    const wb = writeBehind<number>({ redis, name: 'wb7' })
    for (let i = 0; i < 10; i++) await wb.write(`k${i}`, i)
    const { stream } = queueKeys('wb7')
    // a consumer reads everything and dies before acknowledging anything
    await fx.admin().xgroup('CREATE', stream, 'flushers', '0', 'MKSTREAM')
    const read = (await fx
      .admin()
      .xreadgroup('GROUP', 'flushers', 'crashed', 'COUNT', 100, 'STREAMS', stream, '>')) as [
      string,
      unknown[],
    ][]
    expect(read[0]![1]).toHaveLength(10)
    const { f, events } = flusherFor(redis, 'wb7', store, { claimTimeout: 200 })
    await wb.flush()
    for (let i = 0; i < 10; i++) expect(store.value(`k${i}`)).toBe(i)
    expect(f.stats().claimed).toBe(10)
    expect(events.some((e) => e.type === 'claimed')).toBe(true)
    // the crashed consumer, with nothing pending any more, is removed from the group
    for (;;) {
      const names = ((await fx.admin().xinfo('CONSUMERS', stream, 'flushers')) as string[][]).map((r) => r[1])
      if (!names.includes('crashed')) break
      await sleep(50)
    }
    expect(f.stats().prunedConsumers).toBe(1)
  })

  it('reports every database write to the observer', async () => {
    const redis = client()
    const store = new MemoryStore<number>()
    const wb = writeBehind<number>({ redis, name: 'wb10' })
    await wb.write('a', 1)
    await wb.write('b', 2)
    const calls: Array<[string, string, number | undefined]> = []
    flusherFor(redis, 'wb10', store, {
      observer: { record: (l: string, o: string, d?: number) => calls.push([l, o, d]) },
    })
    await wb.flush()
    expect(calls.map(([l, o]) => `${l}:${o}`)).toEqual(['db:set', 'db:set'])
    for (const [, , d] of calls) expect(d).toBeGreaterThanOrEqual(0)
    expect(() => createFlusher({ redis, name: 'x', store, observer: {} as never })).toThrowError(
      new TierkitTypeError(
        'createFlusher: observer must be an object with a record method (a CacheObserver), got an object',
      ),
    )
  })

  it('refuses bad input with typed errors; queue and cache stay as they were', async () => {
    const redis = client()
    const { cache } = makeCache(fx.url(), 'wb8')
    await cache.set('k', 'cached')
    const wb = writeBehind<unknown>({ redis, name: 'wb8', cache })
    const { stream } = queueKeys('wb8')
    for (const key of ['', 3, null] as unknown as string[]) {
      const err = await wb.write(key, 1).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(TierkitTypeError)
      expect((err as TierkitTypeError).code).toBe('E_INVALID_ARGUMENT')
      await expect(wb.remove(key)).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' })
    }
    await expect(wb.write('', 1)).rejects.toThrowError(
      new TierkitTypeError(
        'writeBehind.write: key must be a non-empty string of at most 65536 characters, got ""',
      ),
    )
    await expect(wb.write('k', undefined)).rejects.toThrowError(
      new TierkitTypeError(
        'writeBehind.write: value must be defined (to delete the key, call remove), got undefined',
      ),
    )
    await expect(wb.write('k', 1, { ttl: 0.5 })).rejects.toThrowError(
      new TierkitTypeError(
        'writeBehind.write: options.ttl must be a duration in ms, an integer from 1 to 315360000000, got 0.5',
      ),
    )
    class Point {
      x = 1
    }
    const cycle: Record<string, unknown> = {}
    cycle.self = cycle
    for (const [v, path] of [
      [() => 1, '$'],
      [Symbol('s'), '$'],
      [{ p: new Point() }, '$.p'],
      [cycle, '$.self'],
    ] as const) {
      const err = await wb.write('k', v).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(UnserializableValueError)
      expect(err).toMatchObject({ code: 'E_UNSERIALIZABLE', key: 'k', path })
    }
    expect(await fx.admin().exists(stream)).toBe(0)
    expect(await cache.get('k')).toBe('cached')
    expect(() => writeBehind({ redis, name: 'a{b}' })).toThrowError(
      new TierkitTypeError('writeBehind: name must be a non-empty string without { or }, got "a{b}"'),
    )
    expect(() => createFlusher({ redis, name: 'x', store: new MemoryStore(), maxAttempts: 0 })).toThrowError(
      new TierkitTypeError('createFlusher: maxAttempts must be an integer from 1 to 1000000, got 0'),
    )
    expect(() =>
      writeBehind({ redis, name: 'x', flusher: { store: new MemoryStore(), batchSize: 0 } }),
    ).toThrowError(
      new TierkitTypeError('writeBehind: flusher.batchSize must be an integer from 1 to 1000, got 0'),
    )
    expect(() =>
      createFlusher({ redis, name: 'x', store: new MemoryStore(), blockMs: 50 } as never),
    ).toThrowError(
      new TierkitTypeError('createFlusher: blockMs must be left out (renamed pollInterval), got 50'),
    )
    expect(() =>
      writeBehind({ redis, name: 'x', flusher: { store: new MemoryStore(), claimIdleMs: 50 } as never }),
    ).toThrowError(
      new TierkitTypeError(
        'writeBehind: flusher.claimIdleMs must be left out (renamed claimTimeout), got 50',
      ),
    )
    await expect(requeueDeadLetters(redis, 'x', ['nope'])).rejects.toThrowError(
      new TierkitTypeError('requeueDeadLetters: ids[0] must be a stream entry id ("<ms>-<seq>"), got "nope"'),
    )
    await expect(wb.flush({ timeout: -1 })).rejects.toThrowError(
      new TierkitTypeError(
        'writeBehind.flush: options.timeout must be a duration in ms, an integer from 0 to 2147483647, got -1',
      ),
    )
  })

  it('flush() gives up with a typed error when no flusher drains the queue; nothing is lost', async () => {
    const redis = client()
    const wb = writeBehind<number>({ redis, name: 'wb12' })
    await wb.write('a', 1)
    await wb.write('b', 2)
    const err = await wb.flush({ timeout: 100 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(FlushTimeoutError)
    expect(err).toMatchObject({
      code: 'E_FLUSH_TIMEOUT',
      name: 'FlushTimeoutError',
      queue: 'wb12',
      timeout: 100,
      remaining: 2,
      unreachableShards: 0,
    })
    // the message says what is still pending, that nothing is lost, and what to do
    expect((err as Error).message).toBe(
      'writeBehind.flush: the write-behind queue "wb12" was not drained within 100 ms: 2 entries are still queued. Nothing is lost: they stay queued until a flusher applies them. Check that a flusher runs (createFlusher, or the flusher option) and that its Store succeeds (its retry and dead-letter events), or pass a longer { timeout }',
    )
    const store = new MemoryStore<number>()
    flusherFor(redis, 'wb12', store)
    await wb.flush()
    expect([store.value('a'), store.value('b')]).toEqual([1, 2])
  })

  it('does not acknowledge a write it could not queue, and leaves the cache alone', async () => {
    const server = await startRedis()
    const redis = redisClient(server.url, { maxRetriesPerRequest: 0, enableOfflineQueue: false })
    redis.on('error', () => {})
    closers.push(async () => redis.disconnect())
    // without the offline queue a command sent before the connection is up fails at once: wait for it
    if (redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve))
    const { cache } = makeCache(fx.url(), 'wb9')
    await cache.set('k', 'cached')
    const wb = writeBehind<string>({ redis, name: 'wb9', cache })
    await wb.write('k', 'queued')
    await cache.set('k', 'cached')
    await server.kill()
    const err = await wb.write('k', 'lost').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(QueueWriteError)
    expect((err as QueueWriteError).code).toBe('E_QUEUE_WRITE_FAILED')
    expect(await cache.get('k')).toBe('cached')
  })
})
