import { describe, expect, test } from 'vitest'
import { InvalidSizeError, L1Cache, LoadAbortedError } from '../src/index.js'
import { checkInvariants } from './helpers.js'

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void
  let reject!: (e: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

describe.each(['lru', 'tinylfu'] as const)('getOrLoad (%s)', (policy) => {
  test('concurrent callers share one load, and the value is cached', async () => {
    const c = new L1Cache<string, number>({ max: 10, policy })
    const d = deferred<number>()
    let calls = 0
    const loader = (): Promise<number> => {
      calls++
      return d.promise
    }
    const waiters = Array.from({ length: 10 }, () => c.getOrLoad('k', loader))
    d.resolve(42)
    expect(await Promise.all(waiters)).toEqual(Array(10).fill(42))
    expect(calls).toBe(1)
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
    const loader = (_k: string, ctx: { signal: AbortSignal }): Promise<number> => {
      loaderSignal = ctx.signal
      return d.promise
    }
    const ac = new AbortController()
    const aborted = c.getOrLoad('k', loader, { signal: ac.signal })
    const other = c.getOrLoad('k', loader)
    ac.abort(new Error('client went away'))
    const err = await aborted.catch((e: unknown) => e)
    expect(err).toBeInstanceOf(LoadAbortedError)
    expect((err as LoadAbortedError).code).toBe('E_ABORTED')
    expect((err as LoadAbortedError).name).toBe('AbortError')
    expect(((err as LoadAbortedError).cause as Error).message).toBe('client went away')
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
    const loader = (_k: string, ctx: { signal: AbortSignal }): Promise<number> => {
      loaderSignal = ctx.signal
      return new Promise(() => {})
    }
    const p1 = c.getOrLoad('k', loader, { signal: a1.signal })
    const p2 = c.getOrLoad('k', loader, { signal: a2.signal })
    a1.abort()
    expect(loaderSignal?.aborted).toBe(false)
    a2.abort()
    expect(loaderSignal?.aborted).toBe(true)
    await expect(p1).rejects.toBeInstanceOf(LoadAbortedError)
    await expect(p2).rejects.toBeInstanceOf(LoadAbortedError)
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
    ).rejects.toBeInstanceOf(LoadAbortedError)
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

  test('bad arguments are TypeErrors with exact messages', async () => {
    const c = new L1Cache<string, number>({ max: 10, policy })
    await expect(c.getOrLoad('k', 5 as never)).rejects.toThrowError(
      new TypeError('loader must be a function'),
    )
    await expect(c.getOrLoad('k', () => 1, { signal: {} as never })).rejects.toThrowError(
      new TypeError('signal must be an AbortSignal'),
    )
    await expect(c.getOrLoad('k', () => 1, { ttl: -3 })).rejects.toThrowError(
      new TypeError('ttl must be a non-negative finite number'),
    )
    expect(c.stats().loads).toBe(0)
    expect(c.size).toBe(0)
  })
})
