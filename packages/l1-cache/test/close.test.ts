import { ClosedError as ContractsClosedError, type LoaderContext, TierkitTypeError } from '@tierkit/contracts'
import { afterEach, describe, expect, test, vi } from 'vitest'
import { ClosedError, L1Cache, type L1CacheEvent } from '../src/index.js'
import { deferred, manualClock, rejection } from './helpers.js'

afterEach(() => {
  vi.useRealTimers()
})

/** What `fn` threw (undefined if it returned). */
function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (e) {
    return e
  }
  return undefined
}

describe.each(['lru', 'tinylfu'] as const)('close (%s)', (policy) => {
  test('drops the entries (evict events, reason clear), stops the sweep timer; later calls throw ClosedError', async () => {
    vi.useFakeTimers()
    const events: L1CacheEvent<string, number>[] = []
    const clock = manualClock()
    const c = new L1Cache<string, number>({
      max: 10,
      ttl: 60_000,
      policy,
      clock: clock.now,
      onEvent: (e) => events.push(e),
    })
    c.set('a', 1)
    c.set('b', 2)
    c.get('a')
    c.get('zz')
    expect(vi.getTimerCount()).toBe(1) // the sweep
    await c.close()
    expect(vi.getTimerCount()).toBe(0)
    expect(events.map((e) => (e.type === 'evict' ? `${e.key}:${e.reason}` : e.type)).sort()).toEqual([
      'a:clear',
      'b:clear',
    ])
    const calls: [string, () => unknown][] = [
      ['get', () => c.get('a')],
      ['peek', () => c.peek('a')],
      ['has', () => c.has('a')],
      ['set', () => c.set('a', 3)],
      ['set undefined', () => c.set('a', undefined as never)],
      ['delete', () => c.delete('a')],
      ['clear', () => c.clear()],
      ['remainingTtl', () => c.remainingTtl('a')],
      ['entries', () => c.entries()],
      ['keys', () => c.keys()],
      ['values', () => c.values()],
      ['iterator', () => c[Symbol.iterator]()],
      ['forEach', () => c.forEach(() => {})],
      ['purgeStale', () => c.purgeStale()],
    ]
    for (const [name, call] of calls) {
      const err = thrown(call)
      expect([name, err instanceof ClosedError]).toEqual([name, true])
    }
    const err = thrown(() => c.get('a')) as ClosedError
    expect(ClosedError).toBe(ContractsClosedError)
    expect(err.code).toBe('E_CLOSED')
    expect(err.name).toBe('ClosedError')
    expect(err.message).toBe('the L1Cache is closed')
    const loaded = await rejection(c.getOrLoad('a', () => 1))
    expect(loaded).toBeInstanceOf(ClosedError)
    // still readable: the counters, the size
    const s = c.stats()
    expect([s.hits, s.misses, s.sets, s.size]).toEqual([1, 1, 2, 0])
    expect(c.size).toBe(0)
    expect(c.calculatedSize).toBe(0)
    // nothing more was delivered or counted by the refused calls
    expect(events).toHaveLength(2)
    expect(c.stats()).toEqual(s)
  })

  test('is idempotent: a second call returns the same promise and resolves', async () => {
    const c = new L1Cache<string, number>({ max: 10, policy })
    const first = c.close()
    const second = c.close({ timeout: 10 })
    expect(second).toBe(first)
    await expect(first).resolves.toBeUndefined()
    await expect(c.close()).resolves.toBeUndefined()
  })

  test('waits for a load in flight: its caller gets the value, nothing is stored', async () => {
    const c = new L1Cache<string, number>({ max: 10, policy })
    const d = deferred<number>()
    const load = c.getOrLoad('k', () => d.promise)
    let closed = false
    const closing = c.close().then(() => {
      closed = true
    })
    await new Promise((r) => setImmediate(r))
    expect(closed).toBe(false)
    d.resolve(5)
    expect(await load).toBe(5)
    await closing
    expect(closed).toBe(true)
    expect(c.size).toBe(0)
    expect(c.stats().sets).toBe(0)
  })

  test('after the timeout, the loads still in flight have their ctx.signal aborted with a ClosedError', async () => {
    vi.useFakeTimers()
    const clock = manualClock()
    const c = new L1Cache<string, number>({ max: 10, ttl: 100, grace: 1000, policy, clock: clock.now })
    const signals: AbortSignal[] = []
    const hang = (ctx: LoaderContext<string, number>): Promise<number> => {
      signals.push(ctx.signal)
      return new Promise(() => {})
    }
    const waiting = c.getOrLoad('k', hang)
    // a background refresh too
    c.set('s', 1)
    clock.advance(150)
    expect(await c.getOrLoad('s', hang)).toBe(1)
    expect(signals).toHaveLength(2)
    let closed = false
    const closing = c.close({ timeout: 100 }).then(() => {
      closed = true
    })
    await vi.advanceTimersByTimeAsync(99)
    expect(closed).toBe(false)
    expect(signals.map((s) => s.aborted)).toEqual([false, false])
    await vi.advanceTimersByTimeAsync(1)
    await closing
    expect(closed).toBe(true)
    expect(signals.map((s) => s.aborted)).toEqual([true, true])
    expect(signals[0]!.reason).toBeInstanceOf(ClosedError)
    void waiting // the loader ignores its signal: this caller waits for it, as documented
  })

  test('timeout 0 aborts the loads in flight at once', async () => {
    const c = new L1Cache<string, number>({ max: 10, policy })
    let signal: AbortSignal | undefined
    const load = c.getOrLoad('k', (ctx) => {
      signal = ctx.signal
      return new Promise<number>((_, reject) =>
        ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)),
      )
    })
    await c.close({ timeout: 0 })
    expect(signal?.aborted).toBe(true)
    expect(await rejection(load)).toBeInstanceOf(ClosedError)
  })

  test('bad options reject with the exact TierkitTypeError and leave the cache open', async () => {
    const c = new L1Cache<string, number>({ max: 10, policy })
    c.set('a', 1)
    const cases: [unknown, string][] = [
      [
        { timeout: -1 },
        'L1Cache.close: options.timeout must be a duration in ms, an integer from 0 to 2147483647, got -1',
      ],
      [
        { timeout: 1.5 },
        'L1Cache.close: options.timeout must be a duration in ms, an integer from 0 to 2147483647, got 1.5',
      ],
      [5000, 'L1Cache.close: options must be an object, got 5000'],
    ]
    for (const [options, message] of cases) {
      const err = await rejection(c.close(options as never))
      expect(err).toBeInstanceOf(TierkitTypeError)
      expect((err as Error).message).toBe(message)
    }
    expect(c.get('a')).toBe(1)
    await c.close()
    expect(thrown(() => c.get('a'))).toBeInstanceOf(ClosedError)
  })
})
