import { type L1Store, TierkitError, TierkitTypeError } from '@tierkit/contracts'
import { describe, expect, test } from 'vitest'
import {
  EntryTooLargeError,
  type EvictionReason,
  InvalidSizeError,
  L1Cache,
  L1CacheError,
  type L1CacheEvent,
} from '../src/index.js'
import { allocatedSlots, checkInvariants, typeError } from './helpers.js'

const policies = ['lru', 'tinylfu'] as const

const COUNT = 'an integer from 0 to 9007199254740991'
const WEIGHT = 'a number from 0 to 9007199254740991'
const TTL = 'a duration in ms, an integer from 0 to 315360000000'
const TIMER = 'a duration in ms, an integer from 0 to 2147483647'

describe('constructor', () => {
  test.each([
    ['max', -1, COUNT, '-1'],
    ['max', Number.NaN, COUNT, 'NaN'],
    ['max', Number.POSITIVE_INFINITY, COUNT, 'Infinity'],
    ['max', '10', COUNT, '"10"'],
    ['max', 2.5, COUNT, '2.5'],
    ['maxSize', -5, WEIGHT, '-5'],
    ['maxSize', Number.NaN, WEIGHT, 'NaN'],
    ['ttl', -1, TTL, '-1'],
    ['ttl', Number.POSITIVE_INFINITY, TTL, 'Infinity'],
    ['ttl', '60s', TTL, '"60s"'],
    ['ttl', 1.5, TTL, '1.5'],
    ['grace', -1, TTL, '-1'],
    ['grace', 0.5, TTL, '0.5'],
    ['sweepInterval', Number.NaN, TIMER, 'NaN'],
    ['sweepInterval', 2 ** 31, TIMER, '2147483648'],
  ])('%s = %s is a TierkitTypeError with the exact message', (name, value, rule, got) => {
    const options = { max: 10, [name]: value }
    const err = typeError(() => new L1Cache(options as never))
    expect(err).toBeInstanceOf(TierkitTypeError)
    expect(err).toBeInstanceOf(TypeError)
    expect(err.code).toBe('E_INVALID_ARGUMENT')
    expect(err.message).toBe(`L1Cache: options.${name} must be ${rule}, got ${got}`)
  })

  test('needs a bound', () => {
    const message = 'L1Cache: options.max or options.maxSize must be greater than 0, got max 0 and maxSize 0'
    expect(() => new L1Cache({})).toThrowError(new TierkitTypeError(message))
    expect(() => new L1Cache({ max: 0, maxSize: 0 })).toThrowError(new TierkitTypeError(message))
    expect(typeError(() => new L1Cache(null as never)).message).toBe(
      'L1Cache: options must be an object, got null',
    )
    expect(typeError(() => new L1Cache([] as never)).message).toBe(
      'L1Cache: options must be an object, got an array',
    )
  })

  test('policy and callbacks are checked', () => {
    expect(typeError(() => new L1Cache({ max: 1, policy: 'lfu' as never })).message).toBe(
      'L1Cache: options.policy must be one of "lru", "tinylfu", got "lfu"',
    )
    for (const name of ['sizeOf', 'onEvent', 'clock']) {
      expect(typeError(() => new L1Cache({ max: 1, [name]: 42 } as never)).message).toBe(
        `L1Cache: options.${name} must be a function, got 42`,
      )
    }
  })

  test('the options renamed in 0.2 are refused with a message naming the new one, not ignored', () => {
    expect(typeError(() => new L1Cache({ max: 1, staleWhileRevalidate: 50 } as never)).message).toBe(
      'L1Cache: options.staleWhileRevalidate must be left out (renamed grace), got 50',
    )
    expect(typeError(() => new L1Cache({ max: 1, onEvict: () => {} } as never)).message).toBe(
      "L1Cache: options.onEvict must be left out (replaced by onEvent, events of type 'evict'), got a function",
    )
    expect(typeError(() => new L1Cache({ max: 1, onBackgroundError: () => {} } as never)).message).toBe(
      "L1Cache: options.onBackgroundError must be left out (replaced by onEvent, events of type 'refresh-error'), got a function",
    )
  })

  test('construction allocates nothing proportional to max', () => {
    // 2^40 entries of storage would be terabytes: constructing must not try.
    const huge = new L1Cache<number, number>({ max: 2 ** 40 })
    expect(allocatedSlots(huge)).toBeLessThanOrEqual(32)
    for (let i = 0; i < 100; i++) huge.set(i, i)
    expect(huge.get(99)).toBe(99)
    expect(allocatedSlots(huge)).toBeLessThanOrEqual(256)
    checkInvariants(huge)
  })

  test('defaults', () => {
    const c = new L1Cache({ max: 5 })
    expect(c.policy).toBe('tinylfu')
    expect(c.max).toBe(5)
    expect(c.maxSize).toBe(0)
    expect(c.ttl).toBe(0)
    expect(c.grace).toBe(0)
    expect(c.size).toBe(0)
  })
})

describe.each(policies)('basic operations (%s)', (policy) => {
  test('set / get / peek / has / delete / size', () => {
    const c = new L1Cache<string, number>({ max: 10, policy })
    expect(c.set('a', 1)).toBe(c)
    c.set('b', 2)
    expect(c.size).toBe(2)
    expect(c.get('a')).toBe(1)
    expect(c.get('zz')).toBe(undefined)
    expect(c.peek('b')).toBe(2)
    expect(c.peek('zz')).toBe(undefined)
    expect(c.has('a')).toBe(true)
    expect(c.has('zz')).toBe(false)
    c.set('a', 10)
    expect(c.get('a')).toBe(10)
    expect(c.size).toBe(2)
    expect(c.delete('a')).toBe(true)
    expect(c.delete('a')).toBe(false)
    expect(c.get('a')).toBe(undefined)
    expect(c.size).toBe(1)
    checkInvariants(c)
  })

  test('set(key, undefined) deletes the key', () => {
    const events: L1CacheEvent<string, number | undefined>[] = []
    const c = new L1Cache<string, number | undefined>({
      max: 3,
      policy,
      onEvent: (e) => events.push(e),
    })
    c.set('a', 1)
    c.set('a', undefined)
    expect(c.has('a')).toBe(false)
    expect(events).toEqual([{ type: 'evict', key: 'a', value: 1, reason: 'delete' }])
  })

  test('stats count hits, misses, sets, deletes, evictions', () => {
    const c = new L1Cache<number, number>({ max: 2, policy })
    c.set(1, 1)
    c.set(2, 2)
    c.get(1)
    c.get(3)
    c.set(3, 3)
    c.delete(3)
    const s = c.stats()
    expect(s.hits).toBe(1)
    expect(s.misses).toBe(1)
    expect(s.sets).toBe(3)
    expect(s.deletes).toBe(s.size === 1 ? 1 : s.deletes)
    expect(s.evictions + s.size + s.deletes).toBe(3)
    expect(s.hitRatio).toBe(0.5)
    expect(s.expirations).toBe(0)
    expect(typeof s.windowRatio).toBe('number')
  })

  test('max is respected and eviction reports reason evict', () => {
    const evicted: [number, number, EvictionReason][] = []
    const c = new L1Cache<number, number>({
      max: 100,
      policy,
      onEvent: (e) => e.type === 'evict' && evicted.push([e.key, e.value, e.reason]),
    })
    for (let i = 0; i < 1000; i++) {
      if (c.get(i % 300) === undefined) c.set(i % 300, i)
    }
    expect(c.size).toBe(100)
    expect(evicted.length).toBe(c.stats().sets - 100)
    expect(evicted.every(([k, v, r]) => r === 'evict' && v % 300 === k)).toBe(true)
    checkInvariants(c)
  })

  test('evict event reasons: set (replaced value), delete, clear', () => {
    const log: string[] = []
    const c = new L1Cache<string, number>({
      max: 10,
      policy,
      onEvent: (e) => e.type === 'evict' && log.push(`${e.key}=${e.value}:${e.reason}`),
    })
    c.set('a', 1)
    c.set('a', 1) // same value: nothing left the cache
    c.set('a', 2)
    c.set('b', 3)
    c.delete('b')
    c.set('c', 4)
    c.set('d', 5)
    c.clear()
    expect(log.slice(0, 2)).toEqual(['a=1:set', 'b=3:delete'])
    expect(log.slice(2).sort()).toEqual(['a=2:clear', 'c=4:clear', 'd=5:clear'])
    expect(c.size).toBe(0)
    expect(c.get('a')).toBe(undefined)
    checkInvariants(c)
  })

  test('events arrive after the cache is consistent (the listener may use it); a throwing listener is ignored', () => {
    const sizes: number[] = []
    const seen: string[] = []
    const c = new L1Cache<string, number>({
      max: 10,
      policy,
      onEvent: (e) => {
        if (e.type !== 'evict') return
        sizes.push(c.size)
        seen.push(`${e.key}:${e.reason}`)
        if (e.key.startsWith('boom')) throw new Error('listener failed')
      },
    })
    c.set('boom', 1)
    c.set('x', 2)
    expect(c.delete('boom')).toBe(true)
    expect(sizes).toEqual([1])
    expect(c.has('boom')).toBe(false)
    expect(c.get('x')).toBe(2)
    // several events in one operation: a throw in the first does not stop the others
    c.set('boom2', 3)
    c.clear()
    expect(seen.slice(1).sort()).toEqual(['boom2:clear', 'x:clear'])
    expect(c.size).toBe(0)
    checkInvariants(c)
  })

  test('clear releases the storage', () => {
    const c = new L1Cache<number, number>({ max: 10_000, policy })
    for (let i = 0; i < 5000; i++) c.set(i, i)
    expect(allocatedSlots(c)).toBeGreaterThanOrEqual(5000)
    c.clear()
    expect(allocatedSlots(c)).toBeLessThan(64)
    c.set(1, 1)
    expect(c.get(1)).toBe(1)
    checkInvariants(c)
  })

  test('entries / keys / values / forEach / iterator never promote and skip nothing live', () => {
    const c = new L1Cache<string, number>({ max: 10, policy })
    for (const [i, k] of ['a', 'b', 'c'].entries()) c.set(k, i)
    c.get('a')
    const before = c.stats()
    expect(new Map(c.entries())).toEqual(
      new Map([
        ['a', 0],
        ['b', 1],
        ['c', 2],
      ]),
    )
    expect([...c.keys()].sort()).toEqual(['a', 'b', 'c'])
    expect([...c.values()].sort()).toEqual([0, 1, 2])
    const seen: string[] = []
    c.forEach((v, k, cache) => {
      expect(cache).toBe(c)
      expect(cache.peek(k)).toBe(v)
      seen.push(k)
    })
    expect(seen.sort()).toEqual(['a', 'b', 'c'])
    expect([...c].length).toBe(3)
    expect(c.stats()).toEqual(before)
  })

  test('deleting while iterating is safe', () => {
    const c = new L1Cache<number, number>({ max: 100, policy })
    for (let i = 0; i < 50; i++) c.set(i, i)
    const visited: number[] = []
    for (const [k] of c.entries()) {
      if (visited.length === 0) for (let i = 1; i < 50; i += 2) if (i !== k) c.delete(i)
      visited.push(k)
    }
    expect(visited.slice(1).every((k) => k % 2 === 0)).toBe(true)
    expect(visited.length).toBe(visited[0]! % 2 === 0 ? 25 : 26)
    expect(c.size).toBe(visited[0]! % 2 === 0 ? 25 : 26)
    checkInvariants(c)
  })

  test('keys of any type (objects by identity, numbers, symbols)', () => {
    const c = new L1Cache<unknown, string>({ max: 100, policy })
    const o = { id: 1 }
    const s = Symbol('s')
    c.set(o, 'object')
    c.set(1.5, 'float')
    c.set(s, 'symbol')
    c.set(10n, 'bigint')
    c.set(null, 'null')
    for (let i = 0; i < 300; i++) if (c.get({ id: i }) === undefined) c.set({ id: i }, 'x')
    expect(c.get(o) ?? 'evicted').toMatch(/object|evicted/)
    expect(c.get({ id: 1 })).toBe(undefined)
    checkInvariants(c)
  })

  test('set options are validated and a failed set changes nothing', () => {
    const c = new L1Cache<string, number>({ max: 10, policy })
    c.set('a', 1)
    expect(typeError(() => c.set('a', 2, { ttl: -1 })).message).toBe(
      `L1Cache.set: options.ttl must be ${TTL}, got -1`,
    )
    expect(typeError(() => c.set('a', 2, { ttl: 2.5 })).message).toBe(
      `L1Cache.set: options.ttl must be ${TTL}, got 2.5`,
    )
    expect(typeError(() => c.set('a', 2, { size: Number.NaN })).message).toBe(
      `L1Cache.set: options.size must be ${WEIGHT}, got NaN`,
    )
    expect(typeError(() => c.set('a', 2, 5 as never)).message).toBe(
      'L1Cache.set: options must be an object, got 5',
    )
    expect(c.get('a')).toBe(1)
    expect(c.stats().sets).toBe(1)
    checkInvariants(c)
  })
})

describe.each(policies)('weights (%s)', (policy) => {
  test('maxSize bounds the total weight given by sizeOf', () => {
    const c = new L1Cache<string, string>({ maxSize: 100, sizeOf: (v) => v.length, policy })
    for (let i = 0; i < 200; i++) {
      const k = `k${i % 40}`
      if (c.get(k) === undefined) c.set(k, 'x'.repeat(1 + (i % 13)))
      checkInvariants(c)
    }
    expect(c.calculatedSize).toBeLessThanOrEqual(100)
    expect(c.stats().calculatedSize).toBe(c.calculatedSize)
  })

  test('explicit size overrides sizeOf; growing an entry evicts others', () => {
    const c = new L1Cache<string, number>({ maxSize: 10, policy })
    c.set('a', 1, { size: 4 })
    c.set('b', 2, { size: 4 })
    expect(c.calculatedSize).toBe(8)
    c.set('b', 3, { size: 9 })
    expect(c.calculatedSize).toBeLessThanOrEqual(10)
    expect(c.get('b')).toBe(3)
    checkInvariants(c)
  })

  test('sizeOf returning a bad number throws InvalidSizeError and stores nothing', () => {
    const sizes: unknown[] = [Number.NaN, -1, Number.POSITIVE_INFINITY, '3', undefined]
    let next: unknown = 1
    const c = new L1Cache<string, number>({ maxSize: 100, sizeOf: () => next as number, policy })
    c.set('a', 1)
    for (const bad of sizes) {
      next = bad
      let err: unknown
      try {
        c.set('a', 2)
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(InvalidSizeError)
      expect(err).toBeInstanceOf(L1CacheError)
      expect(err).toBeInstanceOf(TierkitError)
      expect((err as InvalidSizeError).name).toBe('InvalidSizeError')
      expect((err as InvalidSizeError).code).toBe('E_INVALID_SIZE')
      expect((err as InvalidSizeError).key).toBe('a')
      expect(Object.is((err as InvalidSizeError).size, bad)).toBe(true)
      expect(() => c.set('new', 1)).toThrowError(InvalidSizeError)
      expect(c.get('a')).toBe(1)
      expect(c.has('new')).toBe(false)
      checkInvariants(c)
    }
  })

  test('sizeOf throwing becomes InvalidSizeError with the cause', () => {
    const boom = new Error('cannot measure')
    const c = new L1Cache<string, number>({
      maxSize: 10,
      policy,
      sizeOf: () => {
        throw boom
      },
    })
    let err: unknown
    try {
      c.set('a', 1)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(InvalidSizeError)
    expect((err as Error).cause).toBe(boom)
    expect((err as Error).message).toBe('sizeOf threw for key "a": cannot measure')
    expect(c.size).toBe(0)
  })

  test('an entry larger than maxSize is refused with EntryTooLargeError and counted', () => {
    const reasons: EvictionReason[] = []
    const c = new L1Cache<string, string>({
      maxSize: 10,
      policy,
      sizeOf: (v) => v.length,
      onEvent: (e) => e.type === 'evict' && reasons.push(e.reason),
    })
    c.set('a', 'short')
    let err: unknown
    try {
      c.set('a', 'much too long for this cache')
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(EntryTooLargeError)
    expect(err).toBeInstanceOf(TierkitError)
    expect((err as EntryTooLargeError).name).toBe('EntryTooLargeError')
    expect((err as EntryTooLargeError).code).toBe('E_ENTRY_TOO_LARGE')
    expect((err as EntryTooLargeError).size).toBe(28)
    expect((err as EntryTooLargeError).maxSize).toBe(10)
    expect((err as Error).message).toBe('entry size 28 is larger than maxSize 10 for key "a"')
    expect(c.get('a')).toBe('short')
    expect(c.stats().oversized).toBe(1)
    expect(reasons).toEqual([])
    checkInvariants(c)
  })
})

describe('tinylfu policy', () => {
  test('is scan-resistant: a one-time scan does not flush a frequently used working set', () => {
    const run = (policy: 'lru' | 'tinylfu'): number => {
      const c = new L1Cache<string, number>({ max: 100, policy })
      const access = (k: string): void => {
        if (c.get(k) === undefined) c.set(k, 1)
      }
      for (let r = 0; r < 20; r++) for (let i = 0; i < 80; i++) access(`hot${i}`)
      for (let i = 0; i < 1000; i++) access(`scan${i}`)
      let kept = 0
      for (let i = 0; i < 80; i++) if (c.peek(`hot${i}`) !== undefined) kept++
      return kept
    }
    expect(run('lru')).toBe(0)
    expect(run('tinylfu')).toBeGreaterThanOrEqual(75)
  })

  test('adapts: on a purely recency-driven stream the window grows towards LRU', () => {
    const c = new L1Cache<number, number>({ max: 100 })
    let seed = 42
    const rnd = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
      return seed / 2 ** 32
    }
    const history: number[] = []
    let next = 0
    for (let i = 0; i < 60_000; i++) {
      const k =
        history.length === 0 || rnd() < 0.2 ? next++ : history[history.length - 1 - Math.floor(rnd() * 40)]!
      history.push(k)
      if (history.length > 100) history.shift()
      if (c.get(k) === undefined) c.set(k, k)
    }
    expect(c.stats().windowRatio).toBeGreaterThan(0.3)
    checkInvariants(c)
  })
})

test("L1Cache is an L1Store of @tierkit/contracts (redis-aside's l1)", () => {
  const l1: L1Store = new L1Cache<string, { id: number }>({ max: 10 })
  l1.set('k', { id: 1 }, { ttl: 1000 })
  expect(l1.get('k')).toEqual({ id: 1 })
  expect(l1.delete('k')).toBe(true)
  l1.set('j', { id: 2 })
  l1.clear()
  expect(l1.get('j')).toBeUndefined()
})
