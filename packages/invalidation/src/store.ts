import { StoreError, StoreResultError } from './errors.js'

/** Calls one Store method and checks what it returns: `undefined`, `true` or `false`; else `E_STORE_BAD_RESULT`. */
export async function callStore(
  operation: 'save' | 'saveMany' | 'remove',
  key: string,
  call: () => unknown,
): Promise<boolean> {
  let result: unknown
  try {
    result = await call()
  } catch (e) {
    throw new StoreError(operation, key, e)
  }
  if (result === undefined || result === true) return true
  if (result === false) return false
  throw new StoreResultError(operation, key, result)
}
