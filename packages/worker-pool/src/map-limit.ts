import { TaskAbortedError } from './errors.js'

/** How {@link mapLimit} settles when a call fails. */
export type SettleMode = 'fail-fast' | 'all'

/** Options of {@link mapLimit}. */
export interface MapLimitOptions {
  /**
   * Cancels the whole operation: no new call starts, the calls in flight see their signal abort, and the
   * returned promise rejects with a `TaskAbortedError` (`E_ABORTED`, `cause` = `signal.reason`), in both modes.
   */
  signal?: AbortSignal | undefined
  /**
   * `'fail-fast'`: on the first failure stop starting calls, abort the calls in flight through their signal and
   * reject with that failure (without waiting for the aborted calls). `'all'`: run every item whatever fails and
   * resolve with one `PromiseSettledResult` per item, in input order (like `Promise.allSettled`).
   *
   * @default 'fail-fast'
   */
  settle?: SettleMode | undefined
}

/** The function {@link mapLimit} calls for each item. */
export type MapLimitFn<T, R> = (item: T, index: number, signal: AbortSignal) => R | PromiseLike<R>

/**
 * Maps `items` through an async function with at most `limit` calls in flight at once (I/O-bound work, no
 * threads): Node's counterpart of `asyncio.gather` with a semaphore. Results keep the input order. Items are
 * pulled from the iterable lazily, one per free slot.
 *
 * @param items - Any iterable (array, Set, generator).
 * @param limit - Maximum number of calls in flight: a positive integer, or `Infinity`.
 * @param fn - Called as `fn(item, index, signal)`; `signal` aborts when the operation stops (first failure in
 *   fail-fast mode, or the caller's `signal`).
 * @param options - {@link MapLimitOptions}.
 * @returns The results in input order (`'fail-fast'`), or one `PromiseSettledResult` per item (`'all'`).
 * @throws TypeError (as a rejection) `mapLimit: items must be iterable`, `mapLimit: limit must be a positive
 *   integer or Infinity`, `mapLimit: fn must be a function`, `mapLimit: settle must be 'fail-fast' or 'all'`,
 *   `mapLimit: signal must be an AbortSignal`.
 * @throws TaskAbortedError (as a rejection) when `options.signal` aborts.
 * @example
 * ```ts
 * const pages = await mapLimit(urls, 8, async (url, _i, signal) => (await fetch(url, { signal })).text())
 * const outcomes = await mapLimit(ids, 4, loadUser, { settle: 'all' })
 * ```
 */
export function mapLimit<T, R>(
  items: Iterable<T>,
  limit: number,
  fn: MapLimitFn<T, R>,
  options?: MapLimitOptions & { settle?: 'fail-fast' | undefined },
): Promise<Awaited<R>[]>
export function mapLimit<T, R>(
  items: Iterable<T>,
  limit: number,
  fn: MapLimitFn<T, R>,
  options: MapLimitOptions & { settle: 'all' },
): Promise<PromiseSettledResult<Awaited<R>>[]>
export function mapLimit<T, R>(
  items: Iterable<T>,
  limit: number,
  fn: MapLimitFn<T, R>,
  options?: MapLimitOptions,
): Promise<Awaited<R>[] | PromiseSettledResult<Awaited<R>>[]>
export function mapLimit<T, R>(
  items: Iterable<T>,
  limit: number,
  fn: MapLimitFn<T, R>,
  options: MapLimitOptions = {},
): Promise<unknown[]> {
  if (items === null || typeof (items as Partial<Iterable<T>>)?.[Symbol.iterator] !== 'function') {
    return Promise.reject(new TypeError('mapLimit: items must be iterable'))
  }
  if (!(limit === Number.POSITIVE_INFINITY || (Number.isInteger(limit) && limit >= 1))) {
    return Promise.reject(new TypeError('mapLimit: limit must be a positive integer or Infinity'))
  }
  if (typeof fn !== 'function') return Promise.reject(new TypeError('mapLimit: fn must be a function'))
  if (options === null || typeof options !== 'object') {
    return Promise.reject(new TypeError('mapLimit: options must be an object'))
  }
  const settleAll = options.settle === 'all'
  if (options.settle !== undefined && !settleAll && options.settle !== 'fail-fast') {
    return Promise.reject(new TypeError("mapLimit: settle must be 'fail-fast' or 'all'"))
  }
  const outer = options.signal
  if (outer !== undefined && !(outer instanceof AbortSignal)) {
    return Promise.reject(new TypeError('mapLimit: signal must be an AbortSignal'))
  }
  if (outer?.aborted) return Promise.reject(new TaskAbortedError(undefined, outer.reason))

  return new Promise<unknown[]>((resolve, reject) => {
    const controller = new AbortController()
    const results: unknown[] = []
    let iterator: Iterator<T>
    let index = 0
    let active = 0
    let exhausted = false
    let finished = false

    const cleanup = (): void => {
      outer?.removeEventListener('abort', onOuterAbort)
    }
    const fail = (err: unknown): void => {
      if (finished) return
      finished = true
      cleanup()
      if (!exhausted) {
        try {
          iterator.return?.()
        } catch {
          // the iterator's own cleanup failed; the first failure wins
        }
      }
      controller.abort(err)
      reject(err)
    }
    const finish = (): void => {
      finished = true
      cleanup()
      resolve(results)
    }
    function onOuterAbort(): void {
      fail(new TaskAbortedError(undefined, outer?.reason))
    }
    const settled = (): void => {
      active--
      if (finished) return
      if (exhausted && active === 0) finish()
      else pump()
    }
    const pump = (): void => {
      while (!finished && !exhausted && active < limit) {
        let step: IteratorResult<T>
        try {
          step = iterator.next()
        } catch (err) {
          fail(err)
          return
        }
        if (step.done) {
          exhausted = true
          if (active === 0) finish()
          return
        }
        const i = index++
        active++
        let call: PromiseLike<R> | R
        try {
          call = fn(step.value, i, controller.signal)
        } catch (err) {
          call = Promise.reject(err)
        }
        Promise.resolve(call).then(
          (value) => {
            if (finished) return
            results[i] = settleAll ? { status: 'fulfilled', value } : value
            settled()
          },
          (reason: unknown) => {
            if (finished) return
            if (!settleAll) {
              fail(reason)
              return
            }
            results[i] = { status: 'rejected', reason }
            settled()
          },
        )
      }
    }

    try {
      iterator = items[Symbol.iterator]()
    } catch (err) {
      reject(err)
      return
    }
    outer?.addEventListener('abort', onOuterAbort, { once: true })
    pump()
  })
}
