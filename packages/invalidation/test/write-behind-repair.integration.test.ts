/**
 * Write-behind and the cache's Redis failing while the queue's Redis works (issue 15, defect 9, as the torture
 * suite found it for write-behind: an acknowledged write whose cache update and fallback delete both failed
 * left the old value in L2 until the TTL). Here the cache and the bus live on one real Redis and the queue on
 * another, so the cache can be down while writes are still acknowledged.
 */

import { startRedis } from '@tierkit/testkit'
import { afterEach, describe, expect, it } from 'vitest'
import { TierkitTypeError, writeBehind } from '../src/index.js'
import { redisClient } from './helpers/clients.js'
import { converge, type Instance, makeInstance, RecordingStore, readOnce } from './helpers/staleness.js'

const KEYS = Array.from({ length: 8 }, (_, i) => `wb:${i}`)
const closers: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c().catch(() => {})
})

describe('writeBehind: a failed cache update is repaired in the background', () => {
  it('every reader converges once the cache Redis is back, though the writes were acknowledged while it was down', async () => {
    const cacheServer = await startRedis({ appendonly: true }) // the old values survive its restart
    const queueServer = await startRedis()
    closers.push(
      () => cacheServer.stop(),
      () => queueServer.stop(),
    )
    const store = new RecordingStore()
    const instances: Instance[] = ['writer', 'reader1', 'reader2'].map((n) =>
      makeInstance(n, cacheServer.url, 'bus', { namespace: 'wbrep' }),
    )
    for (const i of instances) closers.push(() => i.close())
    const [w, r1, r2] = instances as [Instance, Instance, Instance]
    await Promise.all(instances.map((i) => i.bus!.ready({ timeout: 15_000 })))
    for (const k of KEYS) store.save(k, { n: 1 }, { version: undefined })
    for (const r of [r1, r2]) for (const k of KEYS) expect(await readOnce(r, store, k)).toBe(1)

    const queueRedis = redisClient(queueServer.url)
    closers.push(() => queueRedis.quit())
    const events: Array<{ type: string }> = []
    const queue = writeBehind({
      redis: queueRedis,
      name: 'wbrep',
      cache: w.cache,
      bus: w.bus,
      flusher: { store, pollInterval: 100 },
      onEvent: (e) => events.push(e),
    })
    closers.push(() => queue.close({ timeout: 20_000 }))

    await cacheServer.stop()
    // acknowledged: the queue's Redis is up; the cache set, the fallback delete and the publish all fail
    const acked = await Promise.all(KEYS.map((k) => queue.write(k, { n: 2 })))
    expect(acked).toHaveLength(KEYS.length)
    expect(events.filter((e) => e.type === 'cache-error').length).toBeGreaterThan(0)
    await queue.flush({ timeout: 20_000 })
    expect(KEYS.map((k) => store.current(k))).toEqual(KEYS.map(() => 2))

    await cacheServer.restart()
    const { stale, tookMs } = await converge([r1, r2, w], store, KEYS, 20_000)
    console.log(
      `[staleness] write-behind, cache Redis down during the writes: converged ${tookMs} ms after it was back`,
    )
    expect({ stale: stale.length, first: stale.slice(0, 4) }).toEqual({ stale: 0, first: [] })
    expect(events.some((e) => e.type === 'repaired')).toBe(true)
  })

  it('refuses bad repair options with exact messages, and a cache without deleteMany', () => {
    const redis = redisClient({ lazyConnect: true })
    closers.push(async () => redis.disconnect())
    for (const maxKeys of [0, 1.5, -1, Number.NaN]) {
      expect(() => writeBehind({ redis, name: 'q', repair: { maxKeys } })).toThrowError(
        new TierkitTypeError(
          `writeBehind: repair.maxKeys must be an integer from 1 to 100000000, got ${maxKeys}`,
        ),
      )
    }
    expect(() => writeBehind({ redis, name: 'q', repair: { retryDelay: 0 } })).toThrowError(
      new TierkitTypeError(
        'writeBehind: repair.retryDelay must be a duration in ms, an integer from 1 to 2147483647, got 0',
      ),
    )
    expect(() => writeBehind({ redis, name: 'q', repair: { retryMs: 100 } as never })).toThrowError(
      new TierkitTypeError('writeBehind: repair.retryMs must be left out (renamed retryDelay), got 100'),
    )
    expect(() => writeBehind({ redis, name: 'q', repair: 5 as never })).toThrowError(
      new TierkitTypeError('writeBehind: repair must be an object, got 5'),
    )
    const noDeleteMany = { set() {}, delete() {}, evictLocal() {} }
    expect(() => writeBehind({ redis, name: 'q', cache: noDeleteMany as never })).toThrowError(
      new TierkitTypeError(
        'writeBehind: cache must be a cache with set, delete, deleteMany and evictLocal methods (a WritableCache), got an object',
      ),
    )
  })
})
