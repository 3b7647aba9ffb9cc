/**
 * The public signatures of @tierkit/invalidation, checked at compile time (`expectTypeOf`, compiled by the
 * package's `typecheck`) next to runtime calls of the same functions showing that the runtime returns what
 * the type says (including `null` where a cached "not found" can come back, and `undefined` where the tags
 * turn it into a miss).
 */
import type {
  CacheObserver,
  CloseOptions,
  Store as ContractsStore,
  WritableCache as ContractsWritableCache,
  LoaderContext,
} from '@tierkit/contracts'
import { TierkitError } from '@tierkit/contracts'
import { createCache } from '@tierkit/redis-aside'
import { startRedis } from '@tierkit/testkit'
import type { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest'
import {
  AbortedError,
  type BusEvent,
  type BusStats,
  CacheDeleteError,
  CacheWriteError,
  ClosedError,
  CorruptPayloadError,
  createFlusher,
  createInvalidationBus,
  createTags,
  createTrackingInvalidator,
  type DeadLetter,
  deleteOnUpdate,
  errors,
  type Flusher,
  type FlusherEvent,
  type FlusherStats,
  FlushTimeoutError,
  type InvalidationBus,
  InvalidationError,
  type InvalidationErrorCode,
  jitterTtl,
  type LocalEvictor,
  MalformedEntryError,
  PublishError,
  type QueuedWrite,
  type QueueKeys,
  QueueWriteError,
  queueKeys,
  type ReadableCache,
  ReadyTimeoutError,
  RepairQueueFullError,
  readDeadLetters,
  requeueDeadLetters,
  ShardCountError,
  type Store,
  StoreError,
  StoreResultError,
  type Tags,
  type TagsLoaderContext,
  TagsUnavailableError,
  TierkitTypeError,
  type TrackingEvent,
  type TrackingInvalidator,
  type TrackingStats,
  ttlFromValue,
  UnknownTagError,
  UnserializableValueError,
  type WritableCache,
  type WriteBehind,
  type WriteBehindEvent,
  type Writer,
  type WriterEvent,
  type WriterStats,
  writeBehind,
  writeThrough,
} from '../src/index.js'
import { type StoreUnderTest, testStore } from '../src/testing.js'
import { MapL1 } from './helpers/cache.js'
import { redisClient } from './helpers/clients.js'
import { MemoryStore } from './helpers/memory-store.js'

interface User {
  name: string
}

let url = ''
const closers: Array<() => Promise<unknown>> = []
beforeAll(async () => {
  url = (await startRedis()).url
})
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => {})
})

function client(): Redis {
  const r = redisClient(url, { maxRetriesPerRequest: 1 })
  r.on('error', () => {})
  closers.push(() => r.quit())
  return r
}

function cacheOn(redis: Redis, namespace: string) {
  const cache = createCache({ redis, l1: new MapL1(), namespace, ttl: 60_000 })
  closers.push(() => cache.close())
  return cache
}

describe('the shapes of @tierkit/contracts, re-exported', () => {
  it('Store and WritableCache are the contracts types; redis-aside caches are WritableCache and ReadableCache', () => {
    expectTypeOf<Store<User>>().toEqualTypeOf<ContractsStore<User>>()
    expectTypeOf<WritableCache>().toEqualTypeOf<ContractsWritableCache>()
    const cache = cacheOn(client(), 'ty0')
    expectTypeOf(cache).toExtend<WritableCache>()
    expectTypeOf(cache).toExtend<ReadableCache>()
    expectTypeOf(cache).toExtend<LocalEvictor>()
    // Store has no `load`: the write path never reads the database
    expectTypeOf<keyof Store>().toEqualTypeOf<'save' | 'remove' | 'saveMany'>()
    const store: Store<User> = new MemoryStore<User>()
    expect(typeof store.save).toBe('function')
    expect(Object.keys(errors)).toContain('E_CLOSED')
  })
})

describe('writers', () => {
  it('deleteOnUpdate / writeThrough: write and remove resolve to undefined, stats to WriterStats', async () => {
    const cache = cacheOn(client(), 'ty1')
    const store = new MemoryStore<User>()
    const events: WriterEvent[] = []
    const observed: string[] = []
    const observer: CacheObserver = { record: (layer, outcome) => void observed.push(`${layer}:${outcome}`) }
    const dou = deleteOnUpdate<User>({ cache, store, observer, onEvent: (e) => events.push(e) })
    const wt = writeThrough<User>({ cache, store, ttl: 60_000, jitter: 0.1, repair: { retryDelay: 50 } })
    expectTypeOf(deleteOnUpdate<User>).returns.toEqualTypeOf<Writer<User>>()
    expectTypeOf(writeThrough<User>).returns.toEqualTypeOf<Writer<User>>()
    expectTypeOf(dou.write).parameters.toEqualTypeOf<[key: string, value: User, options?: { ttl?: number }]>()
    expectTypeOf(dou.write).returns.toEqualTypeOf<Promise<void>>()
    expectTypeOf(dou.remove).toEqualTypeOf<(key: string) => Promise<void>>()
    expectTypeOf(dou.stats).returns.toEqualTypeOf<WriterStats>()
    expect(await dou.write('u', { name: 'Ada' })).toBeUndefined()
    expect(await wt.write('u', { name: 'Bob' }, { ttl: 1000 })).toBeUndefined()
    expect(await wt.remove('u')).toBeUndefined()
    expect(dou.stats()).toEqual({ pendingRepairs: 0, repaired: 0, overflowed: 0 })
    expect(observed).toEqual(['db:set'])
    expect(events).toEqual([])
    expectTypeOf<WriterEvent['type']>().toEqualTypeOf<
      'repair-queued' | 'repaired' | 'repair-failed' | 'repair-overflow' | 'repair-dropped'
    >()
  })
})

describe('write-behind', () => {
  it('writeBehind: write and remove resolve to { id, version }, flush and close to undefined', async () => {
    const redis = client()
    const cache = cacheOn(redis, 'ty2')
    const store = new MemoryStore<User>()
    const events: WriteBehindEvent[] = []
    const wb = writeBehind<User>({
      redis,
      name: 'ty2',
      cache,
      flusher: { store, pollInterval: 50 },
      onEvent: (e) => events.push(e),
    })
    expectTypeOf(writeBehind<User>).returns.toEqualTypeOf<WriteBehind<User>>()
    expectTypeOf(wb.write).returns.toEqualTypeOf<Promise<QueuedWrite>>()
    expectTypeOf(wb.remove).returns.toEqualTypeOf<Promise<QueuedWrite>>()
    expectTypeOf(wb.flush).toEqualTypeOf<(options?: CloseOptions) => Promise<void>>()
    expectTypeOf(wb.close).toEqualTypeOf<(options?: CloseOptions) => Promise<void>>()
    expectTypeOf(wb.flusher).toEqualTypeOf<Flusher | undefined>()
    const ack = await wb.write('u', { name: 'Ada' })
    expect(typeof ack.id).toBe('string')
    expect(Number.isSafeInteger(ack.version)).toBe(true)
    const removed = await wb.remove('u')
    expect(removed.version).toBeGreaterThan(ack.version)
    expect(await wb.flush({ timeout: 10_000 })).toBeUndefined()
    expect(wb.flusher).toBeDefined()
    expect(await wb.close()).toBeUndefined()
    expect(writeBehind<User>({ redis, name: 'ty2b' }).flusher).toBeUndefined()
    expect(events).toEqual([])
  })

  it('createFlusher, readDeadLetters, requeueDeadLetters, queueKeys', async () => {
    const redis = client()
    const store = new MemoryStore<User>()
    store.failing = true
    const events: FlusherEvent[] = []
    const wb = writeBehind<User>({ redis, name: 'ty3' })
    await wb.write('u', { name: 'Ada' })
    const flusher = createFlusher<User>({
      redis,
      name: 'ty3',
      store,
      maxAttempts: 1,
      onEvent: (e) => events.push(e),
    })
    closers.push(() => flusher.close({ timeout: 1_000 }))
    expectTypeOf(createFlusher<User>).returns.toEqualTypeOf<Flusher>()
    expectTypeOf(flusher.consumer).toEqualTypeOf<string>()
    expectTypeOf(flusher.flush).toEqualTypeOf<(options?: CloseOptions) => Promise<void>>()
    expectTypeOf(flusher.stats).returns.toEqualTypeOf<FlusherStats>()
    expect(await flusher.flush({ timeout: 10_000 })).toBeUndefined()
    expect(flusher.stats().deadLettered).toBe(1)
    expectTypeOf(readDeadLetters).returns.toEqualTypeOf<Promise<DeadLetter[]>>()
    const dead = await readDeadLetters(redis, 'ty3', 10)
    expect(dead).toHaveLength(1)
    expect(dead[0]).toMatchObject({ key: 'u', operation: 'save', shard: 0, code: 'E_STORE_FAILED' })
    expectTypeOf(requeueDeadLetters).returns.toEqualTypeOf<Promise<number>>()
    expect(await requeueDeadLetters(redis, 'ty3', [])).toBe(0)
    expectTypeOf(queueKeys).toEqualTypeOf<(name: string, shard?: number) => QueueKeys>()
    expect(queueKeys('ty3')).toEqual({
      stream: 'wb:{ty3}:q',
      seq: 'wb:{ty3}:seq',
      dead: 'wb:{ty3}:dead',
      guard: 'wb:{ty3}:a:',
    })
    expectTypeOf<Extract<FlusherEvent, { type: 'retry' }>['delay']>().toEqualTypeOf<number>()
    expect(events.map((e) => e.type)).toContain('dead-letter')
  })
})

describe('tags', () => {
  it('get is T | undefined (a cached "not found" of the cache is a miss), getOrLoad is T (null when T has it)', async () => {
    const redis = client()
    const cache = cacheOn(redis, 'ty4')
    const tags = createTags<User | null>({ redis, cache, namespace: 'ty4' })
    expectTypeOf(createTags<User | null>).returns.toEqualTypeOf<Tags<User | null>>()
    expectTypeOf(tags.get).returns.toEqualTypeOf<Promise<User | null | undefined>>()
    expectTypeOf(tags.getOrLoad).returns.toEqualTypeOf<Promise<User | null>>()
    expectTypeOf(tags.getOrLoad)
      .parameter(1)
      .toEqualTypeOf<(ctx: TagsLoaderContext<User | null>) => User | null | Promise<User | null>>()
    expectTypeOf<TagsLoaderContext<User>>().toEqualTypeOf<LoaderContext<string, User>>()
    expectTypeOf(tags.set).returns.toEqualTypeOf<Promise<void>>()
    expectTypeOf(tags.invalidateTags).toEqualTypeOf<(tags: readonly string[]) => Promise<void>>()
    // redis-aside caches a "not found" as null; tags.get does not serve it (not a tagged value): undefined
    expect(await cache.getOrLoad('absent', () => null)).toBeNull()
    expect(await tags.get('absent')).toBeUndefined()
    // a null the loader returns is a value of T: returned, stored, served as null
    expect(await tags.getOrLoad('nobody', () => null, { tags: ['users'] })).toBeNull()
    expect(await tags.get('nobody')).toBeNull()
    expect(await tags.set('u', { name: 'Ada' }, { tags: ['users'], ttl: 1000 })).toBeUndefined()
    expect(await tags.get('u')).toEqual({ name: 'Ada' })
    expect(await tags.invalidateTags(['users'])).toBeUndefined()
    expect(await tags.get('u')).toBeUndefined()
  })
})

describe('bus and tracking', () => {
  it('createInvalidationBus: ready/close take { timeout }, publish resolves undefined, attach returns a detach function', async () => {
    const redis = client()
    const cache = cacheOn(redis, 'ty5')
    const events: BusEvent[] = []
    const bus = createInvalidationBus({
      redis,
      channel: 'ty5',
      caches: [cache],
      onEvent: (e) => events.push(e),
    })
    expectTypeOf(createInvalidationBus).returns.toEqualTypeOf<InvalidationBus>()
    expectTypeOf(bus.ready).toEqualTypeOf<(options?: CloseOptions) => Promise<void>>()
    expectTypeOf(bus.close).toEqualTypeOf<(options?: CloseOptions) => Promise<void>>()
    expectTypeOf(bus.attach).toEqualTypeOf<(cache: LocalEvictor) => () => void>()
    expectTypeOf(bus.stats).returns.toEqualTypeOf<BusStats>()
    expectTypeOf(bus).not.toHaveProperty('subscribe')
    expectTypeOf<BusEvent['type']>().toEqualTypeOf<
      'ready' | 'message' | 'reconnect' | 'invalid-message' | 'error'
    >()
    expect(await bus.ready({ timeout: 10_000 })).toBeUndefined()
    expect(await bus.publish({ keys: ['k'] })).toBeUndefined()
    const detach = bus.attach({ evictLocal: () => undefined })
    expect(detach()).toBeUndefined()
    expect(bus.stats()).toMatchObject({ published: 1, received: 0, reconnects: 0 }) // ignoredOwn: when its own message is back
    expect(typeof bus.instanceId).toBe('string')
    expect(await bus.close()).toBeUndefined()
    expect(events[0]).toEqual({ type: 'ready' })
  })

  it('createTrackingInvalidator: ready/close take { timeout }, stats are TrackingStats', async () => {
    const redis = client()
    const cache = cacheOn(redis, 'ty6')
    const events: TrackingEvent[] = []
    const tracking = createTrackingInvalidator({
      redis,
      prefixes: ['ra:3:ty6:v:'],
      toKey: (k) => k,
      caches: [cache],
      onEvent: (e) => events.push(e),
    })
    expectTypeOf(createTrackingInvalidator).returns.toEqualTypeOf<TrackingInvalidator>()
    expectTypeOf(tracking.ready).toEqualTypeOf<(options?: CloseOptions) => Promise<void>>()
    expectTypeOf(tracking.stats).returns.toEqualTypeOf<TrackingStats>()
    expect(await tracking.ready({ timeout: 10_000 })).toBeUndefined()
    expect(tracking.stats()).toEqual({ messages: 0, evicted: 0, clears: 0 })
    expect(await tracking.close()).toBeUndefined()
    expect(events).toEqual([{ type: 'ready' }])
  })
})

describe('TTL helpers', () => {
  it('jitterTtl returns an integer TTL, ttlFromValue a TTL function', () => {
    expectTypeOf(jitterTtl).toEqualTypeOf<(ttl: number, jitter: number, random?: () => number) => number>()
    expect(jitterTtl(1000, 0.5, () => 0.5)).toBe(750)
    const ttl = ttlFromValue((u: { maxAge: number }) => u.maxAge)
    expectTypeOf(ttl).toEqualTypeOf<(key: string, value: { maxAge: number }) => number>()
    expect(ttl('k', { maxAge: 1.2 })).toBe(2)
  })
})

describe('errors', () => {
  it('the errors map covers every code, each class has its code and its name, all are TierkitErrors', () => {
    expectTypeOf<keyof typeof errors>().toEqualTypeOf<InvalidationErrorCode>()
    expectTypeOf<StoreError['code']>().toEqualTypeOf<'E_STORE_FAILED'>()
    expectTypeOf<FlushTimeoutError['timeout']>().toEqualTypeOf<number>()
    expectTypeOf<ReadyTimeoutError['timeout']>().toEqualTypeOf<number>()
    const samples: Array<[InvalidationErrorCode, Error & { code: string }]> = [
      ['E_INVALID_ARGUMENT', new TierkitTypeError('x: y must be z, got 1')],
      ['E_CLOSED', new ClosedError('the bus')],
      ['E_UNSERIALIZABLE', new UnserializableValueError('$', 'a function', 'k')],
      ['E_CORRUPT_PAYLOAD', new CorruptPayloadError('bad')],
      ['E_ABORTED', new AbortedError('tags.getOrLoad', 'gone', 'k')],
      ['E_UNKNOWN_TAG', new UnknownTagError('tags.set', 't')],
      ['E_STORE_FAILED', new StoreError('save', 'k', new Error('down'))],
      ['E_STORE_BAD_RESULT', new StoreResultError('save', 'k', 1)],
      ['E_CACHE_WRITE_FAILED', new CacheWriteError('k', true, new Error('x'))],
      ['E_CACHE_DELETE_FAILED', new CacheDeleteError(['k'], new Error('x'))],
      ['E_QUEUE_WRITE_FAILED', new QueueWriteError('writeBehind.write', 'k', new Error('x'))],
      [
        'E_FLUSH_TIMEOUT',
        new FlushTimeoutError('writeBehind.flush', {
          queue: 'q',
          timeout: 1,
          remaining: 1,
          unreachableShards: 0,
        }),
      ],
      ['E_PUBLISH_FAILED', new PublishError('ch', new Error('x'))],
      ['E_READY_TIMEOUT', new ReadyTimeoutError('bus.ready', 'the invalidation bus', 1)],
      ['E_TAGS_UNAVAILABLE', new TagsUnavailableError('set', ['t'], new Error('x'))],
      ['E_REPAIR_QUEUE_FULL', new RepairQueueFullError('k', 1, new Error('x'))],
      ['E_MALFORMED_ENTRY', new MalformedEntryError('1-0')],
      ['E_SHARD_COUNT', new ShardCountError('q', 8, 1)],
    ]
    expect(samples.map(([c]) => c).sort()).toEqual(Object.keys(errors).sort())
    for (const [code, e] of samples) {
      expect(e).toBeInstanceOf(errors[code])
      expect(e.code).toBe(code)
      if (code === 'E_INVALID_ARGUMENT') expect(e).toBeInstanceOf(TypeError)
      else expect(e).toBeInstanceOf(TierkitError)
    }
    // name = the class name (AbortedError is named AbortError, as fetch and Node name theirs)
    expect(
      samples.filter(([c]) => c !== 'E_INVALID_ARGUMENT' && c !== 'E_ABORTED').map(([, e]) => e.name),
    ).toEqual(
      samples
        .filter(([c]) => c !== 'E_INVALID_ARGUMENT' && c !== 'E_ABORTED')
        .map(([c]) => (errors[c] as { name: string }).name),
    )
    expect(new StoreError('save', 'k', new Error('down'))).toBeInstanceOf(InvalidationError)
    expect(new StoreError('save', 'k', new Error('down')).cause).toEqual(new Error('down'))
  })
})

describe('@tierkit/invalidation/testing', () => {
  it('testStore takes a factory of StoreUnderTest', () => {
    expectTypeOf(testStore).toEqualTypeOf<
      (name: string, factory: () => StoreUnderTest | Promise<StoreUnderTest>) => void
    >()
    expect(typeof testStore).toBe('function')
  })
})
