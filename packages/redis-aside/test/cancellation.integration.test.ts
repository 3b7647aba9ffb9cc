// Per-call cancellation (issue 16): `getOrLoad(key, loader, { signal })` and `getOrLoadMany` reject that
// caller at once with AbortedError while a load shared with other callers goes on for them; the last
// caller's abort aborts the loader's ctx.signal. Interleavings are forced with gates, never with sleeps.
import { setTimeout as sleep } from 'node:timers/promises'
import type { Cluster, Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  AbortedError,
  type BatchLoaderContext,
  type Cache,
  type CacheOptions,
  createCache,
  type LoaderContext,
} from '../src/index.js'
import {
  eventually,
  MapL1,
  ready,
  recordingObserver,
  rejection,
  startTopology,
  TOPOLOGIES,
  type Topology,
  uniqueNs,
} from './helpers.js'

/** A promise and the function that settles it. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void
  const promise = new Promise<void>((r) => {
    open = r
  })
  return { promise, open }
}

/** A loader that records its contexts and waits for its gate; `honours`: it rejects when its signal aborts. */
function gatedLoader<T>(value: T, honours: boolean) {
  const g = gate()
  const contexts: Array<LoaderContext<T>> = []
  const loader = (ctx: LoaderContext<T>): Promise<T> => {
    contexts.push(ctx)
    return new Promise<T>((resolve, reject) => {
      if (honours) ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))
      g.promise.then(() => resolve(value))
    })
  }
  return { loader, contexts, release: g.open }
}

/** Whether `p` has settled by the time the promises queued now have run (no timer involved). */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false
  p.then(
    () => {
      done = true
    },
    () => {
      done = true
    },
  )
  for (let i = 0; i < 10; i++) await Promise.resolve()
  return done
}

describe.each(TOPOLOGIES)('per-call cancellation on %s', (topology) => {
  let t: Topology
  let redis: Redis | Cluster
  const caches: Cache[] = []
  const make = (o: Partial<CacheOptions> = {}): Cache => {
    const c = createCache({
      redis,
      namespace: uniqueNs('abort'),
      ttl: 60_000,
      ...o,
      timeouts: { redis: 5000, ...o.timeouts },
    })
    caches.push(c)
    return c
  }

  beforeAll(async () => {
    t = await startTopology(topology)
    redis = t.client()
    await ready(redis)
  }, 60_000)
  afterAll(async () => {
    await Promise.all(caches.map((c) => c.close()))
    await t?.close()
  })

  it('an aborted caller is rejected at once with AbortedError; the shared load goes on for the other caller and is cached', async () => {
    const cache = make({ l1: new MapL1() })
    const { loader, contexts, release } = gatedLoader({ v: 1 }, true)
    const a = new AbortController()
    const pa = cache.getOrLoad('k', loader, { signal: a.signal })
    const pb = cache.getOrLoad('k', loader)
    await eventually(() => contexts.length === 1)
    const reason = new Error('client went away')
    a.abort(reason)
    // rejected while the loader is still held at its gate
    const err = await rejection(pa)
    expect(err).toBeInstanceOf(AbortedError)
    expect(err).toMatchObject({
      code: 'E_ABORTED',
      name: 'AbortError',
      key: 'k',
      cause: reason,
      message: 'getOrLoad was aborted by its signal',
    })
    expect(await settled(pb)).toBe(false)
    expect(contexts[0]!.signal.aborted).toBe(false)
    release()
    expect(await pb).toEqual({ v: 1 })
    expect(contexts).toHaveLength(1)
    // the load's result was stored as usual: another instance reads it from Redis
    expect(await make({ namespace: cache.namespace }).get('k')).toEqual({ v: 1 })
  })

  it("the last waiter's abort aborts ctx.signal; the abandoned load is cached nowhere and the next call loads afresh", async () => {
    const l1 = new MapL1()
    const cache = make({ l1 })
    // this loader ignores its signal: its late result must still not be cached
    const first = gatedLoader('old', false)
    const a = new AbortController()
    const b = new AbortController()
    const pa = cache.getOrLoad('k', first.loader, { signal: a.signal })
    const pb = cache.getOrLoad('k', first.loader, { signal: b.signal })
    await eventually(() => first.contexts.length === 1)
    const ctx = first.contexts[0]!
    a.abort('a left')
    expect(await rejection(pa)).toBeInstanceOf(AbortedError)
    expect(ctx.signal.aborted).toBe(false) // b still waits
    b.abort('b left')
    expect(await rejection(pb)).toMatchObject({ code: 'E_ABORTED', cause: 'b left' })
    expect(ctx.signal.aborted).toBe(true)
    expect(ctx.signal.reason).toBeInstanceOf(AbortedError)
    expect(ctx.signal.reason).toMatchObject({ code: 'E_ABORTED', key: 'k', cause: 'b left' })
    // a new caller does not join the abandoned load: it starts its own
    const second = gatedLoader('new', true)
    const pc = cache.getOrLoad('k', second.loader)
    await eventually(() => second.contexts.length === 1)
    second.release()
    expect(await pc).toBe('new')
    first.release() // the abandoned loader returns late, with its old value
    await cache.close() // waits for the abandoned load too
    // the old value went nowhere: not into the L1, not into Redis
    expect([...l1.map.values()].map((e) => (e.value as { value: unknown }).value)).toEqual(['new'])
    expect(await make({ namespace: cache.namespace }).get('k')).toBe('new')
  })

  it('a caller without a signal keeps the load alive whoever aborts; an already aborted signal rejects before anything runs', async () => {
    const cache = make()
    const { loader, contexts, release } = gatedLoader(7, true)
    const plain = cache.getOrLoad('k', loader)
    const a = new AbortController()
    const pa = cache.getOrLoad('k', loader, { signal: a.signal })
    await eventually(() => contexts.length === 1)
    a.abort()
    expect(await rejection(pa)).toBeInstanceOf(AbortedError)
    expect(contexts[0]!.signal.aborted).toBe(false)
    release()
    expect(await plain).toBe(7)
    let calls = 0
    const err = await rejection(
      cache.getOrLoad(
        'other',
        () => {
          calls++
          return 1
        },
        { signal: AbortSignal.abort('never mind') },
      ),
    )
    expect(err).toMatchObject({ code: 'E_ABORTED', name: 'AbortError', key: 'other', cause: 'never mind' })
    expect(calls).toBe(0)
    expect(await cache.get('other')).toBeUndefined()
  })

  it('a caller served stale past timeouts.soft leaves a load that refreshes the entry: a later abort does not stop it', async () => {
    const obs = recordingObserver()
    const cache = make({ ttl: 40, grace: 600_000, timeouts: { soft: 20 }, observer: obs })
    await cache.set('k', 'old')
    await sleep(60) // now stale
    const { loader, contexts, release } = gatedLoader('new', true)
    const a = new AbortController()
    expect(await cache.getOrLoad('k', loader, { signal: a.signal })).toBe('old')
    const b = new AbortController()
    const pb = cache.getOrLoad('k', loader, { signal: b.signal }) // joins the load that still runs...
    await eventually(() => obs.count('l2:stale') === 2) // ...once it has read Redis (a's read, then b's)
    b.abort()
    expect(await rejection(pb)).toBeInstanceOf(AbortedError)
    expect(contexts).toHaveLength(1)
    expect(contexts[0]!.signal.aborted).toBe(false)
    release()
    await eventually(async () => (await cache.get('k')) === 'new')
  })

  it('a follower waiting on the distributed lock of another instance is rejected at once; the holder is not disturbed', async () => {
    const holder = make({ lock: { distributed: true } })
    const follower = make({ namespace: holder.namespace, lock: { distributed: true } })
    const { loader, contexts, release } = gatedLoader('v', true)
    const ph = holder.getOrLoad('k', loader)
    await eventually(() => contexts.length === 1)
    let followerCalls = 0
    const a = new AbortController()
    const pf = follower.getOrLoad(
      'k',
      () => {
        followerCalls++
        return 'from follower'
      },
      { signal: a.signal },
    )
    await sleep(30) // let it poll the lock a few times (not asserted: only lets the interleaving happen)
    a.abort()
    expect(await rejection(pf)).toBeInstanceOf(AbortedError)
    release()
    expect(await ph).toBe('v')
    expect(followerCalls).toBe(0)
    expect(contexts[0]!.signal.aborted).toBe(false)
    expect(await follower.getOrLoad('k', () => 'not called')).toBe('v')
  })

  it('getOrLoadMany: the only caller aborting rejects at once and aborts the batch signal; nothing is cached', async () => {
    const cache = make()
    const g = gate()
    const seen: Array<BatchLoaderContext<string>> = []
    const a = new AbortController()
    const p = cache.getOrLoadMany<string>(
      ['x', 'y'],
      async (keys, ctx) => {
        seen.push(ctx)
        await g.promise
        return keys.map((k) => `${k}!`)
      },
      { signal: a.signal },
    )
    await eventually(() => seen.length === 1)
    expect(seen[0]!.keys).toEqual(['x', 'y'])
    expect(seen[0]!.signal.aborted).toBe(false)
    a.abort('gone')
    const err = await rejection(p)
    expect(err).toBeInstanceOf(AbortedError)
    expect(err).toMatchObject({
      code: 'E_ABORTED',
      cause: 'gone',
      message: 'getOrLoadMany was aborted by its signal',
    })
    expect(seen[0]!.signal.aborted).toBe(true)
    g.open() // the batch loader ignores its signal and returns late
    await cache.close() // waits for the abandoned loads
    const other = make({ namespace: cache.namespace })
    expect(await other.getMany(['x', 'y'])).toEqual([undefined, undefined])
    expect(await other.getOrLoadMany(['x', 'y'], (keys) => keys.map((k) => `${k}?`))).toEqual(['x?', 'y?'])
  })

  it('getOrLoadMany: an abort leaves the keys other callers wait for loading, the batch signal stays live', async () => {
    const obs = recordingObserver()
    const cache = make({ observer: obs })
    const g = gate()
    const seen: Array<BatchLoaderContext<string>> = []
    const a = new AbortController()
    const batch = cache.getOrLoadMany<string>(
      ['p', 'q'],
      async (keys, ctx) => {
        seen.push(ctx)
        await g.promise
        return keys.map((k) => `${k}!`)
      },
      { signal: a.signal },
    )
    await eventually(() => seen.length === 1)
    let singleCalls = 0
    const single = cache.getOrLoad('q', () => {
      singleCalls++
      return 'other'
    }) // joins the batch's load of q, once it has read Redis (p, q by the batch, then q: three misses)
    await eventually(() => obs.count('l2:miss') === 3)
    a.abort()
    expect(await rejection(batch)).toBeInstanceOf(AbortedError)
    expect(seen[0]!.signal.aborted).toBe(false) // q still has a caller
    g.open()
    expect(await single).toBe('q!')
    expect(singleCalls).toBe(0)
    expect(await cache.getMany(['p', 'q'])).toEqual([undefined, 'q!'])
  })

  it('getOrLoadMany joining a getOrLoad in flight: its abort leaves that flight to its own caller', async () => {
    const obs = recordingObserver()
    const cache = make({ observer: obs })
    const { loader, contexts, release } = gatedLoader('one', true)
    const single = cache.getOrLoad('j', loader)
    await eventually(() => contexts.length === 1)
    const a = new AbortController()
    const batch = cache.getOrLoadMany(['j'], () => ['never'], { signal: a.signal })
    // the batch joins the flight once it has read Redis (the single's miss, then the batch's)
    await eventually(() => obs.count('l2:miss') === 2)
    a.abort()
    expect(await rejection(batch)).toBeInstanceOf(AbortedError)
    expect(contexts[0]!.signal.aborted).toBe(false)
    release()
    expect(await single).toBe('one')
    expect(await cache.get('j')).toBe('one')
  })
})
