import {
  AbortedError,
  checkFunction,
  checkLimit,
  checkObject,
  checkOneOf,
  checkSignal,
  invalidArgument,
} from '@tierkit/contracts'

/** The `items` of `mapLimit` and `WorkerPool.map`: anything with a `Symbol.iterator` method. */
export function checkIterable(where: string, items: unknown): void {
  if (items === null || typeof (items as Partial<Iterable<unknown>>)?.[Symbol.iterator] !== 'function')
    throw invalidArgument(where, 'items', 'an iterable', items)
}

/** How {@link mapLimit} settles when a call fails. */
export type SettleMode = 'fail-fast' | 'all'
const SETTLE: readonly SettleMode[] = ['fail-fast', 'all']

/** Options of {@link mapLimit}. */
export interface MapLimitOptions {
  /**
   * Cancels the whole operation: no new call starts, the calls in flight see their signal abort, and the
   * returned promise rejects at once with an `AbortedError` (`E_ABORTED`, `name` `'AbortError'`, `cause` =
   * `signal.reason`), in both modes.
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
 * @throws TierkitTypeError (as a rejection, `E_INVALID_ARGUMENT`) for a bad argument, e.g. `mapLimit: limit
 *   must be an integer from 1 to 2147483647, or Infinity, got 0`.
 * @throws AbortedError (as a rejection, `E_ABORTED`) when `options.signal` aborts.
 * @example
 * ```ts
 * import { mapLimit } from '@tierkit/worker-pool'
 * declare const urls: string[]
 * declare const ids: number[]
 * declare function loadUser(id: number, index: number, signal: AbortSignal): Promise<{ name: string }>
 * const pages = await mapLimit(urls, 8, async (url, _i, signal) => (await fetch(url, { signal })).text())
 * const outcomes = await mapLimit(ids, 4, loadUser, { settle: 'all', signal: AbortSignal.timeout(5_000) })
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
  options?: MapLimitOptions,
): Promise<unknown[]> {
  let signal: AbortSignal | undefined
  try {
    checkIterable('mapLimit', items)
    checkLimit('mapLimit', 'limit', limit, 1)
    checkFunction('mapLimit', 'fn', fn)
    checkObject('mapLimit', 'options', options, true)
    if (options?.settle !== undefined) checkOneOf('mapLimit', 'options.settle', options.settle, SETTLE)
    signal = checkSignal('mapLimit', 'options.signal', options?.signal)
  } catch (err) {
    return Promise.reject(err)
  }
  return limitedMap('mapLimit', items, limit, fn, options?.settle === 'all', signal)
}

/**
 * What {@link mapLimit} and `pool.map` run once their arguments are checked; `where` names the caller in the
 * `AbortedError` an abort of `outer` rejects with.
 */
export function limitedMap<T, R>(
  where: string,
  items: Iterable<T>,
  limit: number,
  fn: MapLimitFn<T, R>,
  settleAll: boolean,
  outer: AbortSignal | undefined,
): Promise<unknown[]> {
  if (outer?.aborted) return Promise.reject(new AbortedError(where, outer.reason))
  return new Promise<unknown[]>((resolve, reject) => {
    let iterator: Iterator<T>
    try {
      iterator = items[Symbol.iterator]()
    } catch (err) {
      reject(err)
      return
    }
    new LimitedMap(where, iterator, limit, fn, settleAll, outer, resolve, reject).start()
  })
}

/** One run of {@link limitedMap}: at most `limit` calls in flight, items pulled one per free slot. */
class LimitedMap<T, R> {
  readonly #controller = new AbortController()
  readonly #results: unknown[] = []
  #index = 0
  #active = 0
  #exhausted = false
  #finished = false

  constructor(
    readonly where: string,
    readonly iterator: Iterator<T>,
    readonly limit: number,
    readonly fn: MapLimitFn<T, R>,
    readonly settleAll: boolean,
    readonly outer: AbortSignal | undefined,
    readonly resolve: (results: unknown[]) => void,
    readonly reject: (reason: unknown) => void,
  ) {}

  start(): void {
    this.outer?.addEventListener('abort', this.#onOuterAbort, { once: true })
    this.#pump()
  }

  readonly #onOuterAbort = (): void => {
    this.#fail(new AbortedError(this.where, this.outer?.reason))
  }

  #fail(err: unknown): void {
    if (this.#finished) return
    this.#finished = true
    this.outer?.removeEventListener('abort', this.#onOuterAbort)
    if (!this.#exhausted) {
      try {
        this.iterator.return?.()
      } catch {
        // the iterator's own cleanup failed; the first failure wins
      }
    }
    this.#controller.abort(err)
    this.reject(err)
  }

  #finish(): void {
    this.#finished = true
    this.outer?.removeEventListener('abort', this.#onOuterAbort)
    this.resolve(this.#results)
  }

  /** Starts calls while there are free slots and items. */
  #pump(): void {
    while (!this.#finished && !this.#exhausted && this.#active < this.limit) {
      let step: IteratorResult<T>
      try {
        step = this.iterator.next()
      } catch (err) {
        this.#fail(err)
        return
      }
      if (step.done) {
        this.#exhausted = true
        if (this.#active === 0) this.#finish()
        return
      }
      this.#call(step.value, this.#index++)
    }
  }

  #call(item: T, i: number): void {
    this.#active++
    let call: PromiseLike<R> | R
    try {
      call = this.fn(item, i, this.#controller.signal)
    } catch (err) {
      call = Promise.reject(err)
    }
    Promise.resolve(call).then(
      (value) => {
        if (this.#finished) return
        this.#results[i] = this.settleAll ? { status: 'fulfilled', value } : value
        this.#settled()
      },
      (reason: unknown) => {
        if (this.#finished) return
        if (!this.settleAll) {
          this.#fail(reason)
          return
        }
        this.#results[i] = { status: 'rejected', reason }
        this.#settled()
      },
    )
  }

  #settled(): void {
    this.#active--
    if (this.#finished) return
    if (this.#exhausted && this.#active === 0) this.#finish()
    else this.#pump()
  }
}
