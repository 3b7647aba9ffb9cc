import {
  AbortedError as ContractsAbortedError,
  type LoaderContext,
  TierkitTypeError,
} from '@tierkit/contracts'
import { describe, expect, test } from 'vitest'
import { AbortedError, InvalidSizeError, L1Cache } from '../src/index.js'
import { checkInvariants, deferred, rejection } from './helpers.js'

describe.each(['lru', 'tinylfu'] as const)('getOrLoad (%s)', (policy) => {
  test('concurrent callers share one load, and the value is cached', async () => {
    const c = new L1Cache<string, number>({ max: 10, policy })
    const d = deferred<number>()
    let calls = 0
    const contexts: LoaderContext<string, number>[] = []
    const loader = (ctx: LoaderContext<string, number>): Promise<number> => {
      calls++
      contexts.push(ctx)
      return d.promise
    }
    const waiters = Array.from({ length: 10 }, () => c.getOrLoad('k', loader))
    d.resolve(42)
    expect(await Promise.all(waiters)).toEqual(Array(10).fill(42))
    expect(calls).toBe(1)
    // the family's one loader context: the key, a signal, and no stale value on a plain miss
    expect(contexts[0]!.key).toBe('k')
    expect(contexts[0]!.signal).toBeInstanceOf(AbortSignal)
    expect(contexts[0]!.signal.aborted).toBe(false)
    expect(contexts[0]!.stale).toBeUndefined()
    expect(c.get('k')).toBe(42)
    expect(await c.getOrLoad('k', loader)).toBe(42)
    expect(calls).toBe(1)
    expect(c.stats().loads).toBe(1)
  })

  test('a loader error reaches every waiter and caches nothing', async () => {
    const c = new L1Cache<string, number>({ max: 10, policy })
    const d = deferred<number>()
    const boom = new Error('db down')
    const waiters = Array.from({ length: 5 }, () => c.getOrLoad('k', () => d.promise))
    d.reject(boom)
    const results = await Promise.allSettled(waiters)
    expect(results.every((r) => r.status === 'rejected' && r.reason === boom)).toBe(true)
    expect(c.has('k')).toBe(false)
    expect(c.stats().loadErrors).toBe(1)
    // the next call loads again
    expect(await c.getOrLoad('k', () => 1)).toBe(1)
  })

  test('a loader that throws synchronously rejects the same way', async () => {
    const c = new L1Cache<string, number>({ max: 10, policy })
    await expect(
      c.getOrLoad('k', () => {
        throw new TypeError('bad')
      }),
    ).rejects.toThrowError('bad')
    expect(c.size).toBe(0)
  })

  test('an aborted signal rejects that caller only', async () => {
    const c = new L1Cache<string, number>({ max: 10, policy })
    const d = deferred<number>()
    let loaderSignal: AbortSignal | undefined
    const loader = (ctx: LoaderContext<string, number>): Promise<number> => {
      loaderSignal = ctx.signal
      return d.promise
    }
    const ac = new AbortController()
    const aborted = c.getOrLoad('k', loader, { signal: ac.signal })
    const other = c.getOrLoad('k', loader)
    ac.abort(new Error('client went away'))
    const err = await rejection(aborted)
    // contracts' AbortedError, the same class the package re-exports
    expect(AbortedError).toBe(ContractsAbortedError)
    expect(err).toBeInstanceOf(AbortedError)
    expect((err as AbortedError).code).toBe('E_ABORTED')
    expect((err as AbortedError).name).toBe('AbortError')
    expect((err as AbortedError).key).toBe('k')
    expect((err as AbortedError).message).toBe('L1Cache.getOrLoad was aborted by its signal')
    expect(((err as AbortedError).cause as Error).message).toBe('client went away')
    // the shared load goes on for the other caller
    expect(loaderSignal?.aborted).toBe(false)
    d.resolve(7)
    expect(await other).toBe(7)
    expect(c.get('k')).toBe(7)
  })

  test('when every waiter aborts, the loader signal is aborted', async () => {
    const c = new L1Cache<string, number>({ max: 10, policy })
    let loaderSignal: AbortSignal | undefined
    const a1 = new AbortController()
    const a2 = new AbortController()
    const loader = (ctx: LoaderContext<string, number>): Promise<number> => {
      loaderSignal = ctx.signal
      return new Promise(() => {})
    }
    const p1 = c.getOrLoad('k', loader, { signal: a1.signal })
    const p2 = c.getOrLoad('k', loader, { signal: a2.signal })
    a1.abort()
    expect(loaderSignal?.aborted).toBe(false)
    const last = new Error('the last caller left')
    a2.abort(last)
    expect(loaderSignal?.aborted).toBe(true)
    expect(loaderSignal?.reason).toBe(last)
    await expect(p1).rejects.toBeInstanceOf(AbortedError)
    await expect(p2).rejects.toBeInstanceOf(AbortedError)
  })

  test('an already aborted signal rejects without calling the loader', async () => {
    const c = new L1Cache<string, number>({ max: 10, policy })
    let calls = 0
    await expect(
      c.getOrLoad(
        'k',
        () => {
          calls++
          return 1
        },
        { signal: AbortSignal.abort() },
      ),
    ).rejects.toBeInstanceOf(AbortedError)
    expect(calls).toBe(0)
  })

  test('a delete or set during the load wins over the loaded value', async () => {
    const c = new L1Cache<string, number>({ max: 10, policy })
    const d = deferred<number>()
    const p = c.getOrLoad('k', () => d.promise)
    c.set('k', 99)
    d.resolve(1)
    expect(await p).toBe(1)
    expect(c.get('k')).toBe(99)
    const d2 = deferred<number>()
    const p2 = c.getOrLoad('j', () => d2.promise)
    c.delete('j')
    d2.resolve(2)
    expect(await p2).toBe(2)
    expect(c.has('j')).toBe(false)
    const d3 = deferred<number>()
    const p3 = c.getOrLoad('i', () => d3.promise)
    c.clear()
    d3.resolve(3)
    expect(await p3).toBe(3)
    expect(c.has('i')).toBe(false)
  })

  test('undefined is returned but not cached; ttl option applies', async () => {
    let t = 0
    const c = new L1Cache<string, number>({ max: 10, policy, clock: () => t })
    expect(await c.getOrLoad('k', () => undefined)).toBe(undefined)
    expect(c.has('k')).toBe(false)
    expect(await c.getOrLoad('k', async () => 5, { ttl: 10 })).toBe(5)
    expect(c.remainingTtl('k')).toBe(10)
    t = 10
    expect(c.get('k')).toBe(undefined)
  })

  test('an oversized loaded value is returned, not stored, and counted', async () => {
    const c = new L1Cache<string, string>({ maxSize: 5, sizeOf: (v) => v.length, policy })
    expect(await c.getOrLoad('k', () => 'far too long')).toBe('far too long')
    expect(c.has('k')).toBe(false)
    expect(c.stats().oversized).toBe(1)
  })

  test('a loaded value that sizeOf rejects rejects every waiter with InvalidSizeError', async () => {
    const c = new L1Cache<string, number>({ maxSize: 5, sizeOf: () => Number.NaN, policy })
    const results = await Promise.allSettled([
      c.getOrLoad('k', async () => 1),
      c.getOrLoad('k', async () => 1),
    ])
    expect(results.map((r) => r.status === 'rejected' && r.reason instanceof InvalidSizeError)).toEqual([
      true,
      true,
    ])
    expect(c.size).toBe(0)
    checkInvariants(c)
  })

  test('bad arguments are TierkitTypeErrors with exact messages (rejections), and change nothing', async () => {
    const c = new L1Cache<string, number>({ max: 10, policy })
    const cases: [() => Promise<unknown>, string][] = [
      [() => c.getOrLoad('k', 5 as never), 'L1Cache.getOrLoad: loader must be a function, got 5'],
      [
        () => c.getOrLoad('k', () => 1, { signal: {} as never }),
        'L1Cache.getOrLoad: options.signal must be an AbortSignal, got an object',
      ],
      [
        () => c.getOrLoad('k', () => 1, { ttl: -3 }),
        'L1Cache.getOrLoad: options.ttl must be a duration in ms, an integer from 0 to 315360000000, got -3',
      ],
      [
        () => c.getOrLoad('k', () => 1, { ttl: 0.5 }),
        'L1Cache.getOrLoad: options.ttl must be a duration in ms, an integer from 0 to 315360000000, got 0.5',
      ],
      [
        () => c.getOrLoad('k', () => 1, 'fast' as never),
        'L1Cache.getOrLoad: options must be an object, got "fast"',
      ],
    ]
    for (const [call, message] of cases) {
      const err = await rejection(call())
      expect(err).toBeInstanceOf(TierkitTypeError)
      expect((err as TierkitTypeError).code).toBe('E_INVALID_ARGUMENT')
      expect((err as Error).message).toBe(message)
    }
    expect(c.stats().loads).toBe(0)
    expect(c.stats().misses).toBe(0)
    expect(c.size).toBe(0)
  })

  test('a key that is not a string: the loader gets it as ctx.key, an abort has no key field', async () => {
    const c = new L1Cache<{ id: number }, string>({ max: 10, policy })
    const k = { id: 7 }
    const seen: unknown[] = []
    const loader = (ctx: LoaderContext<{ id: number }, string>): string => {
      seen.push(ctx.key)
      return `user ${ctx.key.id}`
    }
    expect(await c.getOrLoad(k, loader)).toBe('user 7')
    expect(seen).toEqual([k])
    expect(seen[0]).toBe(k)
    const err = await rejection(c.getOrLoad({ id: 8 }, () => 'x', { signal: AbortSignal.abort() }))
    expect(err).toBeInstanceOf(AbortedError)
    expect((err as AbortedError).key).toBeUndefined()
  })
})
