import { setTimeout as sleep } from 'node:timers/promises'
import { startRedis } from '@tierkit/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  CacheDeleteError,
  CacheWriteError,
  createInvalidationBus,
  deleteOnUpdate,
  PublishError,
  RepairQueueFullError,
  StoreError,
  StoreResultError,
  TierkitTypeError,
  type WriterEvent,
  writeThrough,
} from '../src/index.js'
import { makeCache } from './helpers/cache.js'
import { adminClient, redisClient } from './helpers/clients.js'
import { MemoryStore } from './helpers/memory-store.js'

let url: string
const clients: Array<{ quit(): Promise<unknown> }> = []
beforeAll(async () => {
  url = (await startRedis()).url
})
afterAll(async () => {
  await Promise.all(clients.map((c) => c.quit().catch(() => {})))
})

/** The client of the test's own inspection (KEYS, PTTL): the admin connection in the secure run. */
function adminOf() {
  const r = adminClient(url)
  clients.push(r)
  return r
}

function setup(namespace: string, extra: Parameters<typeof makeCache>[2] = {}) {
  const a = makeCache(url, namespace, extra)
  // a second instance on its own connection: reads what Redis holds, not A's L1
  const b = makeCache(url, namespace)
  clients.push(a.redis, b.redis)
  const store = new MemoryStore<unknown>()
  return { a, b, store }
}

describe('deleteOnUpdate', () => {
  it('writes the database, then deletes the key from L1 and Redis', async () => {
    const { a, b, store } = setup('dou1')
    await a.cache.set('user:1', { name: 'old' })
    expect(await b.cache.get('user:1')).toEqual({ name: 'old' })
    const w = deleteOnUpdate({ cache: a.cache, store })
    await w.write('user:1', { name: 'new' })
    expect(store.value('user:1')).toEqual({ name: 'new' })
    expect(a.l1.size).toBe(0)
    const fresh = makeCache(url, 'dou1')
    clients.push(fresh.redis)
    expect(await fresh.cache.get('user:1')).toBeUndefined()
    // the next read loads the new value
    expect(await a.cache.getOrLoad('user:1', () => store.load('user:1'))).toEqual({ name: 'new' })
  })

  it('leaves the cache untouched when the database write throws', async () => {
    const { a, store } = setup('dou2')
    await a.cache.set('k', 'cached')
    store.failing = true
    const w = deleteOnUpdate({ cache: a.cache, store })
    const err = await w.write('k', 'new').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(StoreError)
    expect((err as StoreError).code).toBe('E_STORE_FAILED')
    expect(((err as StoreError).cause as Error).message).toBe('store down')
    expect(await a.cache.get('k')).toBe('cached')
    expect(store.rows.has('k')).toBe(false)
  })

  it('refuses a Store that returns garbage, cache untouched', async () => {
    const { a, store } = setup('dou3')
    await a.cache.set('k', 'cached')
    store.garbage = { rowCount: 1 }
    const w = deleteOnUpdate({ cache: a.cache, store })
    const err = await w.write('k', 'new').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(StoreResultError)
    expect((err as StoreResultError).code).toBe('E_STORE_BAD_RESULT')
    expect((err as StoreResultError).result).toEqual({ rowCount: 1 })
    expect(await a.cache.get('k')).toBe('cached')
    store.garbage = 42
    await expect(w.remove('k')).rejects.toMatchObject({ code: 'E_STORE_BAD_RESULT', operation: 'remove' })
    expect(await a.cache.get('k')).toBe('cached')
  })

  it('remove deletes from the database and the cache', async () => {
    const { a, store } = setup('dou4')
    const w = deleteOnUpdate({ cache: a.cache, store })
    await w.write('k', 1)
    await a.cache.set('k', 1)
    await w.remove('k')
    expect(store.value('k')).toBeUndefined()
    expect(store.removes).toBe(1)
    expect(await a.cache.get('k')).toBeUndefined()
  })
})

describe('writeThrough', () => {
  it('writes the database, then sets the new value in L2 and L1', async () => {
    const { a, b, store } = setup('wt1')
    await a.cache.set('k', 'old')
    const w = writeThrough({ cache: a.cache, store, ttl: 30_000 })
    await w.write('k', { v: 2 })
    expect(store.value('k')).toEqual({ v: 2 })
    expect(await a.cache.get('k')).toEqual({ v: 2 })
    expect(await b.cache.get('k')).toEqual({ v: 2 })
    const admin = adminOf()
    const [redisKey] = await admin.keys('*wt1*')
    const pttl = await admin.pttl(redisKey!)
    expect(pttl).toBeGreaterThan(0)
    expect(pttl).toBeLessThanOrEqual(30_000)
  })

  it('uses a per-key TTL computed from the value', async () => {
    const { a, store } = setup('wt-ttl')
    const w = writeThrough<{ ttl: number }>({ cache: a.cache, store, ttl: (_k, v) => v.ttl })
    // (above redis-aside's 30 s floor: every key it writes lives at least its tombstoneTtl in Redis)
    await w.write('short', { ttl: 40_000 })
    await w.write('long', { ttl: 400_000 })
    const admin = adminOf()
    const keys = await admin.keys('*wt-ttl*')
    const ttls = new Map<string, number>()
    for (const k of keys) ttls.set(k.endsWith('short') ? 'short' : 'long', await admin.pttl(k))
    expect(ttls.get('short')).toBeGreaterThan(0)
    expect(ttls.get('short')).toBeLessThanOrEqual(40_000)
    expect(ttls.get('long')).toBeGreaterThan(40_000)
    expect(ttls.get('long')).toBeLessThanOrEqual(400_000)
  })

  it('deletes the key instead of leaving it stale when the cache refuses the value', async () => {
    // redis-aside refuses values over maxValueBytes: the database takes it, the cache cannot.
    const { a, b, store } = setup('wt2')
    const small = makeCache(url, 'wt2')
    clients.push(small.redis)
    await a.cache.set('k', 'old')
    expect(await b.cache.get('k')).toBe('old')
    const { createCache } = await import('@tierkit/redis-aside')
    const tiny = createCache({ redis: a.redis, l1: a.l1, namespace: 'wt2', ttl: 60_000, maxValueBytes: 64 })
    const w = writeThrough({ cache: tiny, store })
    const big = 'x'.repeat(1000)
    const err = await w.write('k', big).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(CacheWriteError)
    expect((err as CacheWriteError).code).toBe('E_CACHE_WRITE_FAILED')
    expect((err as CacheWriteError).cacheDeleted).toBe(true)
    expect(store.value('k')).toBe(big)
    // nobody serves the stale 'old' any more
    expect(await small.cache.get('k')).toBeUndefined()
    expect(await tiny.get('k')).toBeUndefined()
  })

  it('leaves the cache untouched when the database write fails', async () => {
    const { a, store } = setup('wt3')
    await a.cache.set('k', 'cached')
    store.failing = true
    const w = writeThrough({ cache: a.cache, store })
    await expect(w.write('k', 'new')).rejects.toMatchObject({ code: 'E_STORE_FAILED', operation: 'save' })
    expect(await a.cache.get('k')).toBe('cached')
  })
})

describe('observer', () => {
  it('records every database write with its outcome', async () => {
    const { a, store } = setup('obs1')
    const calls: string[] = []
    const observer = { record: (l: string, o: string) => calls.push(`${l}:${o}`) }
    const w = writeThrough({ cache: a.cache, store, observer })
    await w.write('k', 1)
    store.failing = true
    await expect(w.write('k', 2)).rejects.toMatchObject({ code: 'E_STORE_FAILED' })
    store.failing = false
    store.garbage = 'yes'
    await expect(deleteOnUpdate({ cache: a.cache, store, observer }).write('k', 3)).rejects.toMatchObject({
      code: 'E_STORE_BAD_RESULT',
    })
    expect(calls).toEqual(['db:set', 'db:error', 'db:error'])
  })
})

describe('bad input', () => {
  it('refuses empty keys, undefined values and bad options without touching anything', async () => {
    const { a, store } = setup('bad1')
    await a.cache.set('k', 'cached')
    for (const w of [deleteOnUpdate({ cache: a.cache, store }), writeThrough({ cache: a.cache, store })]) {
      for (const key of ['', 1, null, undefined] as unknown as string[]) {
        const err = await w.write(key, 'v').catch((e: unknown) => e)
        expect(err).toBeInstanceOf(TierkitTypeError)
        expect(err).toBeInstanceOf(TypeError)
        expect((err as TierkitTypeError).code).toBe('E_INVALID_ARGUMENT')
        await expect(w.remove(key)).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' })
      }
      await expect(w.write('k', undefined)).rejects.toThrow(
        /^(deleteOnUpdate|writeThrough)\.write: value must be defined \(to delete the key, call remove\), got undefined$/,
      )
    }
    await expect(deleteOnUpdate({ cache: a.cache, store }).write('', 'v')).rejects.toThrowError(
      new TierkitTypeError(
        'deleteOnUpdate.write: key must be a non-empty string of at most 65536 characters, got ""',
      ),
    )
    await expect(writeThrough({ cache: a.cache, store }).remove(1 as never)).rejects.toThrowError(
      new TierkitTypeError(
        'writeThrough.remove: key must be a non-empty string of at most 65536 characters, got 1',
      ),
    )
    await expect(writeThrough({ cache: a.cache, store }).write('k', undefined)).rejects.toThrowError(
      new TierkitTypeError(
        'writeThrough.write: value must be defined (to delete the key, call remove), got undefined',
      ),
    )
    expect(() => writeThrough({ cache: a.cache, store, ttl: -1 })).toThrow(TypeError)
    expect(() => writeThrough({ cache: a.cache, store, ttl: -1 })).toThrowError(
      new TierkitTypeError(
        'writeThrough: ttl must be a duration in ms, an integer from 1 to 315360000000, got -1',
      ),
    )
    expect(() => deleteOnUpdate({ cache: {} as never, store })).toThrowError(
      new TierkitTypeError(
        'deleteOnUpdate: cache must be a cache with set, delete, deleteMany and evictLocal methods (a WritableCache), got an object',
      ),
    )
    expect(() => deleteOnUpdate({ cache: a.cache, store: { save() {} } as never })).toThrowError(
      new TierkitTypeError(
        'deleteOnUpdate: store must be a Store with save and remove methods, got an object',
      ),
    )
    expect(() => deleteOnUpdate(null as never)).toThrowError(
      new TierkitTypeError('deleteOnUpdate: options must be an object, got null'),
    )
    await expect(writeThrough({ cache: a.cache, store }).write('k', 1, 5 as never)).rejects.toThrowError(
      new TierkitTypeError('writeThrough.write: options must be an object, got 5'),
    )
    const w = writeThrough<{ t: unknown }>({ cache: a.cache, store, ttl: (_k, v) => v.t as number })
    await expect(w.write('k', { t: 'soon' })).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' })
    expect(store.saves).toBe(0)
    expect(store.removes).toBe(0)
    expect(await a.cache.get('k')).toBe('cached')
  })
})

describe('TTL validation (issue 15, defect 5)', () => {
  it('writeThrough with TTL 1000.25 is refused before the database is written', async () => {
    const { a, b, store } = setup('ttl5a')
    await a.cache.set('k', 'cached')
    const w = writeThrough({ cache: a.cache, store })
    const err = await w.write('k', 'new', { ttl: 1000.25 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TierkitTypeError)
    expect((err as Error).message).toBe(
      'writeThrough.write: options.ttl must be a duration in ms, an integer from 1 to 315360000000, got 1000.25',
    )
    expect(store.saves).toBe(0)
    expect(await a.cache.get('k')).toBe('cached')
    expect(await b.cache.get('k')).toBe('cached')
  })

  it('refuses non-integer, non-finite and absurd TTLs before anything is written', async () => {
    const { a, store } = setup('ttl5')
    await a.cache.set('k', 'cached')
    const bad = [
      1.5,
      1500.5,
      1000.25,
      0.5,
      1e300,
      Number.NaN,
      -1,
      0,
      Number.POSITIVE_INFINITY,
      315_360_000_001,
    ]
    // at construction time
    for (const ttl of bad) {
      expect(() => writeThrough({ cache: a.cache, store, ttl })).toThrowError(
        new TierkitTypeError(
          `writeThrough: ttl must be a duration in ms, an integer from 1 to 315360000000, got ${ttl}`,
        ),
      )
    }
    // per call, and from a TTL function
    const w = writeThrough<{ t: number }>({ cache: a.cache, store })
    const fromValue = writeThrough<{ t: number }>({ cache: a.cache, store, ttl: (_k, v) => v.t })
    for (const ttl of bad) {
      const perCall = await w.write('k', { t: 1 }, { ttl }).catch((e: unknown) => e)
      expect(perCall).toBeInstanceOf(TierkitTypeError)
      expect((perCall as Error).message).toBe(
        `writeThrough.write: options.ttl must be a duration in ms, an integer from 1 to 315360000000, got ${ttl}`,
      )
      const fn = await fromValue.write('k', { t: ttl }).catch((e: unknown) => e)
      expect(fn).toBeInstanceOf(TierkitTypeError)
      expect((fn as Error).message).toBe(
        `writeThrough.write: ttl("k") must be a duration in ms, an integer from 1 to 315360000000, got ${ttl}`,
      )
    }
    // nothing was written anywhere: not the database, not the cache
    expect(store.saves).toBe(0)
    expect(store.tried.size).toBe(0)
    expect(await a.cache.get('k')).toBe('cached')
    // a valid integer TTL still works, at the bound too
    await w.write('k', { t: 2 }, { ttl: 315_360_000_000 })
    expect(store.value('k')).toEqual({ t: 2 })
  })
})

describe('background repair of failed invalidations (issue 15, defect 9)', () => {
  it('a failed delete is queued and retried until Redis is back; a full queue is a typed error, never silent', async () => {
    const server = await startRedis({ appendonly: true })
    const a = makeCache(server.url, 'rep1')
    clients.push(a.redis)
    const store = new MemoryStore<unknown>()
    const events: WriterEvent[] = []
    const w = deleteOnUpdate({
      cache: a.cache,
      store,
      repair: { maxKeys: 2 },
      onEvent: (e) => events.push(e),
    })
    for (const k of ['k1', 'k2', 'k3']) await a.cache.set(k, 'old')
    await server.stop()
    const e1 = await w.write('k1', 'new').catch((e: unknown) => e)
    const e2 = await w.remove('k2').catch((e: unknown) => e)
    const e3 = await w.write('k3', 'new').catch((e: unknown) => e)
    expect(e1).toBeInstanceOf(CacheDeleteError)
    expect(e2).toBeInstanceOf(CacheDeleteError)
    expect(e3).toBeInstanceOf(RepairQueueFullError)
    expect(e3).toMatchObject({ code: 'E_REPAIR_QUEUE_FULL', key: 'k3', maxKeys: 2 })
    expect((e3 as RepairQueueFullError).cause).toBeInstanceOf(CacheDeleteError)
    expect(events.filter((e) => e.type === 'repair-overflow')).toEqual([
      { type: 'repair-overflow', key: 'k3', maxKeys: 2 },
    ])
    expect(w.stats()).toEqual({ pendingRepairs: 2, repaired: 0, overflowed: 1 })
    // the database has every write
    expect([store.value('k1'), store.value('k2'), store.value('k3')]).toEqual(['new', undefined, 'new'])

    await server.restart()
    for (let i = 0; i < 200 && w.stats().pendingRepairs > 0; i++) await sleep(50)
    expect(w.stats()).toEqual({ pendingRepairs: 0, repaired: 2, overflowed: 1 })
    expect(events.some((e) => e.type === 'repaired')).toBe(true)
    // k1 and k2 are invalidated in Redis (a fresh instance misses them)
    const fresh = makeCache(server.url, 'rep1')
    clients.push(fresh.redis)
    await fresh.redis.ping()
    expect(await fresh.cache.get('k1')).toBeUndefined()
    expect(await fresh.cache.get('k2')).toBeUndefined()
  })

  it('writeThrough: a failed publish is retried until the other instances are told', async () => {
    const busServer = await startRedis()
    const a = makeCache(url, 'rep2')
    const b = makeCache(url, 'rep2')
    clients.push(a.redis, b.redis)
    const busA = redisClient(busServer.url, { maxRetriesPerRequest: 1, retryStrategy: () => 50 })
    const busB = redisClient(busServer.url, { maxRetriesPerRequest: 1, retryStrategy: () => 50 })
    for (const r of [busA, busB]) r.on('error', () => {})
    clients.push(busA, busB)
    const ba = createInvalidationBus({ redis: busA, channel: 'rep2', caches: [a.cache] })
    const bb = createInvalidationBus({ redis: busB, channel: 'rep2', caches: [b.cache] })
    clients.push({ quit: () => ba.close() }, { quit: () => bb.close() })
    await Promise.all([ba.ready(), bb.ready()])
    const store = new MemoryStore<unknown>()
    const w = writeThrough({ cache: a.cache, store, bus: ba })
    await a.cache.set('k', 'old')
    expect(await b.cache.get('k')).toBe('old') // in B's L1
    await busServer.stop()
    const err = await w.write('k', 'new').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(PublishError)
    expect(w.stats().pendingRepairs).toBe(1)
    expect(await b.cache.get('k')).toBe('old') // B was not told (yet)
    await busServer.restart()
    for (let i = 0; i < 200 && w.stats().pendingRepairs > 0; i++) await sleep(50)
    let got: unknown = 'old'
    for (let i = 0; i < 200 && got === 'old'; i++) {
      await sleep(50)
      got = await b.cache.get('k')
    }
    expect(got).toBe('new')
    expect(w.stats()).toMatchObject({ pendingRepairs: 0, repaired: 1 })
  })

  it('refuses bad repair options with exact messages', () => {
    const { a, store } = setup('rep3')
    for (const maxKeys of [0, 1.5, -1, Number.NaN]) {
      expect(() => deleteOnUpdate({ cache: a.cache, store, repair: { maxKeys } })).toThrowError(
        new TierkitTypeError(
          `deleteOnUpdate: repair.maxKeys must be an integer from 1 to 100000000, got ${maxKeys}`,
        ),
      )
    }
    expect(() => writeThrough({ cache: a.cache, store, repair: { retryDelay: 0 } })).toThrowError(
      new TierkitTypeError(
        'writeThrough: repair.retryDelay must be a duration in ms, an integer from 1 to 2147483647, got 0',
      ),
    )
    expect(() => writeThrough({ cache: a.cache, store, repair: { retryMs: 100 } as never })).toThrowError(
      new TierkitTypeError('writeThrough: repair.retryMs must be left out (renamed retryDelay), got 100'),
    )
    expect(() => writeThrough({ cache: a.cache, store, repair: 5 as never })).toThrowError(
      new TierkitTypeError('writeThrough: repair must be an object, got 5'),
    )
    expect(() => writeThrough({ cache: a.cache, store, onEvent: 'x' as never })).toThrowError(
      new TierkitTypeError('writeThrough: onEvent must be a function, got "x"'),
    )
  })
})
