/**
 * Garbage in the queue's own Redis keys (a version counter, a guard, a shard count or a writer's record that
 * is not a number, keys of the wrong type): a typed error or a recovery, never a crash, a stuck queue or
 * a lost acknowledged write.
 */
import { describe, expect, it, vi } from 'vitest'
import { createFlusher, type FlusherEvent, QueueWriteError, queueKeys, writeBehind } from '../src/index.js'
import { makeCache } from './helpers/cache.js'
import { MemoryStore } from './helpers/memory-store.js'
import { useRedisFixture } from './helpers/redis.js'

const fx = useRedisFixture()

describe('write-behind with garbage in its Redis keys', () => {
  it('a guard, a version counter or a shard count that is not a number: the writes are queued and applied', async () => {
    const redis = fx.client()
    const name = 'gb1'
    const { guard, seq } = queueKeys(name)
    await fx.admin().set(`${guard}k`, 'garbage')
    await fx.admin().set(seq, 'not a number')
    await fx.admin().set(`wb:{${name}}:shards`, '{"x":1}')
    const store = new MemoryStore<number>()
    const wb = writeBehind<number>({ redis, name, flusher: { store, pollInterval: 50 } })
    fx.closers.push(() => wb.close({ timeout: 5_000 }))
    const a = await wb.write('k', 1)
    const b = await wb.write('k', 2)
    expect(b.version).toBeGreaterThan(a.version)
    // before the fix the acknowledgement script failed on the guard, and the entry was never acknowledged
    await wb.flush({ timeout: 10_000 })
    expect(store.rows.get('k')).toEqual({ value: 2, version: b.version })
    expect(await fx.admin().get(`${guard}k`)).toBe(String(b.version))
  })

  it('a writer record that is not a write result: the write is queued once, with a new id', async () => {
    const redis = fx.client()
    const name = 'gb2'
    const wb = writeBehind<number>({ redis, name })
    await wb.write('a', 1)
    const [record] = await fx.admin().keys(`wb:{${name}}:w:*`)
    expect(record).toBeDefined()
    // the next write is number 2 of this writer: a garbage result under that number
    await fx.admin().zadd(record!, 2, 'garbage', 2, '2 not-an-id x')
    const second = await wb.write('b', 2)
    const ids = (await fx.admin().xrange(queueKeys(name).stream, '-', '+')).map(([id]) => id)
    expect(ids).toHaveLength(2)
    expect(ids[1]).toBe(second.id)
  })

  it('keys of the wrong type: writes are refused with E_QUEUE_WRITE_FAILED (cache untouched), and go on once fixed', async () => {
    const redis = fx.client()
    const name = 'gb3'
    const { stream, seq } = queueKeys(name)
    const { cache } = makeCache(fx.url(), name)
    await cache.set('k', 'cached')
    const events: FlusherEvent[] = []
    const store = new MemoryStore<string>()
    const flusher = createFlusher({ redis, name, store, pollInterval: 50, onEvent: (e) => events.push(e) })
    fx.closers.push(() => flusher.close({ timeout: 5_000 }))
    const wb = writeBehind<string>({ redis, name, cache })
    await vi.waitFor(
      async () => expect((await fx.admin().exists(stream)) === 1, 'the flusher created its group').toBe(true),
      { timeout: 20_000, interval: 20 },
    )

    await fx.admin().del(stream)
    await fx.admin().set(stream, 'not a stream')
    const refused = await wb.write('k', 'lost').catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(QueueWriteError)
    expect(refused).toMatchObject({ code: 'E_QUEUE_WRITE_FAILED' })
    expect(await cache.get('k')).toBe('cached')
    await vi.waitFor(
      async () =>
        expect(await events.some((e) => e.type === 'error'), 'the flusher reported the wrong type').toBe(
          true,
        ),
      { timeout: 20_000, interval: 20 },
    )

    await fx.admin().del(stream, seq)
    await fx.admin().hset(seq, 'x', '1')
    await expect(wb.write('k', 'lost too')).rejects.toMatchObject({ code: 'E_QUEUE_WRITE_FAILED' })
    expect(await cache.get('k')).toBe('cached')

    // fixed: writes are queued again and the flusher, which never stopped, applies them
    await fx.admin().del(seq)
    const ack = await wb.write('k', 'kept')
    await wb.flush({ timeout: 10_000 })
    expect(store.rows.get('k')).toEqual({ value: 'kept', version: ack.version })
    expect(await cache.get('k')).toBe('kept')
  })
})
