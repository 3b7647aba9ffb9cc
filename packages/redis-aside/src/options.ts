/** The options of `createCache`, checked and with their defaults: what every room reads. */
import {
  type CacheObserver,
  checkDuration,
  checkFunction,
  checkInteger,
  checkMethods,
  checkNumber,
  checkObject,
  checkSignal,
  checkString,
  checkTtl,
  exactSerializer,
  invalidArgument,
  type L1Store,
  MAX_TIMER_MS,
  MAX_TTL_MS,
  type Serializer,
} from '@tierkit/contracts'
import { detectRedisClient, toRedisLike } from '@tierkit/contracts/redis'
import type { Cluster, Redis } from 'ioredis'
import { keyPrefix } from './keys.js'
import { checkClient } from './l2.js'
import type { CacheEvent, CacheOptions, LoadOptions } from './types.js'

/** Largest `maxValueBytes`: Redis' own limit for a string (512 MiB). */
const MAX_VALUE_BYTES = 536_870_912

/** {@link CacheOptions} checked, with their defaults. */
export interface Settings {
  /** the client, checked by the L2 facade (see l2.ts); a node-redis one already in ioredis's shape */
  readonly redis: Redis | Cluster
  readonly namespace: string
  /** what prefixes the Redis key of a value (`ra:<n>:<namespace>:v:`) */
  readonly valuePrefix: string
  /** what prefixes the Redis key of a lock (`ra:<n>:<namespace>:l:`) */
  readonly lockPrefix: string
  readonly l1: L1Store | undefined
  readonly ttl: number
  readonly grace: number
  readonly softTimeout: number | undefined
  readonly hardTimeout: number | undefined
  readonly redisTimeout: number
  readonly jitter: number
  /** `eagerRefresh`, 0 when off */
  readonly eagerRefresh: number
  readonly nullTtl: number | undefined
  readonly tombstoneTtl: number
  readonly lock: LockSettings
  readonly serializer: Serializer
  readonly maxValueBytes: number
  readonly observer: CacheObserver | undefined
  readonly graceRetry: number
  readonly onEvent: ((e: CacheEvent) => void) | undefined
  readonly breakerThreshold: number
  readonly breakerCooldown: number
}

/** `lock` checked. */
export interface LockSettings {
  readonly distributed: boolean
  readonly lease: number
  /** A holder renews its lease this often: a third of it, at most 1 s (so a dead holder is seen quickly). */
  readonly renewEvery: number
  /** A lease with less life left than this has missed a renewal: its holder is gone (see ACQUIRE). */
  readonly takeoverBelow: number
  readonly waitTimeout: number
}

const WHERE = 'createCache'

/** Checks the options of `createCache` (throws `TierkitTypeError` naming the bad one) and applies the defaults. */
export function parseOptions(o: CacheOptions): Settings {
  checkObject(WHERE, 'options', o)
  // a node-redis client gets ioredis's shape; an ioredis/iovalkey one (or any object with get/mget/set) is used as it is
  const redis = detectRedisClient(o.redis)?.startsWith('node-redis')
    ? (toRedisLike(o.redis, WHERE, 'redis') as unknown as Redis)
    : o.redis
  checkClient(WHERE, 'redis', redis)
  checkString(WHERE, 'namespace', o.namespace)
  const ttl = checkTtl(WHERE, 'ttl', o.ttl)
  const grace = o.grace === undefined ? 0 : checkDuration(WHERE, 'grace', o.grace, 0, MAX_TTL_MS)
  const timeouts = parseTimeouts(o.timeouts)
  const jitter = o.jitter === undefined ? 0 : checkNumber(WHERE, 'jitter', o.jitter, 0, 1)
  if (
    o.eagerRefresh !== undefined &&
    (typeof o.eagerRefresh !== 'number' || !(o.eagerRefresh > 0 && o.eagerRefresh < 1))
  ) {
    throw invalidArgument(WHERE, 'eagerRefresh', 'a number between 0 and 1, both excluded', o.eagerRefresh)
  }
  const nullTtl =
    o.nullTtl === undefined ? undefined : checkDuration(WHERE, 'nullTtl', o.nullTtl, 0, MAX_TTL_MS)
  const tombstoneTtl = o.tombstoneTtl === undefined ? 30_000 : checkTtl(WHERE, 'tombstoneTtl', o.tombstoneTtl)
  const lock = parseLock(o.lock)
  const parts = parseParts(o)
  const breaker = parseBreaker(o.breaker)
  const prefix = keyPrefix(o.namespace)
  return {
    redis: redis as Redis | Cluster,
    namespace: o.namespace,
    valuePrefix: `${prefix}v:`,
    lockPrefix: `${prefix}l:`,
    ttl,
    grace,
    ...timeouts,
    jitter,
    eagerRefresh: o.eagerRefresh ?? 0,
    nullTtl,
    tombstoneTtl,
    lock,
    ...parts,
    ...breaker,
  }
}

function parseTimeouts(
  timeouts: CacheOptions['timeouts'],
): Pick<Settings, 'softTimeout' | 'hardTimeout' | 'redisTimeout'> {
  checkObject(WHERE, 'timeouts', timeouts, true)
  const t = timeouts ?? {}
  return {
    softTimeout: t.soft === undefined ? undefined : checkDuration(WHERE, 'timeouts.soft', t.soft),
    hardTimeout: t.hard === undefined ? undefined : checkDuration(WHERE, 'timeouts.hard', t.hard),
    redisTimeout: t.redis === undefined ? 1000 : checkDuration(WHERE, 'timeouts.redis', t.redis, 1),
  }
}

function parseLock(lock: CacheOptions['lock']): LockSettings {
  checkObject(WHERE, 'lock', lock, true)
  const lease = lock?.lease === undefined ? 10_000 : checkDuration(WHERE, 'lock.lease', lock.lease, 3)
  const renewEvery = Math.max(1, Math.floor(Math.min(lease / 3, 1000)))
  return {
    distributed: lock?.distributed === true,
    lease,
    renewEvery,
    takeoverBelow: lease - 2 * renewEvery,
    waitTimeout:
      lock?.waitTimeout === undefined
        ? 30_000
        : checkDuration(WHERE, 'lock.waitTimeout', lock.waitTimeout, 1),
  }
}

/** The pluggable parts (serializer, L1, observer, listener) and the sizes and delays next to them. */
function parseParts(
  o: CacheOptions,
): Pick<Settings, 'serializer' | 'maxValueBytes' | 'l1' | 'observer' | 'graceRetry' | 'onEvent'> {
  if (o.serializer !== undefined) {
    checkMethods(
      WHERE,
      'serializer',
      o.serializer,
      ['encode', 'decode'],
      'an object with encode and decode methods',
    )
  }
  const maxValueBytes =
    o.maxValueBytes === undefined
      ? 1_048_576
      : checkInteger(WHERE, 'maxValueBytes', o.maxValueBytes, 1, MAX_VALUE_BYTES)
  if (o.l1 !== undefined) {
    checkMethods(
      WHERE,
      'l1',
      o.l1,
      ['get', 'set', 'delete', 'clear'],
      'an object with get, set, delete and clear methods',
    )
  }
  if (o.observer !== undefined) {
    checkMethods(
      WHERE,
      'observer',
      o.observer,
      ['record'],
      'an object with a record method (a CacheObserver)',
    )
  }
  const graceRetry = o.graceRetry === undefined ? 1000 : checkDuration(WHERE, 'graceRetry', o.graceRetry)
  checkFunction(WHERE, 'onEvent', o.onEvent, true)
  return {
    serializer: o.serializer ?? exactSerializer,
    maxValueBytes,
    l1: o.l1,
    observer: o.observer,
    graceRetry,
    onEvent: o.onEvent,
  }
}

function parseBreaker(
  breaker: CacheOptions['breaker'],
): Pick<Settings, 'breakerThreshold' | 'breakerCooldown'> {
  checkObject(WHERE, 'breaker', breaker, true)
  return {
    breakerThreshold:
      breaker?.threshold === undefined
        ? 5
        : checkInteger(WHERE, 'breaker.threshold', breaker.threshold, 1, MAX_TIMER_MS),
    breakerCooldown:
      breaker?.cooldown === undefined ? 5000 : checkDuration(WHERE, 'breaker.cooldown', breaker.cooldown, 1),
  }
}

/** The per-call options of `set` (`withSignal`: and of `getOrLoad`/`getOrLoadMany`). */
export function checkCallOptions(where: string, o: unknown, withSignal: boolean): void {
  checkObject(where, 'options', o)
  const { ttl, grace, signal } = o as LoadOptions
  if (ttl !== undefined) checkTtl(where, 'options.ttl', ttl)
  if (grace !== undefined) checkDuration(where, 'options.grace', grace, 0, MAX_TTL_MS)
  if (withSignal) checkSignal(where, 'options.signal', signal)
}
