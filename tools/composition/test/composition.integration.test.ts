/**
 * The six packages composed the way their READMEs show (src/service.ts), two instances on one real Redis and one
 * PostgreSQL schema, and the numbers checked: each figure `@tierkit/metrics` reports is compared with one the
 * source of that layer counted itself (`L1Cache.stats()`, the database's own query count, the Redis value reads
 * seen by `MONITOR`), every record is accepted, and a write of each strategy is seen through every layer.
 */
import { randomBytes } from 'node:crypto'
import { computeETag } from '@tierkit/cdn-headers'
import { errors as invalidationErrors } from '@tierkit/invalidation'
import { testStore } from '@tierkit/invalidation/testing'
import { L1Cache } from '@tierkit/l1-cache'
import { createCacheMetrics, errors as metricsErrors } from '@tierkit/metrics'
import { type Cache, createCache, errors as redisAsideErrors } from '@tierkit/redis-aside'
import { type RedisServer, startRedis } from '@tierkit/testkit'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { type Database, openDatabase, type User } from '../src/db.js'
import { type Instance, startInstance } from '../src/service.js'

const SEED: User[] = Array.from({ length: 20 }, (_, i) => ({ id: i + 1, name: `user ${i + 1}` }))
/** Where redis-aside keeps the values of the namespace `users` (`ra:<length>:<namespace>:v:<key>`). */
const VALUE_PREFIX = 'ra:5:users:v:'
/** ... and its distributed locks. */
const LOCK_PREFIX = 'ra:5:users:l:'

const schemaName = (what: string): string =>
  `composition_${what}_${process.pid}_${randomBytes(3).toString('hex')}`

/** Waits for `check` (events, not time: the deadline only stops a hang). */
function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  return vi.waitFor(async () => expect(await check(), `waiting for ${what}`).toBe(true), {
    timeout: 30_000,
    interval: 10,
  })
}

/**
 * Redis' own record of the reads: every command the server runs reaches `MONITOR`, scripts' inner calls marked
 * `lua`. `section(fn)` runs `fn` between two marker commands and counts what clients sent meanwhile: the keys of
 * the namespace's values read with GET/MGET, and the distributed locks taken (the lock script's inner SET of a
 * lock key `ra:5:users:l:<key>`; a renewal is a PEXPIRE, a release a DEL).
 */
async function monitorRedis(url: string) {
  const control = new Redis(url)
  const base = new Redis(url)
  const monitor = await base.monitor()
  const seen: Array<{ args: string[]; source: string }> = []
  monitor.on('monitor', (_time: string, args: string[], source: string) => seen.push({ args, source }))
  let n = 0
  const mark = async (): Promise<number> => {
    const marker = `composition:marker:${n++}`
    await control.get(marker)
    await until(() => seen.some((e) => e.args[1] === marker), `the monitor to see ${marker}`)
    return seen.findIndex((e) => e.args[1] === marker)
  }
  return {
    async section(fn: () => Promise<void>): Promise<{ valueReads: number; locksTaken: number }> {
      const from = await mark()
      await fn()
      const to = await mark()
      let valueReads = 0
      let locksTaken = 0
      for (const e of seen.slice(from + 1, to)) {
        const cmd = e.args[0]?.toLowerCase()
        if (e.source === 'lua') {
          if (cmd === 'set' && e.args[1]?.startsWith(LOCK_PREFIX)) locksTaken++
        } else if (cmd === 'get' || cmd === 'mget') {
          valueReads += e.args.slice(1).filter((k) => k.startsWith(VALUE_PREFIX)).length
        }
      }
      return { valueReads, locksTaken }
    },
    async close(): Promise<void> {
      monitor.disconnect()
      base.disconnect()
      await control.quit()
    },
  }
}

/** `tierkit_cache_invalid_records_total{reason}` from the Prometheus text, by reason. */
function invalidRecords(prometheus: string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const m of prometheus.matchAll(/^tierkit_cache_invalid_records_total\{reason="([\w-]+)"\} (\d+)$/gm)) {
    out[m[1]!] = Number(m[2])
  }
  return out
}

describe('the six packages composed as their READMEs show, two instances, real Redis and PostgreSQL', () => {
  let redis: RedisServer
  let db: Database
  let a: Instance
  let b: Instance
  /** a cache without L1 and without observer: reads what L2 holds, counted nowhere */
  let probe: Cache
  let probeRedis: Redis
  let monitor: Awaited<ReturnType<typeof monitorRedis>>

  beforeAll(async () => {
    redis = await startRedis()
    db = await openDatabase(schemaName('users'), SEED)
    const common = { redisUrl: redis.url, db, channel: 'app:invalidate', queue: 'users' }
    a = await startInstance({ ...common, name: 'a', flusher: true })
    b = await startInstance({ ...common, name: 'b' })
    probeRedis = new Redis(redis.url)
    probe = createCache({ redis: probeRedis, namespace: 'users', ttl: 60_000 })
    monitor = await monitorRedis(redis.url)
  })
  afterAll(async () => {
    await monitor?.close()
    await probe?.close()
    await probeRedis?.quit()
    await b?.close() // b first: a runs the flusher that a's own queue waits for
    await a?.close()
    await db?.close()
    await redis?.stop()
  })

  it('per-layer counts: metrics equal the L1s own stats, the Redis value reads and the database queries', async () => {
    const m0 = a.metrics.snapshot().byLayer
    const s0 = a.l1.stats()
    const q0 = { ...db.counts }
    let asked = 0 // keys asked of the cache by this test
    const redisSide = await monitor.section(async () => {
      for (let id = 1; id <= 9; id++) expect((await a.readUser(id))?.name).toBe(`user ${id}`) // cold
      for (let id = 1; id <= 9; id++) expect((await a.readUser(id))?.name).toBe(`user ${id}`) // from L1
      expect(await a.readUser(404)).toBeNull() // not found: cached as null
      expect(await a.readUser(404)).toBeNull()
      asked += 20
      a.users.evictLocal() // this instance's L1 only: the next reads find L2
      for (let id = 1; id <= 3; id++) expect((await a.readUser(id))?.name).toBe(`user ${id}`)
      asked += 3
      const many = await a.readUsers([1, 2, 3, 4, 5, 10, 405]) // L1, L2 and one loader call for the rest
      expect(many.map((u) => u?.name ?? null)).toEqual([
        'user 1',
        'user 2',
        'user 3',
        'user 4',
        'user 5',
        'user 10',
        null,
      ])
      asked += 7
    })
    const m = a.metrics.snapshot().byLayer
    const s = a.l1.stats()
    const delta = (layer: 'l1' | 'l2' | 'db', field: 'hits' | 'misses' | 'stale' | 'errors' | 'lookups') =>
      m[layer][field] - m0[layer][field]
    const l2Lookups =
      delta('l2', 'hits') + delta('l2', 'misses') + delta('l2', 'stale') + delta('l2', 'errors')
    const loads = db.counts.findUser - q0.findUser + (db.counts.findUsers - q0.findUsers)
    const figures = {
      // the l1 layer: what redis-aside recorded against what the L1Cache counted itself
      l1Hits: [delta('l1', 'hits'), s.hits - s0.hits],
      l1Misses: [delta('l1', 'misses'), s.misses - s0.misses],
      // counted once: one l1 lookup per key asked, one l2 lookup per l1 miss
      l1Lookups: [delta('l1', 'lookups') + delta('l1', 'stale'), asked],
      l2Lookups: [l2Lookups, delta('l1', 'misses') + delta('l1', 'stale')],
      // the l2 layer: what redis-aside recorded against the value reads Redis ran. With lock.distributed (the
      // README's wiring) a miss reads the key once more after taking the lock (a value stored meanwhile is
      // served): the same lookup, recorded once, so Redis runs one read more per lock taken
      l2Reads: [l2Lookups, redisSide.valueReads - redisSide.locksTaken],
      // one lock per single-key load (getOrLoadMany's lock is in-process only)
      locks: [db.counts.findUser - q0.findUser, redisSide.locksTaken],
      // the db layer: loader calls recorded against the queries the database ran
      dbLoads: [delta('db', 'hits') + delta('db', 'errors'), loads],
      l2MissesLoaded: [
        delta('l2', 'misses'),
        db.counts.findUser - q0.findUser + (db.counts.findUsersKeys - q0.findUsersKeys),
      ],
    }
    console.log('composition figures [metrics, source]:', JSON.stringify(figures))
    expect(figures).toEqual({
      l1Hits: [figures.l1Hits[1], figures.l1Hits[1]],
      l1Misses: [figures.l1Misses[1], figures.l1Misses[1]],
      l1Lookups: [asked, asked],
      l2Lookups: [figures.l2Lookups[1], figures.l2Lookups[1]],
      l2Reads: [figures.l2Reads[1], figures.l2Reads[1]],
      locks: [figures.locks[1], figures.locks[1]],
      dbLoads: [loads, loads],
      l2MissesLoaded: [figures.l2MissesLoaded[1], figures.l2MissesLoaded[1]],
    })
    // and the traffic really went through every layer (a scenario that skipped one would prove nothing)
    expect([s.hits - s0.hits, s.misses - s0.misses, redisSide.valueReads, loads].every((x) => x > 0)).toBe(
      true,
    )
    expect(delta('l2', 'hits')).toBeGreaterThan(0)
  })

  it('no layer counted twice: metrics refuses a second source for l1, and accepted every record', async () => {
    const before = a.metrics.snapshot().byLayer.l1
    expect(() => a.metrics.watch('l1', a.l1)).toThrow(metricsErrors.E_LAYER_CONFLICT)
    await a.readUser(1)
    const after = a.metrics.snapshot().byLayer.l1
    expect(after.hits - before.hits).toBe(1) // counted once, by redis-aside alone
    for (const inst of [a, b]) {
      const invalid = invalidRecords(inst.metrics.toPrometheus())
      expect([inst.name, invalid]).toEqual([
        inst.name,
        { 'unknown-layer': 0, 'unknown-outcome': 0, 'watched-layer': 0, 'invalid-duration': 0 },
      ])
      expect(inst.metrics.snapshot().invalid).toBe(0)
      expect(inst.events.metrics).toEqual([])
    }
  })

  it('the checks have teeth: the double wiring of issue 16 (watch the L1 and hand redis-aside the observer) is caught', async () => {
    // a consumer who also watches the L1 that redis-aside records: metrics counts the layer from stats() and
    // refuses redis-aside's l1 records, which the "every record accepted" check above would report
    const metrics = createCacheMetrics()
    const l1 = new L1Cache<string, unknown>({ max: 100 })
    metrics.watch('l1', l1)
    const client = new Redis(redis.url)
    const cache = createCache({
      redis: client,
      l1,
      namespace: 'twice',
      ttl: 60_000,
      observer: metrics.observer,
    })
    try {
      for (let i = 0; i < 3; i++) await cache.getOrLoad('k', async () => 'v')
      const invalid = invalidRecords(metrics.toPrometheus())
      expect([invalid['watched-layer'], metrics.snapshot().byLayer.l1.hits, l1.stats().hits]).toEqual([
        3, 2, 2,
      ])
    } finally {
      await cache.close()
      await l1.close()
      await client.quit()
    }
  })

  /** The public HTTP answer of an instance: body, ETag and caching headers. */
  const get = async (inst: Instance, id: number, etag?: string) => {
    const res = await fetch(`${inst.url}/api/public/users/${id}`, {
      headers: etag === undefined ? {} : { 'if-none-match': etag },
    })
    const body = await res.text()
    return {
      status: res.status,
      body,
      etag: res.headers.get('etag'),
      cc: res.headers.get('cache-control'),
      cdn: res.headers.get('cdn-cache-control'),
      tag: res.headers.get('cache-tag'),
    }
  }
  const busMessage = (inst: Instance, key: string): boolean =>
    inst.events.bus.some((e) => e.type === 'message' && e.message.keys.includes(key))

  it('deleteOnUpdate: the database, L2, the other instance’s L1 (bus) and the HTTP answer’s ETag all move', async () => {
    expect((await b.readUser(1))?.name).toBe('user 1') // b holds the old value in its L1
    const first = await get(a, 1)
    expect([first.status, first.etag]).toEqual([200, computeETag(first.body)]) // the ETag is the body's
    expect([first.cc, first.cdn, first.tag]).toEqual([
      'public, max-age=600, stale-while-revalidate=60',
      'max-age=600, stale-while-revalidate=60',
      'public',
    ])
    const bMisses = b.l1.stats().misses
    const loads = db.counts.findUser

    await a.deleting.write('user:1', { id: 1, name: 'Ada' })

    expect(await db.peek('user:1')).toEqual({ id: 1, name: 'Ada' }) // the database
    expect(await probe.get('user:1')).toBeUndefined() // L2: the old value is gone (a tombstone)
    await until(() => busMessage(b, 'user:1'), 'the bus message at b')
    expect((await b.readUser(1))?.name).toBe('Ada') // b's L1 was evicted: it missed and loaded the new row
    expect([b.l1.stats().misses - bMisses, db.counts.findUser - loads]).toEqual([1, 1])
    const second = await get(a, 1, first.etag!) // a's own L1 was cleared by the delete; L2 has b's fill
    expect(JSON.parse(second.body)).toEqual({ id: 1, name: 'Ada' })
    expect([second.status, second.etag]).toEqual([200, computeETag(second.body)])
    expect(second.etag).not.toBe(first.etag)
    expect((await get(a, 1, second.etag!)).status).toBe(304)
    expect(db.counts.findUser - loads).toBe(1) // a served it from L2
  })

  it('writeThrough: the new value in the database and L2 at once, the other instance reads it from L2', async () => {
    expect((await b.readUser(2))?.name).toBe('user 2')
    const before = await get(b, 2)
    const loads = db.counts.findUser
    const l2Hits = b.metrics.snapshot().byLayer.l2.hits

    await a.through.write('user:2', { id: 2, name: 'Grace' })

    expect(await db.peek('user:2')).toEqual({ id: 2, name: 'Grace' })
    expect(await probe.get('user:2')).toEqual({ id: 2, name: 'Grace' }) // L2 holds the new value
    await until(() => busMessage(b, 'user:2'), 'the bus message at b')
    const after = await get(b, 2, before.etag!) // b: L1 evicted by the bus, L2 hit, no load
    expect(JSON.parse(after.body)).toEqual({ id: 2, name: 'Grace' })
    expect([after.status, after.etag]).toEqual([200, computeETag(after.body)])
    expect([db.counts.findUser - loads, b.metrics.snapshot().byLayer.l2.hits - l2Hits]).toEqual([0, 1])
  })

  it('writeBehind: the exact value in the cache at once, in the other instance, and in the database once flushed', async () => {
    const value: User = {
      id: 3,
      name: 'Lin',
      seen: new Set(['a', 'b']),
      scores: new Map([['x', 1.5]]),
      at: new Date('2026-12-07T10:00:00.000Z'),
      big: 2n ** 70n,
      note: undefined,
    }
    expect((await b.readUser(3))?.name).toBe('user 3')
    const loads = db.counts.findUser
    const queued = await a.queue.write('user:3', value) // acknowledged: queued in Redis, cache set

    expect(await probe.get('user:3')).toEqual(value) // L2, exactly (Set, Map, Date, bigint, undefined)
    expect(await a.readUser(3)).toEqual(value) // a's L1
    await until(() => busMessage(b, 'user:3'), 'the bus message at b')
    expect(await b.readUser(3)).toEqual(value) // b's L1 evicted, read from L2
    expect(db.counts.findUser - loads).toBe(0)
    await a.queue.flush({ timeout: 30_000 }) // the flusher applied it
    const stored = await db.peek('user:3')
    expect(stored).toEqual(value)
    expect(Object.hasOwn(stored as object, 'note')).toBe(true) // undefined kept apart from absent
    expect(await db.versionOf('user:3')).toBe(queued.version)
    const http = await get(b, 3)
    expect([http.status, JSON.parse(http.body), http.etag]).toEqual([
      200,
      { id: 3, name: 'Lin' },
      computeETag(http.body),
    ])
    // what the exact serializer cannot encode exactly (an accessor) is refused before anything is queued or cached
    const accessor: User = {
      id: 4,
      get name() {
        return 'computed'
      },
    }
    await expect(a.queue.write('user:4', accessor)).rejects.toThrow(invalidationErrors.E_UNSERIALIZABLE)
    expect(await probe.get('user:4')).toEqual({ id: 4, name: 'user 4' }) // L2 kept what it had
    expect(await db.peek('user:4')).toEqual({ id: 4, name: 'user 4' })
  })

  it('a CPU task through the worker pool gives what the main thread computes', async () => {
    const n = 200_000
    let local = 0
    for (let i = 0; i < n; i++) local += i * i
    const completed = a.pool.stats().completed
    expect(await a.pool.run('sumSquares', n)).toBe(local)
    const users = (await a.readUsers([5, 6, 7])).filter((u) => u !== null)
    const rows = users.map((u) => ({ id: u.id, amount: u.id * 10 }))
    expect(await a.pool.run('hashReport', rows)).toEqual({ count: 3, total: 180 })
    expect(await a.pool.map('sumSquares', [10, 20])).toEqual([285, 2470])
    const stats = a.pool.stats()
    expect(stats.completed - completed).toBe(4)
    expect(stats.busyTime).toBeGreaterThan(0)
    expect(stats.busyTime).toBeLessThanOrEqual(stats.uptime * stats.maxThreads)
    expect(a.events.pool.filter((e) => e.type === 'crash')).toEqual([])
  })

  it('a caller whose signal is aborted stops waiting with AbortedError; null from negative caching', async () => {
    const loads = db.counts.findUser
    const aborted = a.readUser(11, AbortSignal.abort(new Error('the request went away')))
    await expect(aborted).rejects.toThrow(redisAsideErrors.E_ABORTED)
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError', code: 'E_ABORTED' })
    expect(db.counts.findUser - loads).toBe(0) // an already aborted signal starts nothing
    expect(await a.users.get('user:404')).toBeNull() // a cached "not found" is null, as the type says
    expect(await a.users.get('user:999')).toBeUndefined() // never loaded: a miss
  })
})

// the contract the write-behind flusher relies on, run against this consumer's own Store (the README's shape)
testStore('the composition users table (PostgreSQL)', async () => {
  const db = await openDatabase(schemaName('contract'))
  return {
    store: {
      save: (key: string, value: unknown, { version }: { version: number | undefined }) =>
        db.upsertUser(key, value, version),
      remove: (key: string, { version }: { version: number | undefined }) => db.deleteUser(key, version),
    },
    read: (key) => db.peek(key),
    close: () => db.close(),
  }
})
