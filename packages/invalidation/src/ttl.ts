import { checkFunction, checkNumber, checkTtl, invalidArgument, MAX_TTL_MS } from '@tierkit/contracts'
import type { TtlOption } from './types.js'

/**
 * Shortens `ttl` by a random fraction of at most `jitter`, so entries written together do not expire together.
 * The result is an integer in `[ceil(ttl * (1 - jitter)), ttl]`, never below 1.
 * @param ttl TTL in ms: an integer from 1 to 315360000000.
 * @param jitter fraction between 0 and 1 (0 = no jitter).
 * @param random source of randomness in [0, 1). @default Math.random
 * @throws TierkitTypeError (`E_INVALID_ARGUMENT`) when `ttl` or `jitter` is out of range.
 * @example cache.set(key, value, { ttl: jitterTtl(60_000, 0.1) }) // 54 000 to 60 000 ms
 */
export function jitterTtl(ttl: number, jitter: number, random: () => number = Math.random): number {
  checkTtl('jitterTtl', 'ttl', ttl)
  checkNumber('jitterTtl', 'jitter', jitter, 0, 1)
  checkFunction('jitterTtl', 'random', random)
  const r = random()
  const u = typeof r === 'number' && r >= 0 && r < 1 ? r : 0
  return Math.max(1, Math.ceil(ttl * (1 - jitter * u)))
}

/**
 * Builds a per-key TTL from the value: `pick(value, key)` returns the TTL in ms (or `undefined` to use
 * `fallback`). A value that says when it expires (`expiresAt`, `maxAge`) can drive its own cache lifetime.
 * The TTL is rounded up to a whole ms. The returned function throws `TierkitTypeError` when `pick` returns
 * something that is not a positive number of at most 315360000000 ms.
 * @throws TierkitTypeError when `pick` is not a function or `fallback` is not a TTL.
 * @example
 * const ttl = ttlFromValue((s: Session) => s.expiresAt - Date.now(), 60_000)
 * writeThrough({ cache, store, ttl })
 */
export function ttlFromValue<T>(
  pick: (value: T, key: string) => number | undefined,
  fallback?: number,
): (key: string, value: T) => number {
  checkFunction('ttlFromValue', 'pick', pick)
  if (fallback !== undefined) checkTtl('ttlFromValue', 'fallback', fallback)
  return (key, value) => {
    const t = pick(value, key)
    if (t === undefined && fallback !== undefined) return fallback
    if (typeof t !== 'number' || !Number.isFinite(t) || t <= 0 || Math.ceil(t) > MAX_TTL_MS) {
      throw invalidArgument(
        'ttlFromValue',
        `the TTL picked for ${JSON.stringify(key)}`,
        `a positive number of ms, at most ${MAX_TTL_MS}`,
        t,
      )
    }
    return Math.ceil(t)
  }
}

/** Checks a `ttl` option at construction time: a TTL or a function (called, and checked, on every write). */
export function checkTtlOption(where: string, ttl: unknown): void {
  if (ttl !== undefined && typeof ttl !== 'function') checkTtl(where, 'ttl', ttl)
}

/** Checks a `jitter` option at construction time. */
export function checkJitter(where: string, jitter: unknown): void {
  if (jitter !== undefined) checkNumber(where, 'jitter', jitter, 0, 1)
}

/**
 * Resolves the TTL of one write: per-call TTL (`options.ttl`), else the option (number or function), then
 * jitter. Called before anything is written: a TTL that is not an integer in [1, MAX_TTL_MS] throws
 * `TierkitTypeError`.
 */
export function resolveTtl<T>(
  where: string,
  option: TtlOption<T> | undefined,
  jitter: number | undefined,
  key: string,
  value: T,
  perCall: unknown,
): number | undefined {
  let ttl: unknown
  if (perCall !== undefined) {
    ttl = checkTtl(where, 'options.ttl', perCall)
  } else if (typeof option === 'function') {
    ttl = checkTtl(where, `ttl(${JSON.stringify(key)})`, option(key, value))
  } else {
    ttl = option
  }
  if (ttl === undefined) return undefined
  return jitter ? jitterTtl(ttl as number, jitter) : (ttl as number)
}
