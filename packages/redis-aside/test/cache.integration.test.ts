import { setTimeout as sleep } from 'node:timers/promises'
import type { Cluster, Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type CacheEvent,
  type CacheOptions,
  ClosedError,
  CorruptPayloadError,
  createCache,
  exactSerializer,
  LoaderError,
  LoaderTimeoutError,
  UnserializableValueError,
  ValueTooLargeError,
} from '../src/index.js'
import { keyPrefix } from '../src/keys.js'
import { keySlot } from '../src/slot.js'
import {
  commandCalls,
  eventually,
  expectInvalidArgument,
  MapL1,
  ready,
  recordingObserver,
  rejection,
  startTopology,
  TOPOLOGIES,
  type Topology,
  thrown,
  uniqueNs,
} from './helpers.js'

describe.each(TOPOLOGIES)('redis-aside on %s', (topology) => {
  let t: Topology
  let redis: Redis | Cluster
  const caches: Array<{ close(): Promise<void> }> = []
  const make = (o: Partial<CacheOptions> = {}) => {
    // a generous Redis timeout: these tests are about behaviour, not a slow Redis (faults.integration.test.ts)
    const c = createCache({
      redis,
      namespace: uniqueNs(),
      ttl: 60_000,
      ...o,
      timeouts: { redis: 5000, ...o.timeouts },
    })
    caches.push(c)
    return c
  }
  const rkey = (ns: string, key: string) => `${keyPrefix(ns)}v:${key}`

  beforeAll(async () => {
    t = await startTopology(topology)
    redis = t.client()
    await ready(redis)
  }, 60_000)
  afterAll(async () => {
    await Promise.all(caches.map((c) => c.close()))
    await t?.close()
  })

  describe('single flight', () => {
    it('1,000 concurrent getOrLoad of one cold key → one loader call, one value for all', async () => {
      const cache = make({ l1: new MapL1() })
      let calls = 0
      const loader = async () => {
        calls++
        await sleep(50)
        return { id: 1, at: calls }
      }
      const results = await Promise.all(Array.from({ length: 1000 }, () => cache.getOrLoad('cold', loader)))
      expect(calls).toBe(1)
      expect(new Set(results).size).toBe(1)
      expect(results[0]).toEqual({ id: 1, at: 1 })
      // the value reached Redis: another cache (no L1) in the same namespace reads it without loading
      const other = make({ namespace: cache.namespace })
      expect(await other.getOrLoad('cold', () => ({ id: 2, at: -1 }))).toEqual({ id: 1, at: 1 })
    })
  })

  describe('fail-safe, grace and timeouts', () => {
    it('serves the stale value when the loader throws, then refreshes it later', async () => {
      const obs = recordingObserver()
      const cache = make({ l1: new MapL1(), ttl: 40, grace: 60_000, graceRetry: 30, observer: obs })
      expect(await cache.getOrLoad('k', () => 'v1')).toBe('v1')
      await sleep(60) // now stale
      let fail = true
      const loader = async () => {
        if (fail) throw new Error('db down')
        return 'v2'
      }
      expect(await cache.getOrLoad('k', loader)).toBe('v1')
      expect(obs.count('db:stale')).toBe(1)
      expect(obs.count('db:error')).toBe(1)
      expect(obs.events.filter((e) => e.startsWith('loader:'))).toEqual([])
      fail = false
      await eventually(async () => (await cache.getOrLoad('k', loader)) === 'v2')
      expect(await cache.get('k')).toBe('v2')
    })

    it('serves the stale value past timeouts.soft and stores the slow result when it arrives', async () => {
      const cache = make({ ttl: 40, grace: 60_000, timeouts: { soft: 20 } })
      await cache.getOrLoad('k', () => 'old')
      await sleep(60)
      let release!: () => void
      const gate = new Promise<void>((r) => {
        release = r
      })
      let calls = 0
      const slow = async () => {
        calls++
        await gate
        return 'new'
      }
      expect(await cache.getOrLoad('k', slow)).toBe('old')
      // a second caller while the load still runs does not start another one
      expect(await cache.getOrLoad('k', slow)).toBe('old')
      expect(calls).toBe(1)
      release()
      await eventually(async () => (await cache.get('k')) === 'new')
    })

    it('rejects with E_LOADER_TIMEOUT past timeouts.hard when nothing stale exists, and aborts the signal', async () => {
      const cache = make({ timeouts: { hard: 30 } })
      let signal: AbortSignal | undefined
      const err = await cache
        .getOrLoad('k', (ctx) => {
          signal = ctx.signal
          // a well-behaved loader gives up when its signal aborts
          return new Promise((_, reject) =>
            ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)),
          )
        })
        .catch((e: unknown) => e)
      expect(err).toBeInstanceOf(LoaderTimeoutError)
      expect(err).toMatchObject({
        code: 'E_LOADER_TIMEOUT',
        name: 'LoaderTimeoutError',
        key: 'k',
        timeout: 30,
        message: 'loader for key "k" did not settle within 30 ms',
      })
      expect(signal?.aborted).toBe(true)
      expect(signal?.reason).toBeInstanceOf(LoaderTimeoutError)
    })

    it('with a stale value, the hard timeout serves it instead of rejecting', async () => {
      const cache = make({ ttl: 30, grace: 60_000, timeouts: { hard: 30 } })
      // stored by a cache without the hard timeout, so that a slow machine cannot fail this first load
      await make({ namespace: cache.namespace, ttl: 30, grace: 60_000 }).set('k', 1)
      await sleep(50)
      expect(await cache.getOrLoad('k', () => sleep(300).then(() => 2))).toBe(1)
    })

    it("with no stale value the loader's error reaches the caller as cause", async () => {
      const cache = make()
      const boom = new Error('db exploded')
      const err = await cache.getOrLoad('k', () => Promise.reject(boom)).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(LoaderError)
      expect((err as LoaderError).code).toBe('E_LOADER_FAILED')
      expect((err as LoaderError).cause).toBe(boom)
      // a synchronous throw too
      const err2 = await cache
        .getOrLoad('k2', () => {
          throw boom
        })
        .catch((e: unknown) => e)
      expect((err2 as LoaderError).cause).toBe(boom)
      // nothing was cached: the next call loads (also after the synchronous throw, which used to leave a
      // dead load registered that every later call of the key joined)
      expect(await cache.getOrLoad('k', () => 'ok')).toBe('ok')
      expect(await cache.getOrLoad('k2', () => 'ok2')).toBe('ok2')
    })
  })

  describe('eager refresh, jitter, negative caching', () => {
    it('eagerRefresh reloads a hot key in the background before it expires', async () => {
      const cache = make({ l1: new MapL1(), ttl: 2000, eagerRefresh: 0.05 })
      let version = 0
      const loader = async () => {
        version++
        await sleep(20)
        return `v${version}`
      }
      expect(await cache.getOrLoad('hot', loader)).toBe('v1')
      await sleep(150) // past 5% of the TTL, far before expiry
      // served at once from the fresh entry; the reload runs behind it
      expect(await cache.getOrLoad('hot', loader)).toBe('v1')
      await eventually(async () => (await cache.getOrLoad('hot', loader)) === 'v2')
      expect(version).toBe(2)
      // the refreshed value reached Redis too
      const other = make({ namespace: cache.namespace })
      expect(await other.get('hot')).toBe('v2')
    })

    it('eagerRefresh also works without an L1 (the hit comes from Redis)', async () => {
      const cache = make({ ttl: 2000, eagerRefresh: 0.05 })
      let version = 0
      const loader = () => `v${++version}`
      expect(await cache.getOrLoad('hot', loader)).toBe('v1')
      await sleep(150)
      expect(await cache.getOrLoad('hot', loader)).toBe('v1')
      await eventually(async () => (await cache.get('hot')) === 'v2')
      expect(version).toBe(2)
    })

    it('jitter spreads expiries below the configured TTL', async () => {
      const jittered = make({ ttl: 100_000, jitter: 0.5 })
      const plain = make({ ttl: 100_000 })
      const keys = Array.from({ length: 40 }, (_, i) => `k${i}`)
      for (const k of keys) {
        await jittered.set(k, 1)
        await plain.set(k, 1)
      }
      const ttls = async (ns: string) => Promise.all(keys.map((k) => redis.pttl(rkey(ns, k))))
      const j = await ttls(jittered.namespace)
      const p = await ttls(plain.namespace)
      for (const x of j) {
        expect(x).toBeGreaterThan(45_000)
        expect(x).toBeLessThanOrEqual(100_000)
      }
      const spread = (xs: number[]) => Math.max(...xs) - Math.min(...xs)
      expect(spread(j)).toBeGreaterThan(10_000)
      expect(spread(p)).toBeLessThan(10_000)
    })

    it('caches null with its own TTL (negative caching); nullTtl 0 does not cache it', async () => {
      const cache = make({ ttl: 300_000, nullTtl: 5_000 })
      let calls = 0
      const loader = () => {
        calls++
        return null
      }
      expect(await cache.getOrLoad('nobody', loader)).toBeNull()
      expect(await cache.getOrLoad('nobody', loader)).toBeNull()
      expect(calls).toBe(1)
      const pttl = await redis.pttl(rkey(cache.namespace, 'nobody'))
      expect(pttl).toBeGreaterThan(0)
      expect(pttl).toBeLessThanOrEqual(5_000)
      const noNeg = make({ nullTtl: 0 })
      let calls2 = 0
      await noNeg.getOrLoad('nobody', () => {
        calls2++
        return null
      })
      await noNeg.getOrLoad('nobody', () => {
        calls2++
        return null
      })
      expect(calls2).toBe(2)
    })

    it('ctx.setTtl and ctx.skipCache control caching from the loader', async () => {
      const cache = make()
      await cache.getOrLoad('short', (ctx) => {
        ctx.setTtl(3_000)
        return 'x'
      })
      const pttl = await redis.pttl(rkey(cache.namespace, 'short'))
      expect(pttl).toBeGreaterThan(0)
      expect(pttl).toBeLessThanOrEqual(3_000)
      await cache.getOrLoad('skip', (ctx) => {
        ctx.skipCache()
        return 'y'
      })
      // nothing stored; the lease the miss put there is dropped in the background (a compare-and-delete that
      // a first NOSCRIPT on a Cluster node re-sends after this read): a stored value would never go away
      await eventually(async () => (await redis.exists(rkey(cache.namespace, 'skip'))) === 0)
      expect(await cache.get('skip')).toBeUndefined()
    })
  })

  describe('batches', () => {
    it('getMany reads every L2 key in one MGET round trip (one per hash slot on a Cluster)', async () => {
      const cache = make()
      const keys = Array.from({ length: 30 }, (_, i) => `user:${i}`)
      for (const k of keys.slice(0, 20)) await cache.set(k, { k })
      await t.onEveryNode(['CONFIG', 'RESETSTAT'])
      const values = await cache.getMany([...keys, 'user:3'])
      expect(values).toEqual([...keys.map((k, i) => (i < 20 ? { k } : undefined)), { k: 'user:3' }])
      const stats = await t.onEveryNode(['INFO', 'commandstats'])
      const slots = new Set(keys.map((k) => keySlot(rkey(cache.namespace, k)))).size
      expect(commandCalls(stats, 'mget')).toBe(topology === 'redis' ? 1 : slots)
      expect(commandCalls(stats, 'get')).toBe(0)
    })

    it('getOrLoadMany loads only the missing keys, once each, in one loader call', async () => {
      const cache = make({ l1: new MapL1() })
      await cache.set('a', 'A')
      await cache.set('b', 'B')
      const batches: string[][] = []
      const out = await cache.getOrLoadMany(['a', 'x', 'b', 'y', 'x', 'z'], async (missing) => {
        batches.push(missing)
        await sleep(10)
        return new Map(missing.filter((k) => k !== 'z').map((k) => [k, k.toUpperCase()]))
      })
      expect(out).toEqual(['A', 'X', 'B', 'Y', 'X', null])
      expect(batches).toEqual([['x', 'y', 'z']])
      // z was cached as null; nothing loads again
      const again = await cache.getOrLoadMany(['x', 'y', 'z'], () => {
        throw new Error('should not load')
      })
      expect(again).toEqual(['X', 'Y', null])
    })

    it('getOrLoadMany and getOrLoad of overlapping keys load each key once', async () => {
      const cache = make()
      const loaded: string[] = []
      let started!: () => void
      const loading = new Promise<void>((r) => {
        started = r
      })
      const batch = cache.getOrLoadMany(['p', 'q'], async (missing) => {
        loaded.push(...missing)
        started()
        await sleep(30)
        return missing.map((k) => `${k}!`)
      })
      // once the batch's loader runs (not after a guessed 5 ms: on a loaded machine the batch may still be
      // taking its leases, and the single call would lease q first and the batch join it)
      await loading
      const single = cache.getOrLoad('q', () => {
        loaded.push('q (single)')
        return 'other'
      })
      expect(await batch).toEqual(['p!', 'q!'])
      expect(await single).toBe('q!')
      expect(loaded).toEqual(['p', 'q'])
    })

    it('a getOrLoad that starts its loader while getOrLoadMany takes its leases is joined, not loaded again', async () => {
      // the batch's leases are taken per key (per node on a Cluster): a single call of one of its keys can
      // lease and start its loader in between; the batch then waited for nothing and loaded the key again
      const cache = make()
      const loads = new Map<string, number>()
      const count = (k: string) => loads.set(k, (loads.get(k) ?? 0) + 1)
      const keys = Array.from({ length: 12 }, (_, i) => `race${i}`)
      for (let round = 0; round < 15; round++) {
        const ks = keys.map((k) => `${k}.${round}`)
        const batch = cache.getOrLoadMany(ks, async (missing) => {
          for (const k of missing) count(k)
          await sleep(20)
          return missing.map((k) => `${k}!`)
        })
        const singles = ks.map(async (k, i) => {
          await sleep(i % 4)
          return cache.getOrLoad(k, async () => {
            count(k)
            await sleep(20)
            return `${k}!`
          })
        })
        expect(await batch).toEqual(ks.map((k) => `${k}!`))
        expect(await Promise.all(singles)).toEqual(ks.map((k) => `${k}!`))
      }
      expect([...loads].filter(([, n]) => n !== 1)).toEqual([])
      expect(loads.size).toBe(keys.length * 15)
    })

    it('getOrLoadMany rejects a loader result of the wrong shape, with cause, and caches nothing', async () => {
      const cache = make()
      const err = await cache.getOrLoadMany(['m', 'n'], () => ['only one']).catch((e: unknown) => e)
      expect((err as LoaderError).code).toBe('E_LOADER_FAILED')
      expectInvalidArgument(
        (err as LoaderError).cause,
        "Cache.getOrLoadMany: the loader's result must be a Map or an array of 2 values aligned with its keys, got an array",
      )
      expect(await cache.getMany(['m', 'n'])).toEqual([undefined, undefined])
    })

    it('deleteMany replaces every key, on every node, with a short-lived tombstone that reads as a miss', async () => {
      const cache = make({ l1: new MapL1(), tombstoneTtl: 5_000 })
      const keys = Array.from({ length: 12 }, (_, i) => `d${i}`)
      for (const k of keys) await cache.set(k, k)
      await cache.deleteMany(keys)
      expect(await cache.getMany(keys)).toEqual(keys.map(() => undefined))
      expect(await make({ namespace: cache.namespace }).getMany(keys)).toEqual(keys.map(() => undefined))
      const raws = await Promise.all(keys.map((k) => redis.get(rkey(cache.namespace, k))))
      expect(raws.map((r) => r?.[0])).toEqual(keys.map(() => '0'))
      expect(new Set(raws).size).toBe(1) // one token for the whole call
      const pttls = await Promise.all(keys.map((k) => redis.pttl(rkey(cache.namespace, k))))
      expect(pttls.filter((p) => p <= 0 || p > 5_000)).toEqual([])
    })
  })

  describe('values', () => {
    it('round-trip exactly through Redis', async () => {
      const writer = make()
      const reader = make({ namespace: writer.namespace })
      const value = {
        date: new Date('2026-11-27T00:00:00.000Z'),
        buf: Buffer.from('héllo'),
        u8: new Uint8Array([1, 2, 3]),
        map: new Map<string, unknown>([['a', new Set([1n, 2n])]]),
        set: new Set(['x']),
        big: 2n ** 70n,
        undef: undefined,
        nul: null,
        nested: { list: [{ deep: new Date(1) }, undefined, null, -0] },
      }
      await writer.set('v', value)
      const out = (await reader.get('v')) as typeof value
      expect(out).toStrictEqual(value)
      expect(Buffer.isBuffer(out.buf)).toBe(true)
      expect(Buffer.isBuffer(out.u8)).toBe(false)
      expect(Object.is(out.nested.list[3], -0)).toBe(true)
      expect(await reader.getMany(['v'])).toStrictEqual([value])
    })

    it('a payload with __proto__ / constructor keys in Redis never pollutes a prototype', async () => {
      const cache = make()
      const now = Date.now()
      const header = `1${(now + 60_000).toString(36)},0,${(now + 60_000).toString(36)},`
      await redis.set(
        rkey(cache.namespace, 'evil'),
        `${header}J{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}}}`,
      )
      await redis.set(
        rkey(cache.namespace, 'evil2'),
        `${header}T{"__proto__":{"polluted":["a",1]},"a":["m","__proto__",1]}`,
      )
      const out = (await cache.get('evil')) as Record<string, unknown>
      const out2 = (await cache.getMany(['evil2']))[0] as Record<string, unknown>
      for (const o of [out, out2]) {
        expect(Object.getPrototypeOf(o)).toBe(Object.prototype)
        expect(Object.hasOwn(o, '__proto__')).toBe(true)
      }
      expect(({} as Record<string, unknown>).polluted).toBeUndefined()
      expect((Object.prototype as unknown as Record<string, unknown>).polluted).toBeUndefined()
    })

    it('a value over maxValueBytes → E_VALUE_TOO_LARGE and nothing stored', async () => {
      const l1 = new MapL1()
      const events: CacheEvent[] = []
      const cache = make({ l1, maxValueBytes: 200, onEvent: (e) => events.push(e) })
      await cache.set('big', 'small')
      const err = await cache.set('big', 'x'.repeat(500)).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(ValueTooLargeError)
      expect((err as ValueTooLargeError).code).toBe('E_VALUE_TOO_LARGE')
      expect((err as ValueTooLargeError).bytes).toBeGreaterThan(500)
      // the previous value is intact in L1 and Redis
      expect(await cache.get('big')).toBe('small')
      cache.evictLocal('big')
      expect(await cache.get('big')).toBe('small')
      // a loader result that is too large is returned, reported, and not stored
      let calls = 0
      const huge = () => {
        calls++
        return 'y'.repeat(500)
      }
      expect(await cache.getOrLoad('huge', huge)).toHaveLength(500)
      expect(await cache.getOrLoad('huge', huge)).toHaveLength(500)
      expect(calls).toBe(2)
      expect(await redis.exists(rkey(cache.namespace, 'huge'))).toBe(0)
      expect(events.some((e) => e.type === 'store-error' && e.error instanceof ValueTooLargeError)).toBe(true)
    })

    it('a corrupt L2 payload is a miss: deleted, reported, never thrown', async () => {
      const obs = recordingObserver()
      const events: CacheEvent[] = []
      const cache = make({ observer: obs, onEvent: (e) => events.push(e) })
      const k = rkey(cache.namespace, 'bad')
      for (const garbage of [
        'garbage',
        '1zz,0,zz,Xnope',
        `1${(Date.now() + 60_000).toString(36)},0,${(Date.now() + 60_000).toString(36)},J{"a":`,
      ]) {
        events.length = 0
        await redis.set(k, garbage)
        expect(await cache.get('bad')).toBeUndefined()
        const corrupt = events.filter((e) => e.type === 'corrupt')
        expect(corrupt).toHaveLength(1)
        expect(corrupt[0]).toMatchObject({ key: 'bad', error: { code: 'E_CORRUPT_PAYLOAD' } })
        expect((corrupt[0] as { error: unknown }).error).toBeInstanceOf(CorruptPayloadError)
        await eventually(async () => (await redis.exists(k)) === 0)
      }
      expect(obs.count('l2:error')).toBe(3)
      await redis.set(k, 'garbage')
      expect(await cache.getOrLoad('bad', () => 'fresh')).toBe('fresh')
      expect(await make({ namespace: cache.namespace }).get('bad')).toBe('fresh')
      await redis.set(k, 'garbage')
      expect(await cache.getMany(['bad'])).toEqual([undefined])
      await eventually(async () => (await redis.exists(k)) === 0)
    })
  })

  describe('namespaces, L1, writes and bad input', () => {
    it('namespaces cannot collide', async () => {
      const a = make({ namespace: 'a' })
      const ab = make({ namespace: 'a:b' })
      const aColon = make({ namespace: 'a:' })
      await a.set('b:c', 'from a')
      await ab.set('c', 'from a:b')
      await aColon.set('b:c', 'from a:')
      expect(await a.get('b:c')).toBe('from a')
      expect(await ab.get('c')).toBe('from a:b')
      expect(await aColon.get('b:c')).toBe('from a:')
      expect(await ab.get('b:c')).toBeUndefined()
      // the lock key of one namespace is never the value key of another
      const lockLike = make({ namespace: '1:a:l' })
      expect(await lockLike.get('x')).toBeUndefined()
    })

    it('with an L1, hits never reach Redis; evictLocal drops only the L1 copy', async () => {
      const l1 = new MapL1()
      const obs = recordingObserver()
      const cache = make({ l1, observer: obs })
      await cache.getOrLoad('u', () => 'U')
      await t.onEveryNode(['CONFIG', 'RESETSTAT'])
      for (let i = 0; i < 10; i++) expect(await cache.getOrLoad('u', () => 'other')).toBe('U')
      expect(commandCalls(await t.onEveryNode(['INFO', 'commandstats']), 'get')).toBe(0)
      expect(obs.count('l1:hit')).toBe(10)
      cache.evictLocal(['u'])
      expect(await cache.getOrLoad('u', () => 'other')).toBe('U')
      expect(commandCalls(await t.onEveryNode(['INFO', 'commandstats']), 'get')).toBe(1)
      expect(obs.count('l2:hit')).toBe(1)
    })

    it('delete removes from L1 and Redis, and a load in flight during the delete is not cached', async () => {
      const cache = make({ l1: new MapL1() })
      await cache.set('d', 1)
      await cache.delete('d')
      expect(await cache.get('d')).toBeUndefined()
      let release!: () => void
      const p = cache.getOrLoad(
        'd',
        () =>
          new Promise<number>((r) => {
            release = () => r(2)
          }),
      )
      await eventually(() => release !== undefined)
      await cache.delete('d')
      release()
      expect(await p).toBe(2)
      expect(await cache.get('d')).toBeUndefined()
    })

    it('bad input gets a TierkitTypeError with an exact message and leaves the cache intact', async () => {
      const creating: Array<[() => unknown, string]> = [
        [
          () => createCache({ redis, namespace: '', ttl: 1 }),
          'createCache: namespace must be a non-empty string of at most 65536 characters, got ""',
        ],
        [
          () => createCache({ redis, namespace: 'x', ttl: -1 }),
          'createCache: ttl must be a duration in ms, an integer from 1 to 315360000000, got -1',
        ],
        [
          () => createCache({ redis, namespace: 'x', ttl: 1, jitter: 2 }),
          'createCache: jitter must be a number from 0 to 1, got 2',
        ],
        [
          () => createCache({ redis, namespace: 'x', ttl: 1, eagerRefresh: 1 }),
          'createCache: eagerRefresh must be a number between 0 and 1, both excluded, got 1',
        ],
        [
          () => createCache({ redis: {} as Redis, namespace: 'x', ttl: 1 }),
          'createCache: redis must be an ioredis Redis or Cluster, got an object',
        ],
        [
          () => createCache({ redis, namespace: 'x', ttl: 1, l1: {} as never }),
          'createCache: l1 must be an object with get, set, delete and clear methods, got an object',
        ],
        [
          // clear is needed too: evictLocal() calls it
          () =>
            createCache({ redis, namespace: 'x', ttl: 1, l1: { get() {}, set() {}, delete() {} } as never }),
          'createCache: l1 must be an object with get, set, delete and clear methods, got an object',
        ],
        [
          () => createCache({ redis, namespace: 'x', ttl: 1, observer: { record: 1 } as never }),
          'createCache: observer must be an object with a record method (a CacheObserver), got an object',
        ],
        [
          () => createCache({ redis, namespace: 'x', ttl: 1, serializer: JSON as never }),
          'createCache: serializer must be an object with encode and decode methods, got an object',
        ],
        [
          () => createCache({ redis, namespace: 'x', ttl: 1, onEvent: 'log' as never }),
          'createCache: onEvent must be a function, got "log"',
        ],
        [
          () => createCache({ redis, namespace: 'x', ttl: 1, timeouts: 5 as never }),
          'createCache: timeouts must be an object, got 5',
        ],
        [() => createCache(null as never), 'createCache: options must be an object, got null'],
      ]
      for (const [f, message] of creating) expectInvalidArgument(thrown(f), message)
      const cache = make({ l1: new MapL1() })
      await cache.set('keep', { ok: true })
      const bad: Array<[Promise<unknown>, string]> = [
        [
          cache.getOrLoad(42 as unknown as string, () => 1),
          'Cache.getOrLoad: key must be a non-empty string of at most 65536 characters, got 42',
        ],
        [cache.getOrLoad('k', 'nope' as never), 'Cache.getOrLoad: loader must be a function, got "nope"'],
        [
          cache.getOrLoad('k', () => 1, { ttl: 0 }),
          'Cache.getOrLoad: options.ttl must be a duration in ms, an integer from 1 to 315360000000, got 0',
        ],
        // also when the key is an L1 hit
        [
          cache.getOrLoad('keep', () => 1, { grace: Number.NaN }),
          'Cache.getOrLoad: options.grace must be a duration in ms, an integer from 0 to 315360000000, got NaN',
        ],
        [
          cache.getOrLoad('keep', () => 1, { signal: 'stop' as never }),
          'Cache.getOrLoad: options.signal must be an AbortSignal, got "stop"',
        ],
        [cache.getOrLoad('k', () => 1, 7 as never), 'Cache.getOrLoad: options must be an object, got 7'],
        [
          cache.set('k', undefined),
          'Cache.set: value must be defined (use null for "no value"), got undefined',
        ],
        [
          cache.set('k', 1, { grace: -5 }),
          'Cache.set: options.grace must be a duration in ms, an integer from 0 to 315360000000, got -5',
        ],
        [
          cache.set(1 as never, 1),
          'Cache.set: key must be a non-empty string of at most 65536 characters, got 1',
        ],
        [
          cache.get(null as unknown as string),
          'Cache.get: key must be a non-empty string of at most 65536 characters, got null',
        ],
        [cache.get(''), 'Cache.get: key must be a non-empty string of at most 65536 characters, got ""'],
        [
          cache.getOrLoad('x'.repeat(65_537), () => 1),
          `Cache.getOrLoad: key must be a non-empty string of at most 65536 characters, got "${'x'.repeat(60)}"...`,
        ],
        [
          cache.delete(undefined as never),
          'Cache.delete: key must be a non-empty string of at most 65536 characters, got undefined',
        ],
        [
          cache.getMany('abc' as unknown as string[]),
          'Cache.getMany: keys must be an array of non-empty strings, got "abc"',
        ],
        [
          cache.deleteMany([1] as unknown as string[]),
          'Cache.deleteMany: keys[0] must be a non-empty string of at most 65536 characters, got 1',
        ],
        [
          cache.getOrLoadMany(['a'], null as never),
          'Cache.getOrLoadMany: loader must be a function, got null',
        ],
        [
          cache.getOrLoadMany(['a', 2] as never, () => []),
          'Cache.getOrLoadMany: keys[1] must be a non-empty string of at most 65536 characters, got 2',
        ],
      ]
      for (const [p, message] of bad) expectInvalidArgument(await rejection(p), message)
      expectInvalidArgument(
        thrown(() => cache.evictLocal([{}] as unknown as string[])),
        'Cache.evictLocal: keys[0] must be a non-empty string of at most 65536 characters, got an object',
      )
      expectInvalidArgument(
        thrown(() => cache.evictLocal(5 as never)),
        'Cache.evictLocal: keys must be a string or an array of strings, got 5',
      )
      const unserializable = await rejection(cache.set('keep', { f: () => 1 }))
      expect(unserializable).toBeInstanceOf(UnserializableValueError)
      expect(unserializable).toMatchObject({
        code: 'E_UNSERIALIZABLE',
        name: 'UnserializableValueError',
        key: 'keep',
        path: '$.f',
        reason: 'a function',
      })
      expect(await cache.get('keep')).toEqual({ ok: true })
      cache.evictLocal('keep')
      expect(await cache.get('keep')).toEqual({ ok: true })
      expect(await cache.getOrLoad('k', () => 'fine')).toBe('fine')
    })

    it('close() is idempotent, takes { timeout }, and later calls reject with ClosedError (E_CLOSED)', async () => {
      const cache = createCache({ redis, namespace: uniqueNs('closed'), ttl: 1000 })
      expectInvalidArgument(
        await rejection(cache.close({ timeout: -1 })),
        'Cache.close: options.timeout must be a duration in ms, an integer from 0 to 2147483647, got -1',
      )
      expectInvalidArgument(
        await rejection(cache.close(5 as never)),
        'Cache.close: options must be an object, got 5',
      )
      // a load in flight: close aborts its signal and waits for it (here: it settles on the abort)
      let signal: AbortSignal | undefined
      const inFlight = rejection(
        cache.getOrLoad('slow', (ctx) => {
          signal = ctx.signal
          return new Promise((_, reject) =>
            ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)),
          )
        }),
      )
      await eventually(() => signal !== undefined)
      const first = cache.close({ timeout: 5000 })
      expect(cache.close()).toBe(first)
      await first
      expect(signal?.aborted).toBe(true)
      expect(signal?.reason).toBeInstanceOf(ClosedError)
      expect(((await inFlight) as LoaderError).cause).toBeInstanceOf(ClosedError)
      const calls: Array<Promise<unknown>> = [
        cache.getOrLoad('k', () => 1),
        cache.get('k'),
        cache.set('k', 1),
        cache.delete('k'),
        cache.deleteMany(['k']),
        cache.getMany(['k']),
        cache.getOrLoadMany(['k'], () => [1]),
      ]
      for (const p of calls) {
        const e = await rejection(p)
        expect(e).toBeInstanceOf(ClosedError)
        expect(e).toMatchObject({
          code: 'E_CLOSED',
          name: 'ClosedError',
          message: `the cache "${cache.namespace}" is closed`,
        })
      }
      expect(thrown(() => cache.evictLocal('k'))).toBeInstanceOf(ClosedError)
      await cache.close() // still fine
    })

    if (topology === 'cluster') {
      it('keySlot (internal) agrees with CLUSTER KEYSLOT', async () => {
        for (const k of [
          'foo',
          '{user1000}.following',
          'a{}b',
          '{}{x}',
          'ünïcödé',
          rkey('ns', 'k:1'),
          '{a',
        ]) {
          expect(keySlot(k)).toBe(await (redis as Cluster).cluster('KEYSLOT', k))
        }
      })
    }
  })

  it('the exact serializer of @tierkit/contracts is the one used for stored values', async () => {
    const cache = make()
    await cache.set('s', new Map([[1, 2n]]))
    const raw = (await redis.get(rkey(cache.namespace, 's')))!
    // 2<token>,<fresh until>,<refresh at>,<stale until>,<payload>
    expect(raw[0]).toBe('2')
    const payload = raw.split(',').slice(4).join(',')
    expect(payload).toBe(exactSerializer.encode(new Map([[1, 2n]])))
    expect(exactSerializer.decode(payload)).toEqual(new Map([[1, 2n]]))
  })
})
