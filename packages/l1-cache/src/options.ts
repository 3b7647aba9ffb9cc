/**
 * Internal: the checks of `new L1Cache(options)`, and the options as the cache uses them.
 * @internal
 */
import {
  checkDuration,
  checkFunction,
  checkInteger,
  checkNumber,
  checkObject,
  checkOneOf,
  checkTtl,
  refuseRenamed,
  TierkitTypeError,
} from '@tierkit/contracts'
import { REGISTRY } from './policy.js'
import type { L1CacheEvent, L1CacheOptions, Policy } from './types.js'

/** The bound of counts and weights (`max`, `maxSize`, `size`). */
export const MAX_COUNT: number = Number.MAX_SAFE_INTEGER
/** Options of 0.1 that were renamed: a plain-JavaScript caller still passing one is told, not ignored. */
const RENAMED: Readonly<Record<string, string>> = {
  staleWhileRevalidate: 'renamed grace',
  onEvict: "replaced by onEvent, events of type 'evict'",
  onBackgroundError: "replaced by onEvent, events of type 'refresh-error'",
}
const POLICIES = Object.keys(REGISTRY) as Policy[]

/** Checked options, defaults applied. */
export interface Resolved<K, V> {
  max: number
  maxSize: number
  ttl: number
  grace: number
  sweepInterval: number
  policy: Policy
  sizeOf: ((value: V, key: K) => number) | null
  onEvent: ((event: L1CacheEvent<K, V>) => void) | null
  clock: (() => number) | null
}

/** Checks the options of `new L1Cache(options)` (messages `L1Cache: options.<name> must be ...`). */
export function resolveOptions<K, V>(options: L1CacheOptions<K, V>): Resolved<K, V> {
  const where = 'L1Cache'
  checkObject(where, 'options', options)
  refuseRenamed(where, options, RENAMED, 'options.')
  const max = checkInteger(where, 'options.max', options.max ?? 0, 0, MAX_COUNT)
  const maxSize = checkNumber(where, 'options.maxSize', options.maxSize ?? 0, 0, MAX_COUNT)
  const ttl = checkTtl(where, 'options.ttl', options.ttl ?? 0, 0)
  const grace = checkTtl(where, 'options.grace', options.grace ?? 0, 0)
  const sweepInterval = checkDuration(where, 'options.sweepInterval', options.sweepInterval ?? 1000)
  if (max === 0 && maxSize === 0)
    throw new TierkitTypeError(
      `${where}: options.max or options.maxSize must be greater than 0, got max 0 and maxSize 0`,
    )
  const policy = checkOneOf(where, 'options.policy', options.policy ?? 'tinylfu', POLICIES)
  checkFunction(where, 'options.sizeOf', options.sizeOf, true)
  checkFunction(where, 'options.onEvent', options.onEvent, true)
  checkFunction(where, 'options.clock', options.clock, true)
  return {
    max,
    maxSize,
    ttl,
    grace,
    sweepInterval,
    policy,
    sizeOf: options.sizeOf ?? null,
    onEvent: options.onEvent ?? null,
    clock: options.clock ?? null,
  }
}
