/**
 * A sharded write-behind queue (the `shards` option; 16 by default on a Cluster, see
 * write-behind-cluster.integration.test.ts), here on a single Redis: writes spread over the shards, a key
 * stays in its shard, a flusher given fewer shards than the writers still reads them all, dead letters of
 * every shard are listed and requeued, bad options are refused.
 */
import { describe, expect, it, vi } from 'vitest'
import {
  createFlusher,
  type FlusherEvent,
  queueKeys,
  readDeadLetters,
  requeueDeadLetters,
  TierkitTypeError,
  writeBehind,
} from '../src/index.js'
import { MemoryStore } from './helpers/memory-store.js'
import { useRedisFixture } from './helpers/redis.js'

const fx = useRedisFixture()

describe('a sharded write-behind queue', () => {
  it('spreads keys over the shards, keeps each key in one shard, and applies the last write of every key', async () => {
    const redis = fx.client()
    const name = 'sh1'
    const wb = writeBehind<number>({ redis, name, shards: 4 })
    const last = new Map<string, number>()
    for (let i = 0; i < 400; i++) {
      const k = `k${i % 40}`
      await wb.write(k, i)
      last.set(k, i)
    }
    const lengths = await Promise.all([0, 1, 2, 3].map((s) => fx.admin().xlen(queueKeys(name, s).stream)))
    expect(lengths.filter((n) => n > 0)).toHaveLength(4) // every shard got writes
    expect(lengths.reduce((a, b) => a + b, 0)).toBe(400)
    // one key, one shard: each shard's keys are disjoint
    const keysOf = await Promise.all(
      [0, 1, 2, 3].map(async (s) => {
        const raw = (await fx.admin().xrange(queueKeys(name, s).stream, '-', '+')) as Array<
          [string, string[]]
        >
        return new Set(raw.map(([, f]) => f[1]))
      }),
    )
    expect(keysOf.reduce((n, set) => n + set.size, 0)).toBe(40)
    expect(await fx.admin().get(`wb:{${name}}:shards`)).toBe('4') // recorded for the flushers
    const store = new MemoryStore<number>()
    const flusher = createFlusher({ redis, name, store, shards: 4, pollInterval: 50 })
    fx.closers.push(() => flusher.close({ timeout: 5_000 }))
    await wb.flush({ timeout: 20_000 })
    expect([...last].filter(([k, v]) => store.value(k) !== v)).toEqual([])
    expect(flusher.stats().saved).toBe(40)
  })

  it('a flusher given fewer shards than the writers reads every shard they recorded', async () => {
    const redis = fx.client()
    const name = 'sh2'
    const wb = writeBehind<number>({ redis, name, shards: 8 })
    for (let i = 0; i < 80; i++) await wb.write(`k${i}`, i)
    await vi.waitFor(
      async () =>
        expect((await fx.admin().get(`wb:{${name}}:shards`)) === '8', 'the shard count is recorded').toBe(
          true,
        ),
      { timeout: 20_000, interval: 20 },
    )
    const store = new MemoryStore<number>()
    const events: FlusherEvent[] = []
    // a misconfigured flusher: one shard (the default on a single Redis)
    const flusher = createFlusher({ redis, name, store, pollInterval: 50, onEvent: (e) => events.push(e) })
    fx.closers.push(() => flusher.close({ timeout: 5_000 }))
    await wb.flush({ timeout: 20_000 })
    expect(Array.from({ length: 80 }, (_, i) => store.value(`k${i}`))).toEqual(
      Array.from({ length: 80 }, (_, i) => i),
    )
    const mismatch = events.find((e) => e.type === 'error')
    expect(mismatch).toMatchObject({
      error: { code: 'E_SHARD_COUNT', name: 'ShardCountError', recorded: 8, given: 1 },
    })
  })

  it('lists and requeues the dead letters of every shard', async () => {
    const redis = fx.client()
    const name = 'sh3'
    const wb = writeBehind<number>({ redis, name, shards: 4 })
    for (let i = 0; i < 20; i++) await wb.write(`k${i}`, i)
    const store = new MemoryStore<number>()
    store.failing = true
    const flusher = createFlusher({
      redis,
      name,
      store,
      shards: 4,
      pollInterval: 50,
      maxAttempts: 1,
    })
    fx.closers.push(() => flusher.close({ timeout: 5_000 }))
    await wb.flush({ timeout: 20_000 })
    const dead = await readDeadLetters(redis, name)
    expect(dead.map((d) => d.key).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `k${i}`).sort())
    expect(new Set(dead.map((d) => d.shard)).size).toBe(4)
    expect((await readDeadLetters(redis, name, 5)).map((d) => d.id)).toEqual(
      dead.slice(0, 5).map((d) => d.id),
    )
    store.failing = false
    expect(
      await requeueDeadLetters(
        redis,
        name,
        dead.map((d) => d.id),
      ),
    ).toBe(20)
    await flusher.flush({ timeout: 20_000 })
    expect(Array.from({ length: 20 }, (_, i) => store.value(`k${i}`))).toEqual(
      Array.from({ length: 20 }, (_, i) => i),
    )
    expect(await readDeadLetters(redis, name)).toEqual([])
  })

  it('refuses a bad shard count or shard index; nothing is created', async () => {
    const redis = fx.client()
    for (const shards of [0, -1, 1.5, 257, Number.NaN, '4'] as unknown as number[]) {
      const shown = typeof shards === 'string' ? `"${shards}"` : String(shards)
      expect(() => writeBehind({ redis, name: 'sh4', shards })).toThrowError(
        new TierkitTypeError(`writeBehind: shards must be an integer from 1 to 256, got ${shown}`),
      )
      expect(() => createFlusher({ redis, name: 'sh4', store: new MemoryStore(), shards })).toThrowError(
        new TierkitTypeError(`createFlusher: shards must be an integer from 1 to 256, got ${shown}`),
      )
    }
    expect(() => queueKeys('sh4', 256)).toThrowError(
      new TierkitTypeError('queueKeys: shard must be an integer from 0 to 255, got 256'),
    )
    expect(() => queueKeys('')).toThrowError(
      new TierkitTypeError('queueKeys: name must be a non-empty string without { or }, got ""'),
    )
    expect(queueKeys('sh4', 3).stream).toBe('wb:{sh4|3}:s3:q')
    expect(queueKeys('sh4').stream).toBe('wb:{sh4}:q')
    expect(await fx.admin().keys('wb:{sh4*')).toEqual([])
  })
})
