/**
 * Types tell the truth: every public signature of the package, checked with `expectTypeOf` (compiled by the
 * package's `typecheck`, tsc over test/), next to runtime calls proving the runtime returns what the type says.
 */
import {
  AbortedError as ContractsAbortedError,
  ClosedError as ContractsClosedError,
  TierkitError as ContractsTierkitError,
  TierkitTypeError as ContractsTierkitTypeError,
  type L1Store,
} from '@tierkit/contracts'
import { describe, expect, expectTypeOf, test } from 'vitest'
import {
  AbortedError,
  ClosedError,
  type CloseOptions,
  type EntryTooLargeError,
  type EvictionReason,
  errors,
  type GetOrLoadOptions,
  type InvalidSizeError,
  L1Cache,
  type L1CacheError,
  type L1CacheErrorCode,
  type L1CacheEvent,
  type L1CacheOptions,
  type L1CacheStats,
  type Loader,
  type LoaderContext,
  type Policy,
  type SetOptions,
  TierkitError,
  TierkitTypeError,
} from '../src/index.js'
import { rejection } from './helpers.js'

interface User {
  id: number
  name: string
}
const ada: User = { id: 1, name: 'Ada' }

describe('types', () => {
  test('constructor, options and read-only fields', () => {
    expectTypeOf(L1Cache).constructorParameters.toEqualTypeOf<[options: L1CacheOptions<unknown, unknown>]>()
    expectTypeOf<L1CacheOptions<string, User>>().toEqualTypeOf<{
      max?: number
      maxSize?: number
      sizeOf?: (value: User, key: string) => number
      ttl?: number
      policy?: Policy
      grace?: number
      onEvent?: (event: L1CacheEvent<string, User>) => void
      clock?: () => number
      sweepInterval?: number
    }>()
    expectTypeOf<Policy>().toEqualTypeOf<'lru' | 'tinylfu'>()
    const c = new L1Cache<string, User>({ max: 10, ttl: 1000, grace: 500, policy: 'lru' })
    expectTypeOf(c.max).toEqualTypeOf<number>()
    expectTypeOf(c.maxSize).toEqualTypeOf<number>()
    expectTypeOf(c.ttl).toEqualTypeOf<number>()
    expectTypeOf(c.grace).toEqualTypeOf<number>()
    expectTypeOf(c.policy).toEqualTypeOf<Policy>()
    expectTypeOf(c.size).toEqualTypeOf<number>()
    expectTypeOf(c.calculatedSize).toEqualTypeOf<number>()
    expect([c.max, c.maxSize, c.ttl, c.grace, c.policy, c.size, c.calculatedSize]).toEqual([
      10,
      0,
      1000,
      500,
      'lru',
      0,
      0,
    ])
  })

  test('get / peek / has / set / delete / clear', () => {
    const c = new L1Cache<string, User>({ max: 10 })
    expectTypeOf(c.get).parameters.toEqualTypeOf<[key: string]>()
    expectTypeOf(c.get).returns.toEqualTypeOf<User | undefined>()
    expectTypeOf(c.peek).parameters.toEqualTypeOf<[key: string]>()
    expectTypeOf(c.peek).returns.toEqualTypeOf<User | undefined>()
    expectTypeOf(c.has).parameters.toEqualTypeOf<[key: string]>()
    expectTypeOf(c.has).returns.toEqualTypeOf<boolean>()
    expectTypeOf(c.set).parameters.toEqualTypeOf<[key: string, value: User, options?: SetOptions]>()
    expectTypeOf(c.set).returns.toEqualTypeOf<L1Cache<string, User>>()
    expectTypeOf<SetOptions>().toEqualTypeOf<{ ttl?: number; size?: number }>()
    expectTypeOf(c.delete).parameters.toEqualTypeOf<[key: string]>()
    expectTypeOf(c.delete).returns.toEqualTypeOf<boolean>()
    expectTypeOf(c.clear).returns.toEqualTypeOf<void>()

    expect(c.set('u:1', ada, { ttl: 1000, size: 1 })).toBe(c)
    expect(c.get('u:1')).toBe(ada)
    expect(c.get('absent')).toBeUndefined()
    expect(c.peek('u:1')).toBe(ada)
    expect(c.peek('absent')).toBeUndefined()
    expect(c.has('u:1')).toBe(true)
    expect(c.delete('u:1')).toBe(true)
    expect(c.delete('u:1')).toBe(false)
    expect(c.clear()).toBeUndefined()
  })

  test('a cached "not found" (null) comes back as null, and the types say so', async () => {
    const c = new L1Cache<string, User | null>({ max: 10 })
    expectTypeOf(c.get).returns.toEqualTypeOf<User | null | undefined>()
    expectTypeOf(c.getOrLoad).returns.toEqualTypeOf<Promise<User | null | undefined>>()
    let calls = 0
    const find = (): User | null => {
      calls++
      return null
    }
    // the loader's null is cached (only undefined is not): the second call does not load
    expect(await c.getOrLoad('u:404', find)).toBeNull()
    expect(await c.getOrLoad('u:404', find)).toBeNull()
    expect(calls).toBe(1)
    expect(c.get('u:404')).toBeNull()
    expect(c.peek('u:404')).toBeNull()
    expect(c.has('u:404')).toBe(true)
    c.set('u:405', null)
    expect(c.get('u:405')).toBeNull()
    expect([...c.values()]).toEqual([null, null])
  })

  test('getOrLoad: the loader context, the options, and undefined where it can come back', async () => {
    const c = new L1Cache<string, User>({ max: 10 })
    expectTypeOf(c.getOrLoad).parameters.toEqualTypeOf<
      [key: string, loader: Loader<string, User>, options?: GetOrLoadOptions]
    >()
    expectTypeOf(c.getOrLoad).returns.toEqualTypeOf<Promise<User | undefined>>()
    expectTypeOf<Loader<string, User>>().toEqualTypeOf<
      (ctx: LoaderContext<string, User>) => User | undefined | PromiseLike<User | undefined>
    >()
    expectTypeOf<LoaderContext<string, User>>().toEqualTypeOf<{
      readonly key: string
      readonly signal: AbortSignal
      readonly stale: User | undefined
    }>()
    expectTypeOf<GetOrLoadOptions>().toEqualTypeOf<{ ttl?: number; signal?: AbortSignal }>()

    // a loaded undefined is returned (not cached): the `| undefined` is real
    expect(await c.getOrLoad('u:0', () => undefined)).toBeUndefined()
    // a caller joining another caller's load gets that load's result, undefined included
    const first = c.getOrLoad('u:9', async () => undefined)
    const second = c.getOrLoad('u:9', async () => ada)
    expect(await Promise.all([first, second])).toEqual([undefined, undefined])
    expect(await c.getOrLoad('u:1', async (ctx) => ({ id: 1, name: `user ${ctx.key}` }))).toEqual({
      id: 1,
      name: 'user u:1',
    })
  })

  test('entries / keys / values / iterator / forEach / remainingTtl / purgeStale / stats / close', async () => {
    const c = new L1Cache<string, User>({ max: 10 })
    expectTypeOf(c.entries).returns.toEqualTypeOf<Generator<[string, User], void, undefined>>()
    expectTypeOf(c.keys).returns.toEqualTypeOf<Generator<string, void, undefined>>()
    expectTypeOf(c.values).returns.toEqualTypeOf<Generator<User, void, undefined>>()
    expectTypeOf(c[Symbol.iterator]).returns.toEqualTypeOf<Generator<[string, User], void, undefined>>()
    expectTypeOf(c.forEach).parameters.toEqualTypeOf<
      [fn: (value: User, key: string, cache: L1Cache<string, User>) => void]
    >()
    expectTypeOf(c.remainingTtl).returns.toEqualTypeOf<number>()
    expectTypeOf(c.purgeStale).returns.toEqualTypeOf<number>()
    expectTypeOf(c.stats).returns.toEqualTypeOf<L1CacheStats>()
    expectTypeOf(c.close).parameters.toEqualTypeOf<[options?: CloseOptions]>()
    expectTypeOf(c.close).returns.toEqualTypeOf<Promise<void>>()
    expectTypeOf<CloseOptions>().toEqualTypeOf<{ timeout?: number }>()
    expectTypeOf<keyof L1CacheStats>().toEqualTypeOf<
      | 'hits'
      | 'misses'
      | 'stale'
      | 'sets'
      | 'deletes'
      | 'evictions'
      | 'expirations'
      | 'loads'
      | 'loadErrors'
      | 'oversized'
      | 'size'
      | 'calculatedSize'
      | 'hitRatio'
      | 'windowRatio'
    >()

    c.set('a', ada)
    c.set('b', ada, { ttl: 2000 })
    expect([...c.entries()].sort()).toEqual([
      ['a', ada],
      ['b', ada],
    ])
    expect([...c.keys()].sort()).toEqual(['a', 'b'])
    expect([...c.values()]).toEqual([ada, ada])
    expect([...c].length).toBe(2)
    const seen: string[] = []
    expect(
      c.forEach((_v, k) => {
        seen.push(k)
      }),
    ).toBeUndefined()
    expect(seen.sort()).toEqual(['a', 'b'])
    expect(c.remainingTtl('a')).toBe(Number.POSITIVE_INFINITY)
    expect(Number.isInteger(c.remainingTtl('b'))).toBe(true)
    expect(c.purgeStale()).toBe(0)
    const s = c.stats()
    expect(Object.values(s).map((v) => typeof v)).toEqual(Array(14).fill('number'))
    expect(Object.keys(s).sort()).toEqual(
      [
        'hits',
        'misses',
        'stale',
        'sets',
        'deletes',
        'evictions',
        'expirations',
        'loads',
        'loadErrors',
        'oversized',
        'size',
        'calculatedSize',
        'hitRatio',
        'windowRatio',
      ].sort(),
    )
    expect(await c.close()).toBeUndefined()
  })

  test('events: one union, narrowed by type', () => {
    expectTypeOf<L1CacheEvent<string, User>>().toEqualTypeOf<
      | {
          readonly type: 'evict'
          readonly key: string
          readonly value: User
          readonly reason: EvictionReason
        }
      | { readonly type: 'refresh-error'; readonly key: string; readonly error: unknown }
    >()
    expectTypeOf<EvictionReason>().toEqualTypeOf<'evict' | 'expire' | 'delete' | 'set' | 'clear'>()
    const events: L1CacheEvent<string, User>[] = []
    const c = new L1Cache<string, User>({ max: 1, policy: 'lru', onEvent: (e) => events.push(e) })
    c.set('a', ada)
    c.set('b', ada)
    const e = events[0]!
    if (e.type === 'evict') expectTypeOf(e.value).toEqualTypeOf<User>()
    expect(events).toEqual([{ type: 'evict', key: 'a', value: ada, reason: 'evict' }])
  })

  test('L1Cache is an L1Store of @tierkit/contracts', () => {
    expectTypeOf<L1Cache<string, unknown>>().toExtend<L1Store>()
    expectTypeOf<L1Cache<string, User>>().toExtend<L1Store>()
    const l1: L1Store = new L1Cache<string, unknown>({ max: 10 })
    l1.set('k', 1, { ttl: 1000 })
    expect(l1.get('k')).toBe(1)
  })

  test('errors: classes, codes, the errors map', async () => {
    expectTypeOf<L1CacheErrorCode>().toEqualTypeOf<
      'E_INVALID_SIZE' | 'E_ENTRY_TOO_LARGE' | 'E_ABORTED' | 'E_CLOSED' | 'E_INVALID_ARGUMENT'
    >()
    expectTypeOf<keyof typeof errors>().toEqualTypeOf<L1CacheErrorCode>()
    expectTypeOf(errors.E_INVALID_SIZE).toEqualTypeOf<typeof InvalidSizeError>()
    expectTypeOf(errors.E_ENTRY_TOO_LARGE).toEqualTypeOf<typeof EntryTooLargeError>()
    expectTypeOf(errors.E_ABORTED).toEqualTypeOf<typeof ContractsAbortedError>()
    expectTypeOf(errors.E_CLOSED).toEqualTypeOf<typeof ContractsClosedError>()
    expectTypeOf(errors.E_INVALID_ARGUMENT).toEqualTypeOf<typeof ContractsTierkitTypeError>()
    expectTypeOf<InvalidSizeError['code']>().toEqualTypeOf<'E_INVALID_SIZE'>()
    expectTypeOf<EntryTooLargeError['code']>().toEqualTypeOf<'E_ENTRY_TOO_LARGE'>()
    expectTypeOf<L1CacheError['code']>().toEqualTypeOf<'E_INVALID_SIZE' | 'E_ENTRY_TOO_LARGE'>()
    expectTypeOf<InvalidSizeError>().toExtend<ContractsTierkitError>()
    expectTypeOf<EntryTooLargeError['size']>().toEqualTypeOf<number>()

    // the re-exported shared errors are the contracts' classes themselves
    expect([AbortedError, ClosedError, TierkitError, TierkitTypeError]).toEqual([
      ContractsAbortedError,
      ContractsClosedError,
      ContractsTierkitError,
      ContractsTierkitTypeError,
    ])
    expect(Object.values(errors).map((cls) => typeof cls)).toEqual(Array(5).fill('function'))
    expect(Object.keys(errors).sort()).toEqual(
      ['E_ABORTED', 'E_CLOSED', 'E_ENTRY_TOO_LARGE', 'E_INVALID_ARGUMENT', 'E_INVALID_SIZE'].sort(),
    )
    expect(Object.isFrozen(errors)).toBe(true)
    const w = new L1Cache<string, string>({ maxSize: 3, sizeOf: (v) => v.length })
    let tooLarge: unknown
    try {
      w.set('k', 'long')
    } catch (e) {
      tooLarge = e
    }
    expect(tooLarge).toBeInstanceOf(errors.E_ENTRY_TOO_LARGE)
    expect((tooLarge as EntryTooLargeError).code).toBe('E_ENTRY_TOO_LARGE')
    const aborted = await rejection(w.getOrLoad('k', () => 'x', { signal: AbortSignal.abort() }))
    expect(aborted).toBeInstanceOf(errors.E_ABORTED)
    expect((aborted as AbortedError).code).toBe('E_ABORTED')
    await w.close()
    let closed: unknown
    try {
      w.get('k')
    } catch (e) {
      closed = e
    }
    expect(closed).toBeInstanceOf(errors.E_CLOSED)
    let bad: unknown
    try {
      new L1Cache({ max: -1 })
    } catch (e) {
      bad = e
    }
    expect(bad).toBeInstanceOf(errors.E_INVALID_ARGUMENT)
    expect((bad as TierkitTypeError).code).toBe('E_INVALID_ARGUMENT')
  })
})
