/**
 * The argument checks of this package, on top of `@tierkit/contracts`' checks: every bad argument is a
 * `TierkitTypeError` (`E_INVALID_ARGUMENT`) whose message has the family's one shape,
 * `<where>: <what> must be <rule>, got <value>`, thrown before anything changed.
 */
import {
  type CacheObserver,
  checkFunction,
  checkObject,
  checkString,
  invalidArgument,
  MAX_TTL_MS,
  type Serializer,
  type WritableCache,
} from '@tierkit/contracts'
import type { Cluster, Redis } from 'ioredis'
import type { InvalidationPublisher } from './types.js'

/** The longest key, tag or name accepted (as `@tierkit/contracts`' `checkString`). */
export const MAX_STRING = 65_536

/** A cache key: a non-empty string. */
export function checkKey(where: string, key: unknown, what = 'key'): asserts key is string {
  checkString(where, what, key, MAX_STRING)
}

/** An array of non-empty strings (`what[i]` names a bad element); `nonEmpty`: at least one. */
export function checkStrings(
  where: string,
  what: string,
  v: unknown,
  nonEmpty = false,
): asserts v is readonly string[] {
  if (!Array.isArray(v) || (nonEmpty && v.length === 0)) {
    throw invalidArgument(where, what, `${nonEmpty ? 'a non-empty' : 'an'} array of non-empty strings`, v)
  }
  v.forEach((s, i) => {
    checkString(where, `${what}[${i}]`, s, MAX_STRING)
  })
}

/** An optional function option. */
export function checkOptionalFunction(where: string, what: string, v: unknown): void {
  if (v !== undefined) checkFunction(where, what, v)
}

/** The options object of a constructor: a plain object. */
export function checkOptions(where: string, options: unknown): asserts options is Record<string, unknown> {
  checkObject(where, 'options', options)
}

/**
 * Options renamed or removed in 0.2: a JavaScript caller still passing one gets told, rather than having it
 * silently ignored. `renamed` maps an old name to what to do instead.
 */
export function refuseOldOptions(
  where: string,
  options: Record<string, unknown>,
  renamed: Readonly<Record<string, string>>,
  prefix = '',
): void {
  for (const [old, instead] of Object.entries(renamed)) {
    if (Object.hasOwn(options, old) && options[old] !== undefined) {
      throw invalidArgument(where, prefix + old, `left out (${instead})`, options[old])
    }
  }
}

/** An ioredis `Redis` or `Cluster`. */
export function checkRedis(where: string, redis: unknown, what = 'redis'): asserts redis is Redis | Cluster {
  if (typeof redis !== 'object' || redis === null || typeof (redis as Redis).duplicate !== 'function') {
    throw invalidArgument(where, what, 'an ioredis Redis or Cluster', redis)
  }
}

/** A cache with `set`, `delete`, `deleteMany` and `evictLocal` (a `WritableCache`). */
export function checkCache(where: string, cache: unknown, what = 'cache'): asserts cache is WritableCache {
  const c = cache as WritableCache | null
  if (
    typeof c !== 'object' ||
    c === null ||
    typeof c.set !== 'function' ||
    typeof c.delete !== 'function' ||
    typeof c.deleteMany !== 'function' ||
    typeof c.evictLocal !== 'function'
  ) {
    throw invalidArgument(
      where,
      what,
      'a cache with set, delete, deleteMany and evictLocal methods (a WritableCache)',
      cache,
    )
  }
}

/** Something with an `evictLocal` method. */
export function checkEvictor(where: string, what: string, c: unknown): void {
  if (typeof c !== 'object' || c === null || typeof (c as WritableCache).evictLocal !== 'function') {
    throw invalidArgument(where, what, 'a cache with an evictLocal method', c)
  }
}

/** A `Store`: `save` and `remove` methods. */
export function checkStore(where: string, store: unknown): void {
  const s = store as { save?: unknown; remove?: unknown } | null
  if (typeof s !== 'object' || s === null || typeof s.save !== 'function' || typeof s.remove !== 'function') {
    throw invalidArgument(where, 'store', 'a Store with save and remove methods', store)
  }
}

/** An optional bus: something with a `publish` method. */
export function checkBus(where: string, bus: unknown): asserts bus is InvalidationPublisher | undefined {
  if (bus === undefined) return
  if (
    typeof bus !== 'object' ||
    bus === null ||
    typeof (bus as InvalidationPublisher).publish !== 'function'
  ) {
    throw invalidArgument(where, 'bus', 'an object with a publish method (an InvalidationBus)', bus)
  }
}

/** An optional observer (a `CacheObserver`). */
export function checkObserver(where: string, o: unknown): asserts o is CacheObserver | undefined {
  if (o === undefined) return
  if (typeof o !== 'object' || o === null || typeof (o as CacheObserver).record !== 'function') {
    throw invalidArgument(where, 'observer', 'an object with a record method (a CacheObserver)', o)
  }
}

/** An optional serializer. */
export function checkSerializer(where: string, s: unknown): asserts s is Serializer | undefined {
  if (s === undefined) return
  if (
    typeof s !== 'object' ||
    s === null ||
    typeof (s as Serializer).encode !== 'function' ||
    typeof (s as Serializer).decode !== 'function'
  ) {
    throw invalidArgument(where, 'serializer', 'an object with encode and decode methods', s)
  }
}

/** A queue or namespace name: a non-empty string without `{` or `}` (they would break the hash tag). */
export function checkName(where: string, what: string, name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_STRING || /[{}]/.test(name)) {
    throw invalidArgument(where, what, 'a non-empty string without { or }', name)
  }
}

/** The TTL rule, as every message states it. */
export const TTL_RULE: string = `a duration in ms, an integer from 1 to ${MAX_TTL_MS}`

/** True when `v` is a TTL Redis and the L1 take: an integer number of ms in [1, MAX_TTL_MS]. */
export function isValidTtl(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 1 && v <= MAX_TTL_MS
}
