// Types tell the truth (issue 16): every public signature checked with expectTypeOf (compiled by the package's
// `typecheck`, tsc over test/), next to runtime calls proving that the runtime returns what the type says,
// including the `null` of negative caching. The runtime half needs a real Redis (started by the test kit).
import * as contracts from '@tierkit/contracts'
import type { IoredisLike, NodeRedisClientLike } from '@tierkit/contracts/redis'
import type { Cluster, Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest'
import * as entry from '../src/index.js'
import {
  AbortedError,
  type BatchLoader,
  type BatchLoaderContext,
  type BreakerState,
  type Cache,
  type CacheEvent,
  type CacheLayer,
  type CacheObserver,
  type CacheOptions,
  type CacheOutcome,
  ClosedError,
  type CloseOptions,
  CorruptPayloadError,
  createCache,
  errors,
  exactSerializer,
  type L1Store,
  type Loader,
  type LoaderContext,
  LoaderError,
  LoaderTimeoutError,
  type LoadOptions,
  PermissionError,
  parseRedisKey,
  RedisAsideError,
  type RedisAsideErrorCode,
  type RedisAsideOwnErrorCode,
  RedisReplyError,
  RedisUnavailableError,
  type Serializer,
  type SetOptions,
  TierkitTypeError,
  UnserializableValueError,
  ValueTooLargeError,
} from '../src/index.js'
import { MapL1, ready, rejection, startTopology, type Topology, uniqueNs } from './helpers.js'

interface User {
  id: number
  name: string
}

describe('the public entry', () => {
  it('exports exactly the public API (no test helpers, no internals)', () => {
    expect(Object.keys(entry).sort()).toEqual([
      'AbortedError',
      'ClosedError',
      'CorruptPayloadError',
      'LoaderError',
      'LoaderTimeoutError',
      'PermissionError',
      'RedisAsideError',
      'RedisReplyError',
      'RedisUnavailableError',
      'TierkitTypeError',
      'UnserializableValueError',
      'ValueTooLargeError',
      'createCache',
      'errors',
      'exactSerializer',
      'parseRedisKey',
    ])
    // the shared pieces are the very ones of @tierkit/contracts (one class, so instanceof holds across packages)
    expect(entry.ClosedError).toBe(contracts.ClosedError)
    expect(entry.AbortedError).toBe(contracts.AbortedError)
    expect(entry.UnserializableValueError).toBe(contracts.UnserializableValueError)
    expect(entry.CorruptPayloadError).toBe(contracts.CorruptPayloadError)
    expect(entry.TierkitTypeError).toBe(contracts.TierkitTypeError)
    expect(entry.exactSerializer).toBe(contracts.exactSerializer)
  })

  it('the vocabulary types are the family ones', () => {
    expectTypeOf<CacheLayer>().toEqualTypeOf<contracts.CacheLayer>()
    expectTypeOf<CacheLayer>().toEqualTypeOf<'cdn' | 'l1' | 'l2' | 'db'>()
    expectTypeOf<CacheOutcome>().toEqualTypeOf<contracts.CacheOutcome>()
    expectTypeOf<CacheObserver>().toEqualTypeOf<contracts.CacheObserver>()
    expectTypeOf<CacheObserver['record']>().toEqualTypeOf<
      (layer: CacheLayer, outcome: CacheOutcome, duration?: number) => void
    >()
    expectTypeOf<L1Store>().toEqualTypeOf<contracts.L1Store>()
    expectTypeOf<Serializer>().toEqualTypeOf<contracts.Serializer>()
    expectTypeOf<CloseOptions>().toEqualTypeOf<{ timeout?: number }>()
    expectTypeOf(exactSerializer).toEqualTypeOf<Serializer>()
    expectTypeOf<Cache>().toExtend<contracts.WritableCache>()
    expectTypeOf<BreakerState>().toEqualTypeOf<'closed' | 'open' | 'half-open'>()
  })

  it('createCache and its options', () => {
    expectTypeOf(createCache).toEqualTypeOf<(options: CacheOptions) => Cache>()
    expectTypeOf<CacheOptions['redis']>().toEqualTypeOf<Redis | Cluster | IoredisLike | NodeRedisClientLike>()
    // iovalkey's classes are not ioredis's: they fit IoredisLike (the README's iovalkey line type-checks)
    expectTypeOf<import('iovalkey').Redis>().toExtend<CacheOptions['redis']>()
    expectTypeOf<import('iovalkey').Cluster>().toExtend<CacheOptions['redis']>()
    expectTypeOf<CacheOptions['namespace']>().toEqualTypeOf<string>()
    expectTypeOf<CacheOptions['ttl']>().toEqualTypeOf<number>()
    expectTypeOf<CacheOptions['l1']>().toEqualTypeOf<L1Store | undefined>()
    expectTypeOf<CacheOptions['timeouts']>().toEqualTypeOf<
      { soft?: number; hard?: number; redis?: number } | undefined
    >()
    expectTypeOf<CacheOptions['lock']>().toEqualTypeOf<
      { distributed?: boolean; lease?: number; waitTimeout?: number } | undefined
    >()
    // the family's name: cooldown (no coolDown)
    expectTypeOf<CacheOptions['breaker']>().toEqualTypeOf<
      { threshold?: number; cooldown?: number } | undefined
    >()
    expectTypeOf<CacheOptions['observer']>().toEqualTypeOf<CacheObserver | undefined>()
    expectTypeOf<CacheOptions['serializer']>().toEqualTypeOf<Serializer | undefined>()
    expectTypeOf<CacheOptions['onEvent']>().toEqualTypeOf<((event: CacheEvent) => void) | undefined>()
    for (const k of [
      'grace',
      'graceRetry',
      'nullTtl',
      'tombstoneTtl',
      'jitter',
      'eagerRefresh',
      'maxValueBytes',
    ] as const)
      expectTypeOf<CacheOptions[typeof k]>().toEqualTypeOf<number | undefined>()
    expectTypeOf<CacheEvent['type']>().toEqualTypeOf<
      'corrupt' | 'redis-error' | 'breaker' | 'load-error' | 'store-error'
    >()
    expectTypeOf<Extract<CacheEvent, { type: 'corrupt' }>['error']>().toEqualTypeOf<CorruptPayloadError>()
    expectTypeOf<Extract<CacheEvent, { type: 'breaker' }>['state']>().toEqualTypeOf<BreakerState>()
  })

  it('the loader contexts and per-call options', () => {
    expectTypeOf<LoaderContext<User>>().toExtend<contracts.LoaderContext<string, User>>()
    expectTypeOf<LoaderContext<User>['key']>().toEqualTypeOf<string>()
    expectTypeOf<LoaderContext<User>['signal']>().toEqualTypeOf<AbortSignal>()
    expectTypeOf<LoaderContext<User>['stale']>().toEqualTypeOf<User | undefined>()
    expectTypeOf<LoaderContext<User>['setTtl']>().toEqualTypeOf<(ttl: number) => void>()
    expectTypeOf<LoaderContext<User>['skipCache']>().toEqualTypeOf<() => void>()
    expectTypeOf<Loader<User>>().toEqualTypeOf<(ctx: LoaderContext<User>) => User | Promise<User>>()
    expectTypeOf<BatchLoader<User>>().toEqualTypeOf<
      (
        keys: string[],
        ctx: BatchLoaderContext<User>,
      ) => Map<string, User> | User[] | Promise<Map<string, User> | User[]>
    >()
    expectTypeOf<BatchLoaderContext<User>>().toEqualTypeOf<{
      readonly keys: readonly string[]
      readonly signal: AbortSignal
      readonly stale: ReadonlyMap<string, User>
    }>()
    expectTypeOf<SetOptions>().toEqualTypeOf<{ ttl?: number; grace?: number }>()
    expectTypeOf<LoadOptions>().toEqualTypeOf<{ ttl?: number; grace?: number; signal?: AbortSignal }>()
  })

  it('the errors: codes, fields, the errors map', () => {
    expectTypeOf<RedisAsideOwnErrorCode>().toEqualTypeOf<
      'E_LOADER_TIMEOUT' | 'E_LOADER_FAILED' | 'E_VALUE_TOO_LARGE' | 'E_REDIS_UNAVAILABLE' | 'E_REDIS_REPLY'
    >()
    expectTypeOf<keyof typeof errors>().toEqualTypeOf<RedisAsideErrorCode>()
    expectTypeOf<RedisAsideErrorCode>().toEqualTypeOf<
      | RedisAsideOwnErrorCode
      | 'E_CLOSED'
      | 'E_ABORTED'
      | 'E_UNSERIALIZABLE'
      | 'E_CORRUPT_PAYLOAD'
      | 'E_INVALID_ARGUMENT'
      | 'E_REDIS_NOPERM'
    >()
    expectTypeOf<RedisAsideError>().toExtend<contracts.TierkitError>()
    expectTypeOf<RedisAsideError['code']>().toEqualTypeOf<RedisAsideOwnErrorCode>()
    expectTypeOf<RedisAsideError['key']>().toEqualTypeOf<string | undefined>()
    expectTypeOf<LoaderError['code']>().toEqualTypeOf<'E_LOADER_FAILED'>()
    expectTypeOf<LoaderTimeoutError['code']>().toEqualTypeOf<'E_LOADER_TIMEOUT'>()
    expectTypeOf<LoaderTimeoutError['timeout']>().toEqualTypeOf<number>()
    expectTypeOf<ValueTooLargeError['code']>().toEqualTypeOf<'E_VALUE_TOO_LARGE'>()
    expectTypeOf<RedisUnavailableError['code']>().toEqualTypeOf<'E_REDIS_UNAVAILABLE'>()
    expectTypeOf<RedisUnavailableError['operation']>().toEqualTypeOf<string>()
    expectTypeOf<RedisUnavailableError['reason']>().toEqualTypeOf<string>()
    expectTypeOf<RedisReplyError['code']>().toEqualTypeOf<'E_REDIS_REPLY'>()
    expectTypeOf(errors.E_CLOSED).toEqualTypeOf<typeof ClosedError>()
    expectTypeOf(errors.E_INVALID_ARGUMENT).toEqualTypeOf<typeof TierkitTypeError>()

    // runtime: each class carries its code and its name, and the map names the class of each code
    const own: Array<[RedisAsideOwnErrorCode, RedisAsideError, string]> = [
      ['E_LOADER_TIMEOUT', new LoaderTimeoutError('k', 200), 'LoaderTimeoutError'],
      ['E_LOADER_FAILED', new LoaderError('k', new Error('db down')), 'LoaderError'],
      ['E_VALUE_TOO_LARGE', new ValueTooLargeError('k', 10, 5), 'ValueTooLargeError'],
      [
        'E_REDIS_UNAVAILABLE',
        new RedisUnavailableError('get', 'k', 'circuit breaker open'),
        'RedisUnavailableError',
      ],
      ['E_REDIS_REPLY', new RedisReplyError('set', 'k', new Error('OOM')), 'RedisReplyError'],
    ]
    for (const [code, e, name] of own) {
      expect(e).toBeInstanceOf(errors[code])
      expect(e).toBeInstanceOf(RedisAsideError)
      expect(e).toBeInstanceOf(contracts.TierkitError)
      expect([e.code, e.name, e.key]).toEqual([code, name, 'k'])
      expect(contracts.isTierkitError(e, code)).toBe(true)
    }
    expect(own.map(([code]) => code).sort()).toEqual(
      Object.keys(errors)
        .filter((c) => !(c in contracts.errors))
        .sort(),
    )
    expect(Object.keys(errors).sort()).toEqual([
      'E_ABORTED',
      'E_CLOSED',
      'E_CORRUPT_PAYLOAD',
      'E_INVALID_ARGUMENT',
      'E_LOADER_FAILED',
      'E_LOADER_TIMEOUT',
      'E_REDIS_NOPERM',
      'E_REDIS_REPLY',
      'E_REDIS_UNAVAILABLE',
      'E_UNSERIALIZABLE',
      'E_VALUE_TOO_LARGE',
    ])
    expect([errors.E_CLOSED, errors.E_ABORTED, errors.E_UNSERIALIZABLE, errors.E_CORRUPT_PAYLOAD]).toEqual([
      ClosedError,
      AbortedError,
      UnserializableValueError,
      CorruptPayloadError,
    ])
    expect(errors.E_INVALID_ARGUMENT).toBe(TierkitTypeError)
    // an ACL denial is the family's PermissionError, re-exported here so that `instanceof` needs no contracts import
    expect(errors.E_REDIS_NOPERM).toBe(contracts.PermissionError)
    expect(PermissionError).toBe(contracts.PermissionError)
    // the messages say which call, on which key, and why
    expect(new RedisUnavailableError('get', 'user:1', 'circuit breaker open').message).toBe(
      'redis unavailable for get "user:1": circuit breaker open',
    )
    expect(new RedisUnavailableError('mget', undefined, 'timed out after 200 ms').message).toBe(
      'redis unavailable for mget: timed out after 200 ms',
    )
    expect(new RedisReplyError('deleteMany', 'a', new Error('READONLY no')).message).toBe(
      'redis refused deleteMany "a": READONLY no',
    )
    expect(new LoaderTimeoutError('k', 200)).toMatchObject({ timeout: 200, key: 'k' })
  })

  it('parseRedisKey', () => {
    expectTypeOf(parseRedisKey).toEqualTypeOf<
      (redisKey: string) => { namespace: string; kind: string; key: string } | undefined
    >()
    expect(parseRedisKey('ra:5:users:v:user:1')).toEqual({ namespace: 'users', kind: 'v', key: 'user:1' })
    expect(parseRedisKey('users:1')).toBeUndefined()
  })
})

describe('the Cache methods, against a real Redis', () => {
  let t: Topology
  let redis: Redis | Cluster
  let cache: Cache
  beforeAll(async () => {
    t = await startTopology('redis')
    redis = t.client()
    await ready(redis)
    cache = createCache({ redis, l1: new MapL1(), namespace: uniqueNs('types'), ttl: 60_000 })
  }, 60_000)
  afterAll(async () => {
    await cache?.close()
    await t?.close()
  })

  it('the properties', () => {
    expectTypeOf(cache.namespace).toEqualTypeOf<string>()
    expectTypeOf(cache.breakerState).toEqualTypeOf<BreakerState>()
    expect(typeof cache.namespace).toBe('string')
    expect(cache.breakerState).toBe('closed')
  })

  it('getOrLoad resolves to what the loader returns; a cached null comes back as null', async () => {
    expectTypeOf(cache.getOrLoad<User>).parameters.toEqualTypeOf<
      [key: string, loader: Loader<User>, options?: LoadOptions]
    >()
    // T comes from the loader's result when the loader takes no ctx...
    const n = cache.getOrLoad('n:1', () => 5)
    expectTypeOf(n).toEqualTypeOf<Promise<number>>()
    expect(await n).toBe(5)
    // ...and is unknown when it does (TypeScript fixes T when it types ctx): give T explicitly then
    const k0 = cache.getOrLoad('u:0', (ctx) => ctx.key)
    expectTypeOf(k0).toEqualTypeOf<Promise<unknown>>()
    expect(await k0).toBe('u:0')
    const user = cache.getOrLoad<User>('u:1', (ctx) => {
      expectTypeOf(ctx).toEqualTypeOf<LoaderContext<User>>()
      expectTypeOf(ctx.stale).toEqualTypeOf<User | undefined>()
      return { id: 1, name: ctx.key }
    })
    expectTypeOf(user).toEqualTypeOf<Promise<User>>()
    expect(await user).toEqual({ id: 1, name: 'u:1' })
    const nobody = cache.getOrLoad<User | null>('u:404', () => null)
    expectTypeOf(nobody).resolves.toEqualTypeOf<User | null>()
    expect(await nobody).toBeNull()
    // the cached null (negative caching, on by default) is served without the loader
    expect(await cache.getOrLoad<User | null>('u:404', () => ({ id: 404, name: 'loaded' }))).toBeNull()
    // with a signal
    const err = await rejection(cache.getOrLoad('u:2', () => 1, { signal: AbortSignal.abort() }))
    expect(err).toBeInstanceOf(AbortedError)
  })

  it('get: T, null (a cached "not found") or undefined (a miss)', async () => {
    expectTypeOf(cache.get<User>).parameters.toEqualTypeOf<[key: string]>()
    const got = cache.get<User>('u:1')
    expectTypeOf(got).toEqualTypeOf<Promise<User | null | undefined>>()
    expectTypeOf(cache.get('u:1')).toEqualTypeOf<Promise<unknown>>()
    expect(await got).toEqual({ id: 1, name: 'u:1' })
    expect(await cache.get<User>('u:404')).toBeNull()
    expect(await cache.get<User>('u:never')).toBeUndefined()
    // the same from Redis, without the L1
    const other = createCache({ redis, namespace: cache.namespace, ttl: 60_000 })
    expect([
      await other.get<User>('u:1'),
      await other.get<User>('u:404'),
      await other.get<User>('u:never'),
    ]).toEqual([{ id: 1, name: 'u:1' }, null, undefined])
    await other.close()
  })

  it('getMany: aligned with the keys, each T, null or undefined', async () => {
    expectTypeOf(cache.getMany<User>).parameters.toEqualTypeOf<[keys: readonly string[]]>()
    const many = cache.getMany<User>(['u:1', 'u:404', 'u:never'])
    expectTypeOf(many).toEqualTypeOf<Promise<Array<User | null | undefined>>>()
    expect(await many).toEqual([{ id: 1, name: 'u:1' }, null, undefined])
  })

  it('getOrLoadMany: T for the keys loaded, null for the keys a Map loader did not return', async () => {
    expectTypeOf(cache.getOrLoadMany<User>).parameters.toEqualTypeOf<
      [keys: readonly string[], loader: BatchLoader<User>, options?: LoadOptions]
    >()
    const loaded = cache.getOrLoadMany<User>(['m:1', 'm:2', 'm:missing'], (keys, ctx) => {
      expectTypeOf(ctx).toEqualTypeOf<BatchLoaderContext<User>>()
      expect(ctx.keys).toEqual(keys)
      expect(ctx.signal.aborted).toBe(false)
      return new Map(keys.filter((k) => k !== 'm:missing').map((k) => [k, { id: 2, name: k }]))
    })
    expectTypeOf(loaded).toEqualTypeOf<Promise<Array<User | null>>>()
    expect(await loaded).toEqual([{ id: 2, name: 'm:1' }, { id: 2, name: 'm:2' }, null])
    // and again from the cache, the null included
    expect(await cache.getOrLoadMany<User>(['m:missing', 'm:1'], () => new Map())).toEqual([
      null,
      { id: 2, name: 'm:1' },
    ])
  })

  it('set, delete, deleteMany, evictLocal, close', async () => {
    expectTypeOf(cache.set).toEqualTypeOf<
      (key: string, value: unknown, options?: SetOptions) => Promise<void>
    >()
    expectTypeOf(cache.delete).toEqualTypeOf<(key: string) => Promise<void>>()
    expectTypeOf(cache.deleteMany).toEqualTypeOf<(keys: readonly string[]) => Promise<void>>()
    expectTypeOf(cache.evictLocal).toEqualTypeOf<(keys?: string | readonly string[]) => void>()
    expectTypeOf(cache.close).toEqualTypeOf<(options?: CloseOptions) => Promise<void>>()
    expect(await cache.set('s', { id: 3, name: 's' }, { ttl: 1000, grace: 0 })).toBeUndefined()
    expect(await cache.get<User>('s')).toEqual({ id: 3, name: 's' })
    expect(cache.evictLocal('s')).toBeUndefined()
    expect(cache.evictLocal(['s'])).toBeUndefined()
    expect(cache.evictLocal()).toBeUndefined()
    expect(await cache.delete('s')).toBeUndefined()
    expect(await cache.deleteMany(['s', 'u:1'])).toBeUndefined()
    expect(await cache.getMany(['s', 'u:1'])).toEqual([undefined, undefined])
    const closing = createCache({ redis, namespace: uniqueNs('types-close'), ttl: 1000 })
    expect(await closing.close({ timeout: 100 })).toBeUndefined()
    expect(await rejection(closing.get('k'))).toBeInstanceOf(ClosedError)
  })
})
