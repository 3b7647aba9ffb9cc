/**
 * Argument checks with one message shape for the whole family:
 * `<where>: <what> must be <rule>, got <value>`, thrown as a {@link TierkitTypeError} before anything changes.
 * `where` is the public function or method (`createCache`, `L1Cache.set`, `writeBehind.write`), `what` the
 * argument or option (`ttl`, `options.timeouts.redis`).
 */
import { TierkitTypeError } from './errors.js'

/** The largest duration a Node.js timer accepts (2^31 - 1 ms, about 24.8 days). */
export const MAX_TIMER_MS = 2_147_483_647
/** The largest TTL the family accepts: ten years in ms (Redis `PX` accepts it; a timer never waits for it). */
export const MAX_TTL_MS = 315_360_000_000

/** How a bad value is shown in a message: strings quoted, numbers as written, other things by their type. */
export function describeValue(v: unknown): string {
  if (typeof v === 'string') return v.length > 60 ? `${JSON.stringify(v.slice(0, 60))}...` : JSON.stringify(v)
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint')
    return typeof v === 'bigint' ? `${v}n` : String(v)
  if (v === null) return 'null'
  if (v === undefined) return 'undefined'
  if (Array.isArray(v)) return 'an array'
  if (typeof v === 'function') return 'a function'
  if (typeof v === 'symbol') return 'a symbol'
  const name = (v as object).constructor?.name
  return name && name !== 'Object' ? `an instance of ${name}` : 'an object'
}

/** The error for a bad argument: `<where>: <what> must be <rule>, got <value>`. */
export function invalidArgument(where: string, what: string, rule: string, value: unknown): TierkitTypeError {
  return new TierkitTypeError(`${where}: ${what} must be ${rule}, got ${describeValue(value)}`)
}

/**
 * An integer from `min` to `max` (safe integers only).
 * @throws TierkitTypeError otherwise
 */
export function checkInteger(where: string, what: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max)
    throw invalidArgument(where, what, `an integer from ${min} to ${max}`, v)
  return v
}

/**
 * A duration in milliseconds: an integer from `min` (default 0) to `max` (default {@link MAX_TIMER_MS}).
 * @throws TierkitTypeError otherwise
 */
export function checkDuration(
  where: string,
  what: string,
  v: unknown,
  min = 0,
  max: number = MAX_TIMER_MS,
): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max)
    throw invalidArgument(where, what, `a duration in ms, an integer from ${min} to ${max}`, v)
  return v
}

/**
 * A timeout in milliseconds that may be `Infinity` (no timeout): an integer from `min` (default 0) to
 * {@link MAX_TIMER_MS}, or `Infinity`.
 * @throws TierkitTypeError otherwise
 */
export function checkTimeout(where: string, what: string, v: unknown, min = 0): number {
  if (v === Number.POSITIVE_INFINITY) return v
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > MAX_TIMER_MS)
    throw invalidArgument(
      where,
      what,
      `a duration in ms, an integer from ${min} to ${MAX_TIMER_MS}, or Infinity`,
      v,
    )
  return v
}

/**
 * A limit that may be `Infinity` (no limit), such as a queue length or a concurrency: an integer from `min` to
 * `max` (default 2147483647), or `Infinity`.
 * @throws TierkitTypeError otherwise
 */
export function checkLimit(
  where: string,
  what: string,
  v: unknown,
  min: number,
  max = 2_147_483_647,
): number {
  if (v === Number.POSITIVE_INFINITY) return v
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max)
    throw invalidArgument(where, what, `an integer from ${min} to ${max}, or Infinity`, v)
  return v
}

/**
 * A TTL in milliseconds: an integer from `min` (default 1) to {@link MAX_TTL_MS}.
 * @throws TierkitTypeError otherwise
 */
export function checkTtl(where: string, what: string, v: unknown, min = 1): number {
  return checkDuration(where, what, v, min, MAX_TTL_MS)
}

/**
 * A finite number from `min` to `max` (fractions allowed: ratios, factors).
 * @throws TierkitTypeError otherwise
 */
export function checkNumber(where: string, what: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max)
    throw invalidArgument(where, what, `a number from ${min} to ${max}`, v)
  return v
}

/**
 * A non-empty string of at most `maxLength` characters (cache keys, names).
 * @throws TierkitTypeError otherwise
 */
export function checkString(where: string, what: string, v: unknown, maxLength = 65_536): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > maxLength)
    throw invalidArgument(where, what, `a non-empty string of at most ${maxLength} characters`, v)
  return v
}

/**
 * A function; `undefined` passes when `optional` (an optional callback option).
 * @throws TierkitTypeError otherwise
 */
export function checkFunction(where: string, what: string, v: unknown, optional = false): void {
  if (optional && v === undefined) return
  if (typeof v !== 'function') throw invalidArgument(where, what, 'a function', v)
}

/**
 * A plain object (an object literal or `Object.create(null)`); `undefined` passes when `optional`.
 * @throws TierkitTypeError otherwise
 */
export function checkObject(where: string, what: string, v: unknown, optional = false): void {
  if (typeof v === 'object' && v !== null) {
    // an object literal's `constructor` is a cheap monomorphic read; `getPrototypeOf` costs several ns, and
    // this runs on hot paths (the options of `L1Cache.set`, of every `getOrLoad`)
    if ((v as { constructor?: unknown }).constructor === Object) return
    const proto = Object.getPrototypeOf(v)
    if (proto === Object.prototype || proto === null) return
  } else if (optional && v === undefined) return
  throw invalidArgument(where, what, 'an object', v)
}

/**
 * An `AbortSignal`, or `undefined`.
 * @throws TierkitTypeError otherwise
 */
export function checkSignal(where: string, what: string, v: unknown): AbortSignal | undefined {
  if (v === undefined) return undefined
  if (
    typeof v !== 'object' ||
    v === null ||
    typeof (v as AbortSignal).aborted !== 'boolean' ||
    typeof (v as AbortSignal).addEventListener !== 'function'
  )
    throw invalidArgument(where, what, 'an AbortSignal', v)
  return v as AbortSignal
}

/**
 * The options of `close(options?)`, the one shape of the family: `{ timeout?: number }` (ms).
 * @returns the timeout, or `fallback` when none was given
 * @throws TierkitTypeError on anything else
 */
export function closeTimeout(where: string, options: unknown, fallback: number): number {
  if (options === undefined) return fallback
  checkObject(where, 'options', options)
  const t = (options as { timeout?: unknown }).timeout
  return t === undefined ? fallback : checkDuration(where, 'options.timeout', t)
}

/**
 * An array of non-empty strings; a bad element is named `what[i]`. `nonEmpty`: at least one element.
 * @throws TierkitTypeError otherwise
 */
export function checkStrings(
  where: string,
  what: string,
  v: unknown,
  nonEmpty = false,
  maxLength = 65_536,
): readonly string[] {
  if (!Array.isArray(v) || (nonEmpty && v.length === 0))
    throw invalidArgument(where, what, `${nonEmpty ? 'a non-empty' : 'an'} array of non-empty strings`, v)
  for (let i = 0; i < v.length; i++) {
    const s: unknown = v[i]
    // the element's name is built only for the error (a template per element cost more than the check)
    if (typeof s !== 'string' || s.length === 0 || s.length > maxLength)
      checkString(where, `${what}[${i}]`, s, maxLength)
  }
  return v
}

/** How many choices a message lists before it ends the list with `...` (one line stays readable). */
const SHOWN_CHOICES = 8

/**
 * The rule of {@link checkOneOf}, `one of "lru", "tinylfu"` (the first 8 choices, then `...`), for a check
 * that throws an error of its own (a policy error) or reports a value it does not count.
 */
export function oneOfRule(allowed: readonly unknown[]): string {
  const shown = allowed.slice(0, SHOWN_CHOICES).map((a) => describeValue(a))
  if (allowed.length > SHOWN_CHOICES) shown.push('...')
  return `one of ${shown.join(', ')}`
}

/**
 * One of `allowed` (compared with `===`).
 * @throws TierkitTypeError `<where>: <what> must be one of "a", "b", got <value>` otherwise
 */
export function checkOneOf<T>(where: string, what: string, v: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(v as T)) throw invalidArgument(where, what, oneOfRule(allowed), v)
  return v as T
}

/**
 * An object with these methods (a client, an L1, an observer), described as `rule` in the message.
 * @throws TierkitTypeError otherwise
 */
export function checkMethods(
  where: string,
  what: string,
  v: unknown,
  methods: readonly string[],
  rule?: string,
): void {
  let ok = (typeof v === 'object' || typeof v === 'function') && v !== null
  // a plain loop, no closure per call
  for (let i = 0; ok && i < methods.length; i++)
    ok = typeof (v as Record<string, unknown>)[methods[i]!] === 'function'
  if (!ok) throw invalidArgument(where, what, rule ?? `an object with ${methods.join(', ')} methods`, v)
}

/**
 * Refuses options that were renamed or removed, so a caller still passing one is told instead of having it
 * silently ignored: `renamed` maps an old name to what to do instead (`'renamed cooldown'`).
 * @throws TierkitTypeError `<where>: <prefix><old> must be left out (<instead>), got <value>`
 */
export function refuseRenamed(
  where: string,
  options: object,
  renamed: Readonly<Record<string, string>>,
  prefix = '',
): void {
  for (const [old, instead] of Object.entries(renamed)) {
    const value = (options as Record<string, unknown>)[old]
    if (Object.hasOwn(options, old) && value !== undefined)
      throw invalidArgument(where, prefix + old, `left out (${instead})`, value)
  }
}
