import { performance } from 'node:perf_hooks'
import type { CacheObserver } from '@tierkit/contracts'
import { StoreError, type StoreOperation, StoreResultError } from './errors.js'

function record(observer: CacheObserver | undefined, ok: boolean, t0: number): void {
  if (observer === undefined) return
  try {
    observer.record('db', ok ? 'set' : 'error', performance.now() - t0)
  } catch {
    // an observer must not break the write path
  }
}

/**
 * Calls one Store method and checks what it returns: `undefined`, `true` or `false`; else `E_STORE_BAD_RESULT`.
 * Every call is recorded on the observer: layer `db`, outcome `set` or `error`, the duration in ms.
 */
export async function callStore(
  operation: StoreOperation,
  key: string,
  call: () => unknown,
  observer?: CacheObserver,
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
