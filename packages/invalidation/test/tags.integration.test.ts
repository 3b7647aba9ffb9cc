import { setTimeout as sleep } from 'node:timers/promises'
import { createCache } from '@tierkit/redis-aside'
import { startRedis } from '@tierkit/testkit'
import type { Cluster, Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  AbortedError,
  createTags,
  MAX_TAG_LENGTH,
  type TagsLoaderContext,
  TierkitTypeError,
  UnknownTagError,
} from '../src/index.js'
import { MapL1 } from './helpers/cache.js'
import { adminClient, redisClient } from './helpers/clients.js'

const closers: Array<() => Promise<unknown>> = []
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => {})
})

function instance(redis: Redis | Cluster, namespace: string) {
  const l1 = new MapL1()
  const cache = createCache({ redis, l1, namespace, ttl: 60_000 })
  closers.push(() => cache.close())
  return { l1, cache, tags: createTags({ redis, cache, namespace }) }
}

describe('tags on one Redis', () => {
  let url: string
  beforeAll(async () => {
    url = (await startRedis()).url
  })
  function client(): Redis {
    const r = redisClient(url)
    closers.push(() => r.quit())
    return r
  }
  /** The test's own reads and writes of Redis keys (KEYS, garbage versions): in the secure run, not the ACL user. */
  function admin(): Redis {
    const r = adminClient(url)
    closers.push(() => r.quit())
    return r
  }

  it('after invalidateTags resolves, no instance serves a value tagged before the call (L1 or L2)', async () => {
    const a = instance(client(), 'tg1')
    const b = instance(client(), 'tg1')
    await a.tags.set('p:1', { n: 1 }, { tags: ['products', 'brand:7'] })
    await a.tags.set('p:2', { n: 2 }, { tags: ['products', 'brand:8'] })
    await a.tags.set('c:1', { n: 3 }, { tags: ['categories'] })
    // B reads them into its L1
    expect(await b.tags.get('p:1')).toEqual({ n: 1 })
    expect(await b.tags.get('p:2')).toEqual({ n: 2 })
    expect(b.l1.size).toBe(2)
    await a.tags.invalidateTags(['brand:7'])
    // no bus needed: B's L1 copy is refused at once
    expect(await b.tags.get('p:1')).toBeUndefined()
    expect(await a.tags.get('p:1')).toBeUndefined()
    expect(await b.tags.get('p:2')).toEqual({ n: 2 })
    await b.tags.invalidateTags(['products'])
    expect(await a.tags.get('p:2')).toBeUndefined()
    expect(await a.tags.get('c:1')).toEqual({ n: 3 })
    // values tagged after the invalidation are served again
    await a.tags.set('p:1', { n: 10 }, { tags: ['products', 'brand:7'] })
    expect(await b.tags.get('p:1')).toEqual({ n: 10 })
  })

  it('a load that overlaps an invalidation is not served afterwards', async () => {
    const a = instance(client(), 'tg2')
    let release!: () => void
    const gate = new Promise<void>((r) => {
      release = r
    })
    let started!: () => void
    const loaderStarted = new Promise<void>((r) => {
      started = r
    })
    const loading = a.tags.getOrLoad(
      'k',
      async () => {
        started()
        await gate
        return 'loaded before the invalidation'
      },
      { tags: ['t'] },
    )
    await loaderStarted
    await a.tags.invalidateTags(['t'])
    release()
    expect(await loading).toBe('loaded before the invalidation')
    expect(await a.tags.get('k')).toBeUndefined()
    expect(await a.tags.getOrLoad('k', () => 'fresh', { tags: ['t'] })).toBe('fresh')
    expect(await a.tags.get('k')).toBe('fresh')
  })

  it('the loader gets the family loader context: the key, a live signal, no stale value', async () => {
    const a = instance(client(), 'tg-ctx')
    const seen: Array<{ key: string; aborted: boolean; stale: unknown }> = []
    const v = await a.tags.getOrLoad(
      'k',
      (ctx: TagsLoaderContext<unknown>) => {
        seen.push({ key: ctx.key, aborted: ctx.signal.aborted, stale: ctx.stale })
        return 'loaded'
      },
      { tags: ['t'] },
    )
    expect(v).toBe('loaded')
    expect(seen).toEqual([{ key: 'k', aborted: false, stale: undefined }])
    expect(await a.tags.get('k')).toBe('loaded')
  })

  it('getOrLoad with { signal }: an abort rejects the caller at once with AbortedError, aborts ctx.signal, caches nothing', async () => {
    const a = instance(client(), 'tg-abort')
    let release!: () => void
    const gate = new Promise<void>((r) => {
      release = r
    })
    let loaderSignal: AbortSignal | undefined
    let started!: () => void
    const loaderStarted = new Promise<void>((r) => {
      started = r
    })
    const caller = new AbortController()
    const pending = a.tags.getOrLoad(
      'k',
      async (ctx) => {
        loaderSignal = ctx.signal
        started()
        await gate
        return 'late'
      },
      { tags: ['t'], signal: caller.signal },
    )
    await loaderStarted
    const reason = new Error('the request went away')
    caller.abort(reason)
    const err = await pending.catch((e: unknown) => e) // rejected while the loader still waits on its gate
    expect(err).toBeInstanceOf(AbortedError)
    expect(err).toMatchObject({ name: 'AbortError', code: 'E_ABORTED', key: 'k', cause: reason })
    expect(loaderSignal?.aborted).toBe(true)
    expect(loaderSignal?.reason).toBe(reason)
    release()
    await gate
    await sleep(20) // the abandoned load ends in microtasks, before any timer
    expect(await a.tags.get('k')).toBeUndefined() // what it returned after the abort was not cached

    // already aborted: rejected before anything runs
    let called = 0
    const gone = AbortSignal.abort('gone')
    const early = await a.tags
      .getOrLoad(
        'k2',
        () => {
          called++
          return 1
        },
        { tags: ['t'], signal: gone },
      )
      .catch((e: unknown) => e)
    expect(early).toMatchObject({ code: 'E_ABORTED', cause: 'gone' })
    expect(called).toBe(0)
    // a signal that never aborts changes nothing
    expect(await a.tags.getOrLoad('k3', () => 3, { tags: ['t'], signal: new AbortController().signal })).toBe(
      3,
    )
    expect(await a.tags.get('k3')).toBe(3)
  })

  it('refuses empty and unknown tags with typed errors; nothing changes', async () => {
    const redis = client()
    const { cache } = instance(redis, 'tg3')
    const tags = createTags({ redis, cache, namespace: 'tg3', knownTags: ['users', 'orgs'] })
    await tags.set('u', 1, { tags: ['users'] })
    const unknown = await tags.invalidateTags(['users', 'nope']).catch((e: unknown) => e)
    expect(unknown).toBeInstanceOf(UnknownTagError)
    expect(unknown).toMatchObject({
      code: 'E_UNKNOWN_TAG',
      name: 'UnknownTagError',
      tag: 'nope',
      message: 'tags.invalidateTags: unknown tag "nope" (not in knownTags)',
    })
    expect(await tags.get('u')).toBe(1) // 'users' was not invalidated either
    for (const bad of [[], [''], [1], 'users', null]) {
      const err = await tags.invalidateTags(bad as never).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(TierkitTypeError)
      expect((err as TierkitTypeError).code).toBe('E_INVALID_ARGUMENT')
    }
    await expect(tags.invalidateTags([])).rejects.toThrowError(
      new TierkitTypeError(
        'tags.invalidateTags: tags must be a non-empty array of non-empty strings, got an array',
      ),
    )
    await expect(tags.invalidateTags(['users', ''])).rejects.toThrowError(
      new TierkitTypeError(
        'tags.invalidateTags: tags[1] must be a non-empty string of at most 1024 characters, got ""',
      ),
    )
    await expect(tags.set('', 1, { tags: ['users'] })).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' })
    await expect(tags.set('v', 2, { tags: ['other'] })).rejects.toMatchObject({ code: 'E_UNKNOWN_TAG' })
    await expect(tags.set('v', 2, {} as never)).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' })
    expect(await cache.get('v')).toBeUndefined()
    expect(await tags.get('u')).toBe(1)
    // only the tag that was really used has a version (created by the first set); the refused calls made none
    expect(await admin().keys('tk:{tg3}:*')).toEqual(['tk:{tg3}:users'])
  })

  it('refuses bad TTLs and options with exact messages before touching Redis or the cache', async () => {
    const redis = client()
    const { cache } = instance(redis, 'tg-badttl')
    const tags = createTags({ redis, cache, namespace: 'tg-badttl' })
    for (const ttl of [1.5, 1500.5, 0.5, 1e300, Number.NaN, -1, 0, 315_360_000_001]) {
      await expect(tags.set('k', 1, { tags: ['a'], ttl })).rejects.toThrowError(
        new TierkitTypeError(
          `tags.set: options.ttl must be a duration in ms, an integer from 1 to 315360000000, got ${ttl}`,
        ),
      )
      let loaded = 0
      await expect(
        tags.getOrLoad(
          'k',
          () => {
            loaded++
            return 1
          },
          { tags: ['a'], ttl },
        ),
      ).rejects.toThrowError(
        new TierkitTypeError(
          `tags.getOrLoad: options.ttl must be a duration in ms, an integer from 1 to 315360000000, got ${ttl}`,
        ),
      )
      expect(loaded).toBe(0)
      expect(() => createTags({ redis, cache, ttl })).toThrowError(
        new TierkitTypeError(
          `createTags: ttl must be a duration in ms, an integer from 1 to 315360000000, got ${ttl}`,
        ),
      )
    }
    const fromValue = createTags<{ t: number }>({ redis, cache, namespace: 'tg-badttl', ttl: (_k, v) => v.t })
    await expect(fromValue.set('k', { t: 1.5 }, { tags: ['a'] })).rejects.toThrowError(
      new TierkitTypeError(
        'tags.set: ttl("k") must be a duration in ms, an integer from 1 to 315360000000, got 1.5',
      ),
    )
    for (const timeout of [0, -1, Number.NaN, 1.5]) {
      expect(() => createTags({ redis, cache, timeout })).toThrowError(
        new TierkitTypeError(
          `createTags: timeout must be a duration in ms, an integer from 1 to 2147483647, got ${timeout}`,
        ),
      )
    }
    expect(() => createTags({ redis, cache, timeoutMs: 100 } as never)).toThrowError(
      new TierkitTypeError('createTags: timeoutMs must be left out (renamed timeout), got 100'),
    )
    expect(() => createTags({ redis, cache, onEvent: 5 as never })).toThrowError(
      new TierkitTypeError('createTags: onEvent must be a function, got 5'),
    )
    expect(() => createTags({ redis, cache, namespace: 'a{b}' })).toThrowError(
      new TierkitTypeError('createTags: namespace must be a non-empty string without { or }, got "a{b}"'),
    )
    await expect(tags.getOrLoad('k', 5 as never, { tags: ['a'] })).rejects.toThrowError(
      new TierkitTypeError('tags.getOrLoad: loader must be a function, got 5'),
    )
    await expect(tags.getOrLoad('k', () => 1, { tags: ['a'], signal: 5 as never })).rejects.toThrowError(
      new TierkitTypeError('tags.getOrLoad: options.signal must be an AbortSignal, got 5'),
    )
    expect(await cache.get('k')).toBeUndefined()
    expect(await admin().keys('tk:{tg-badttl}:*')).toEqual([]) // nothing created
  })

  describe('tag names and values that are not ordinary (issue 15, defect 7)', () => {
    const odd = [
      '__proto__',
      'constructor',
      'hasOwnProperty',
      'toString',
      'valueOf',
      'prototype',
      'a:b:c',
      '{braces}',
      'x}y{z',
      '}',
      '{',
      ' ',
      'é∆😀',
      't'.repeat(MAX_TAG_LENGTH),
    ]
    for (const tag of odd) {
      it(`tag ${JSON.stringify(tag.length > 20 ? `${tag.slice(0, 8)}… (${tag.length} chars)` : tag)} is invalidated in every instance, and only it`, async () => {
        const a = instance(client(), 'tg-odd')
        const b = instance(client(), 'tg-odd')
        const key = `k:${tag.length}:${tag.slice(0, 12)}`
        await a.tags.set(key, { n: 1 }, { tags: [tag] })
        await a.tags.set(`${key}:other`, { n: 2 }, { tags: ['plain'] })
        expect(await b.tags.get(key)).toEqual({ n: 1 }) // in B's L1 now
        await a.tags.invalidateTags([tag])
        expect(await b.tags.get(key)).toBeUndefined()
        expect(await a.tags.get(key)).toBeUndefined()
        expect(await b.tags.get(`${key}:other`)).toEqual({ n: 2 })
        // tagged again after the invalidation: served again
        await b.tags.set(key, { n: 3 }, { tags: [tag, 'plain'] })
        expect(await a.tags.get(key)).toEqual({ n: 3 })
      })
    }

    it('a value of any shape round-trips exactly, also one shaped like the tag wrapper', async () => {
      const a = instance(client(), 'tg-shape')
      const b = instance(client(), 'tg-shape')
      const shaped = [
        { __tierkitTagged: 1, v: 'inner', t: {} },
        { __tierkitTagged: 1, v: 'inner', t: { x: 0 } },
        { __tierkitTagged: 1, v: { __tierkitTagged: 1, v: 2, t: {} }, t: { y: 5 } },
        [1, 'two', null],
        null,
        0,
        '',
        { t: { a: 1 }, v: 1 },
      ]
      for (const [i, value] of shaped.entries()) {
        await a.tags.set(`s${i}`, value, { tags: ['shape'] })
        expect(await a.tags.get(`s${i}`)).toEqual(value)
        expect(await b.tags.get(`s${i}`)).toEqual(value)
      }
    })

    it('a plain value stored without tags is never unwrapped by tags.get', async () => {
      const a = instance(client(), 'tg-plain')
      const forged = { __tierkitTagged: 1, v: 'inner', t: {} }
      await a.cache.set('forged', forged)
      const got = await a.tags.get('forged')
      expect(got).not.toBe('inner')
      expect(got).toBeUndefined() // not stored through tags: a miss, never its inner `v`
      expect(await a.cache.get('forged')).toEqual(forged) // and left alone
      expect(await a.tags.getOrLoad('forged', () => ({ loaded: true }) as unknown, { tags: ['x'] })).toEqual({
        loaded: true,
      })
    })

    it('garbage in a tag-version key is "invalid": a miss, repaired by set and invalidateTags, never a raw Redis error', async () => {
      const redis = admin() // writes garbage at the version key: the test's own doing
      const a = instance(client(), 'tg-garbage')
      const b = instance(client(), 'tg-garbage')
      await a.tags.set('g1', 'v1', { tags: ['g'] })
      expect(await b.tags.get('g1')).toBe('v1')
      await redis.set('tk:{tg-garbage}:g', 'not a number')
      expect(await b.tags.get('g1')).toBeUndefined() // cannot be validated: treated as invalidated
      await a.tags.invalidateTags(['g']) // no "ERR value is not an integer"
      expect(await redis.get('tk:{tg-garbage}:g')).toMatch(/^[1-9][0-9]*$/)
      await a.tags.set('g2', 'v2', { tags: ['g'] })
      expect(await b.tags.get('g2')).toBe('v2')
      // another type at the key (WRONGTYPE for GET/INCR)
      await redis.del('tk:{tg-garbage}:g')
      await redis.rpush('tk:{tg-garbage}:g', 'x')
      expect(await b.tags.get('g2')).toBeUndefined()
      await a.tags.invalidateTags(['g'])
      await a.tags.set('g3', 'v3', { tags: ['g'] })
      expect(await b.tags.get('g3')).toBe('v3')
      for (const junk of ['-5', '1.5', '1e3', '', '99999999999999999999999']) {
        await redis.set('tk:{tg-garbage}:g', junk)
        expect(await b.tags.get('g3')).toBeUndefined()
        await a.tags.set('g3', 'again', { tags: ['g'] })
        expect(await b.tags.get('g3')).toBe('again')
      }
    })

    it('when Redis loses the tag versions (restart without persistence, FLUSHALL), old copies are not served after an invalidation', async () => {
      const redis = client()
      const a = instance(redis, 'tg-lost')
      const b = instance(client(), 'tg-lost')
      for (let i = 0; i < 3; i++) await a.tags.invalidateTags(['t'])
      await a.tags.set('k', 'before', { tags: ['t'] })
      expect(await b.tags.get('k')).toBe('before') // B's L1 holds it
      // versions come from the server clock in ms: three invalidations in one ms ran 2 ms ahead of it, so a
      // version made from the clock alone within those 2 ms could repeat the stored one. A restart takes far
      // longer than that; the test, which loses the key at once, waits until the clock is past the version.
      const stored = Number(await redis.get('tk:{tg-lost}:t'))
      for (;;) {
        const [sec, usec] = await redis.time()
        if (Number(sec) * 1000 + Math.floor(Number(usec) / 1000) > stored) break
      }
      await redis.del('tk:{tg-lost}:t') // the counter is lost (what a restart without persistence does)
      await a.tags.invalidateTags(['t'])
      expect(await b.tags.get('k')).toBeUndefined()
    })
  })
})
