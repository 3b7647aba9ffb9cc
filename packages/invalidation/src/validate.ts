import { InvalidArgumentError } from './errors.js'

/** Throws `InvalidArgumentError` unless `key` is a non-empty string. */
export function checkKey(key: unknown, fn: string): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) {
    throw new InvalidArgumentError(`${fn}: key must be a non-empty string`)
  }
}

/** Throws unless `keys` is an array of non-empty strings. */
export function checkKeys(keys: unknown, fn: string): asserts keys is readonly string[] {
  if (!Array.isArray(keys))
    throw new InvalidArgumentError(`${fn}: keys must be an array of non-empty strings`)
  for (const k of keys) {
    if (typeof k !== 'string' || k.length === 0) {
      throw new InvalidArgumentError(`${fn}: keys must be an array of non-empty strings`)
    }
  }
}

/** Throws unless `tags` is an array of non-empty strings. */
export function checkTags(tags: unknown, fn: string): asserts tags is readonly string[] {
  if (!Array.isArray(tags))
    throw new InvalidArgumentError(`${fn}: tags must be an array of non-empty strings`)
  for (const t of tags) {
    if (typeof t !== 'string' || t.length === 0) {
      throw new InvalidArgumentError(`${fn}: tags must be an array of non-empty strings`)
    }
  }
}

/** Throws unless `v` is a positive safe integer (or a positive finite number when `integer` is false). */
export function checkPositive(v: unknown, name: string, integer = true): asserts v is number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (integer && !Number.isSafeInteger(v))) {
    throw new InvalidArgumentError(
      `invalidation: ${name} must be a positive ${integer ? 'integer' : 'number'}`,
    )
  }
}

/** Throws unless `o` is a non-null object. */
export function checkObject(o: unknown, name: string): asserts o is Record<string, unknown> {
  if (typeof o !== 'object' || o === null)
    throw new InvalidArgumentError(`invalidation: ${name} must be an object`)
}
