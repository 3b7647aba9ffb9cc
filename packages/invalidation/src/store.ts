import { performance } from 'node:perf_hooks'
import { InvalidArgumentError, StoreError, StoreResultError } from './errors.js'
import type { WriteObserver } from './types.js'

/** Throws unless `o` is undefined or has a `record` method. */
export function checkObserver(o: unknown, fn: string): void {
  if (
    o !== undefined &&
    (typeof o !== 'object' || o === null || typeof (o as WriteObserver).record !== 'function')
  ) {
    throw new InvalidArgumentError(`${fn}: observer must have a record method`)
  }
}

function record(observer: WriteObserver | undefined, ok: boolean, t0: number): void {
  if (observer === undefined) return
  try {
    observer.record('db', ok ? 'set' : 'error', performance.now() - t0)
  } catch {
    // an observer must not break the write path
  }
}

/** Calls one Store method and checks what it returns: `undefined`, `true` or `false`; else `E_STORE_BAD_RESULT`. */
export async function callStore(
  operation: 'save' | 'saveMany' | 'remove',
  key: string,
  call: () => unknown,
  observer?: WriteObserver,
): Promise<boolean> {
  let result: unknown
  const t0 = observer === undefined ? 0 : performance.now()
  try {
    result = await call()
  } catch (e) {
    record(observer, false, t0)
    throw new StoreError(operation, key, e)
  }
  const ok = result === undefined || result === true || result === false
  record(observer, ok, t0)
  if (!ok) throw new StoreResultError(operation, key, result)
  return result !== false
}
