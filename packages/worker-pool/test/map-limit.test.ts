import { setTimeout as sleep } from 'node:timers/promises'
import { AbortedError, TierkitTypeError } from '@tierkit/contracts'
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { errors, mapLimit } from '../src/index.js'
import { expectNoProcessErrors, rejection } from './helpers.js'

expectNoProcessErrors()

/** Wraps `fn` to count how many calls are in flight and the most there ever were. */
function tracked<T, R>(fn: (item: T, i: number, signal: AbortSignal) => Promise<R>) {
  const state = { active: 0, peak: 0, started: [] as number[], signals: [] as AbortSignal[] }
  const wrapped = async (item: T, i: number, signal: AbortSignal): Promise<R> => {
    state.active++
    state.peak = Math.max(state.peak, state.active)
    state.started.push(i)
    state.signals[i] = signal
    try {
      return await fn(item, i, signal)
    } finally {
      state.active--
    }
  }
  return { state, fn: wrapped }
}

describe('mapLimit', () => {
  test('never runs more than the limit at once, and keeps the input order', async () => {
    const delays = [9, 1, 7, 3, 5, 0, 8, 2, 6, 4, 1, 3, 0, 2]
    const { state, fn } = tracked(async (ms: number, i) => {
      await sleep(ms)
      return i * 10
    })
    const results = await mapLimit(delays, 3, fn)
    expect(results).toEqual(delays.map((_, i) => i * 10))
    expect(state.peak).toBe(3)
    expect(state.active).toBe(0)
  })

  test('pulls items lazily, one per free slot', async () => {
    let pulled = 0
    function* items(): Generator<number> {
      for (let i = 0; i < 10; i++) {
        pulled++
        yield i
      }
    }
    let maxAhead = 0
    const { state, fn } = tracked(async (n: number) => {
      maxAhead = Math.max(maxAhead, pulled - state.started.length)
      await sleep(1)
      return n
    })
    expect(await mapLimit(items(), 2, fn)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect(maxAhead).toBe(0)
  })

  test('fail-fast: rejects with the first failure, starts nothing new, aborts those in flight', async () => {
    let closed = false
    function* items(): Generator<number> {
      try {
        for (let i = 0; i < 20; i++) yield i
      } finally {
        closed = true
      }
    }
    const boom = new Error('item 2 failed')
    const { state, fn } = tracked(async (n: number, _i, signal) => {
      if (n === 2) {
        await sleep(1)
        throw boom
      }
      // the others wait until aborted
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }))
      return n
    })
    const err = await rejection(mapLimit(items(), 4, fn))
    expect(err).toBe(boom)
    expect(state.started).toEqual([0, 1, 2, 3])
    expect(closed).toBe(true)
    for (const i of [0, 1, 3]) {
      expect(state.signals[i]?.aborted).toBe(true)
      expect(state.signals[i]?.reason).toBe(boom)
    }
    await sleep(5)
    expect(state.started).toEqual([0, 1, 2, 3])
  })

  test("settle: 'all' runs everything and reports each outcome in order, like Promise.allSettled", async () => {
    const results = await mapLimit(
      [1, 2, 3, 4, 5],
      2,
      async (n) => {
        await sleep(n % 3)
        if (n % 2 === 0) throw new Error(`even ${n}`)
        return n
      },
      { settle: 'all' },
    )
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual([
      1,
      'even 2',
      3,
      'even 4',
      5,
    ])
  })

  test('the caller signal stops the operation in both modes', async () => {
    for (const settle of ['fail-fast', 'all'] as const) {
      const ac = new AbortController()
      const { state, fn } = tracked(async (n: number, _i, signal) => {
        if (n === 1) ac.abort('stop')
        await new Promise<void>((resolve) =>
          signal.addEventListener('abort', () => resolve(), { once: true }),
        )
        return n
      })
      const err = await rejection(mapLimit([0, 1, 2, 3, 4], 2, fn, { signal: ac.signal, settle }))
      expect(err).toBeInstanceOf(AbortedError)
      expect(err).toBeInstanceOf(errors.E_ABORTED)
      expect(err.code).toBe('E_ABORTED')
      expect(err.name).toBe('AbortError')
      expect(err.message).toBe('mapLimit was aborted by its signal')
      expect(err.cause).toBe('stop')
      expect(state.started).toEqual([0, 1])
      expect(state.signals.every((s) => s.aborted)).toBe(true)
    }
    const early = await rejection(mapLimit([1], 1, (n) => n, { signal: AbortSignal.abort() }))
    expect(early).toBeInstanceOf(AbortedError)
    expect(early.code).toBe('E_ABORTED')
  })

  test('a synchronous throw counts as a failure; plain values are fine; empty input resolves to []', async () => {
    const err = await rejection(
      mapLimit([1, 2], 1, (n) => {
        if (n === 2) throw new RangeError('sync')
        return n
      }),
    )
    expect(err).toBeInstanceOf(RangeError)
    expect(await mapLimit(new Set([3, 1, 2]), Number.POSITIVE_INFINITY, (n) => n * 2)).toEqual([6, 2, 4])
    expect(await mapLimit([], 5, () => 1)).toEqual([])
  })

  test('bad arguments reject with exact TierkitTypeErrors, and fn is never called', async () => {
    let calls = 0
    const fn = (): number => ++calls
    const limitRule = 'an integer from 1 to 2147483647, or Infinity'
    const cases: [Promise<unknown>, string][] = [
      [mapLimit(42 as never, 1, fn), 'mapLimit: items must be an iterable, got 42'],
      [mapLimit(null as never, 1, fn), 'mapLimit: items must be an iterable, got null'],
      [mapLimit([1], 0, fn), `mapLimit: limit must be ${limitRule}, got 0`],
      [mapLimit([1], 1.5, fn), `mapLimit: limit must be ${limitRule}, got 1.5`],
      [mapLimit([1], Number.NaN, fn), `mapLimit: limit must be ${limitRule}, got NaN`],
      [mapLimit([1], 1, 'fn' as never), 'mapLimit: fn must be a function, got "fn"'],
      [mapLimit([1], 1, fn, null as never), 'mapLimit: options must be an object, got null'],
      [
        mapLimit([1], 1, fn, { settle: 'some' as never }),
        'mapLimit: options.settle must be one of "fail-fast", "all", got "some"',
      ],
      [
        mapLimit([1], 1, fn, { signal: {} as never }),
        'mapLimit: options.signal must be an AbortSignal, got an object',
      ],
    ]
    expect(cases).toHaveLength(9)
    for (const [promise, message] of cases) {
      const err = await rejection(promise)
      expect(err).toBeInstanceOf(TierkitTypeError)
      expect(err).toBeInstanceOf(TypeError)
      expect(err.code).toBe('E_INVALID_ARGUMENT')
      expect(err.message).toBe(message)
    }
    expect(calls).toBe(0)
  })

  test('property: limit respected, order kept, each item settled once, fail-fast starts nothing after a failure', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ delay: fc.integer({ min: 0, max: 3 }), fail: fc.boolean() }), { maxLength: 30 }),
        fc.integer({ min: 1, max: 6 }),
        fc.constantFrom('fail-fast' as const, 'all' as const),
        async (items, limit, settle) => {
          let active = 0
          let peak = 0
          const settledCount = new Map<number, number>()
          const startedAfterFailure: number[] = []
          let over = false
          let seenSignal: AbortSignal | undefined
          const fn = async (
            item: { delay: number; fail: boolean },
            i: number,
            signal: AbortSignal,
          ): Promise<number> => {
            if (over) startedAfterFailure.push(i)
            seenSignal = signal
            active++
            peak = Math.max(peak, active)
            try {
              await sleep(item.delay)
              if (item.fail) throw new Error(`fail ${i}`)
              return i
            } finally {
              active--
              settledCount.set(i, (settledCount.get(i) ?? 0) + 1)
            }
          }
          const outcome = await mapLimit(items, limit, fn, { settle }).then(
            (value) => ({ ok: true as const, value }),
            (error: unknown) => {
              over = true
              // fail-fast: whatever is still in flight has been told to stop
              expect(seenSignal?.aborted).toBe(true)
              return { ok: false as const, error }
            },
          )
          // let calls that were in flight at a fail-fast rejection finish
          await sleep(5)
          expect(peak).toBeLessThanOrEqual(limit)
          expect([...settledCount.values()].every((n) => n === 1)).toBe(true)
          expect(startedAfterFailure).toEqual([])
          if (settle === 'all') {
            expect(outcome.ok).toBe(true)
            const expected = items.map((item, i) =>
              item.fail
                ? { status: 'rejected', reason: new Error(`fail ${i}`) }
                : { status: 'fulfilled', value: i },
            )
            expect(outcome.ok && outcome.value).toEqual(expected)
          } else if (items.some((item) => item.fail)) {
            expect(outcome.ok).toBe(false)
          } else {
            expect(outcome.ok && outcome.value).toEqual(items.map((_, i) => i))
          }
        },
      ),
      { numRuns: 60 },
    )
  })
})
