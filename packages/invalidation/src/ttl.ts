import { InvalidArgumentError } from './errors.js'
import type { TtlOption } from './types.js'

/**
 * The largest TTL accepted, in ms: 315,360,000,000 (10 years), the bound `@tierkit/redis-aside` takes, so a
 * TTL accepted here is never refused by the cache after the database was written.
 * Redis takes only integer `PX` values, so a TTL must also be an integer: `1.5`, `1000.25`, `NaN`, `1e300`
 * are refused before anything is written (not by Redis after the database was written).
 */
export const MAX_TTL_MS = 315_360_000_000

/** True when `v` is a TTL Redis and the L1 take: an integer number of ms in [1, MAX_TTL_MS]. */
export function isValidTtl(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= MAX_TTL_MS
}

/**
 * Shortens `ttl` by a random fraction of at most `jitter`, so entries written together do not expire together.
 * The result is an integer in `[ceil(ttl * (1 - jitter)), ttl]`, never below 1.
 * @param ttl TTL in ms (positive).
 * @param jitter fraction between 0 and 1 (0 = no jitter).
 * @param random source of randomness in [0, 1). @default Math.random
 * @throws InvalidArgumentError when `ttl` is not positive or `jitter` is outside [0, 1].
 * @example cache.set(key, value, { ttl: jitterTtl(60_000, 0.1) }) // 54 000 to 60 000 ms
 */
export function jitterTtl(ttl: number, jitter: number, random: () => number = Math.random): number {
  if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl <= 0) {
    throw new InvalidArgumentError('jitterTtl: ttl must be a positive number')
  }
  if (ttl > MAX_TTL_MS) throw new InvalidArgumentError(`jitterTtl: ttl must be at most ${MAX_TTL_MS} ms`)
  if (typeof jitter !== 'number' || !(jitter >= 0 && jitter <= 1)) {
    throw new InvalidArgumentError('jitterTtl: jitter must be a number between 0 and 1')
  }
  const r = random()
  const u = typeof r === 'number' && r >= 0 && r < 1 ? r : 0
  return Math.max(1, Math.ceil(ttl * (1 - jitter * u)))
}

/**
 * Builds a per-key TTL from the value: `pick(value, key)` returns the TTL in ms (or `undefined` to use
 * `fallback`). A value that says when it expires (`expiresAt`, `maxAge`) can drive its own cache lifetime.
 * The returned function throws `InvalidArgumentError` when `pick` returns something that is not a positive number.
 * @example
 * const ttl = ttlFromValue((s: Session) => s.expiresAt - Date.now(), 60_000)
 * writeThrough({ cache, store, ttl })
 */
export function ttlFromValue<T>(
  pick: (value: T, key: string) => number | undefined,
  fallback?: number,
): (key: string, value: T) => number {
  if (typeof pick !== 'function') throw new InvalidArgumentError('ttlFromValue: pick must be a function')
  if (
    fallback !== undefined &&
    !(typeof fallback === 'number' && Number.isFinite(fallback) && fallback > 0)
  ) {
    throw new InvalidArgumentError('ttlFromValue: fallback must be a positive number')
  }
  if (fallback !== undefined && !isValidTtl(fallback)) {
    throw new InvalidArgumentError(
      `ttlFromValue: fallback must be a positive integer number of ms (at most ${MAX_TTL_MS})`,
    )
  }
  return (key, value) => {
    const t = pick(value, key)
    if (t === undefined && fallback !== undefined) return fallback
    if (typeof t !== 'number' || !Number.isFinite(t) || t <= 0) {
      throw new InvalidArgumentError(
        `ttlFromValue: the TTL of ${JSON.stringify(key)} is not a positive number`,
      )
    }
    const ms = Math.ceil(t)
    if (ms > MAX_TTL_MS) {
      throw new InvalidArgumentError(
        `ttlFromValue: the TTL of ${JSON.stringify(key)} is more than ${MAX_TTL_MS} ms`,
      )
    }
    return ms
  }
}

/** Checks a TTL option at construction time. */
export function checkTtlOption(ttl: unknown, fn: string): void {
  if (ttl === undefined || typeof ttl === 'function') return
  if (!isValidTtl(ttl)) {
    throw new InvalidArgumentError(
      `${fn}: ttl must be a positive integer number of ms (at most ${MAX_TTL_MS}) or a function`,
    )
  }
}

/** Checks a jitter option at construction time. */
export function checkJitter(jitter: unknown, fn: string): void {
  if (jitter === undefined) return
  if (typeof jitter !== 'number' || !(jitter >= 0 && jitter <= 1)) {
    throw new InvalidArgumentError(`${fn}: jitter must be a number between 0 and 1`)
  }
}

/**
 * Resolves the TTL of one write: per-call TTL, else the option (number or function), then jitter. Called
 * before anything is written: a TTL that is not an integer in [1, MAX_TTL_MS] throws InvalidArgumentError.
 */
export function resolveTtl<T>(
  option: TtlOption<T> | undefined,
  jitter: number | undefined,
  key: string,
  value: T,
  perCall: number | undefined,
): number | undefined {
  let ttl = perCall ?? (typeof option === 'function' ? option(key, value) : option)
  if (ttl === undefined) return undefined
  if (!isValidTtl(ttl)) {
    throw new InvalidArgumentError(
      `invalidation: the TTL of ${JSON.stringify(key)} must be a positive integer number of ms (at most ${MAX_TTL_MS})`,
    )
  }
  if (jitter) ttl = jitterTtl(ttl, jitter)
  return ttl
}
