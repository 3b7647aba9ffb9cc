// Argument checks of this package that @tierkit/contracts lacks (a timeout or a count that may be Infinity), in
// the family's one message shape `<where>: <what> must be <rule>, got <value>`.
import { invalidArgument, MAX_TIMER_MS } from '@tierkit/contracts'

/** The largest `maxQueue` and `mapLimit` limit short of `Infinity`. */
export const MAX_COUNT = 2_147_483_647

/**
 * A timeout in ms: an integer from `min` to 2147483647, or `Infinity` for none.
 * @throws TierkitTypeError otherwise
 */
export function checkTimeout(where: string, what: string, value: unknown, min: number): number {
  if (value === Number.POSITIVE_INFINITY) return value
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > MAX_TIMER_MS) {
    throw invalidArgument(
      where,
      what,
      `a duration in ms, an integer from ${min} to ${MAX_TIMER_MS}, or Infinity`,
      value,
    )
  }
  return value
}

/**
 * A count: an integer from `min` to {@link MAX_COUNT}, or `Infinity`.
 * @throws TierkitTypeError otherwise
 */
export function checkCount(where: string, what: string, value: unknown, min: number): number {
  if (value === Number.POSITIVE_INFINITY) return value
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > MAX_COUNT) {
    throw invalidArgument(where, what, `an integer from ${min} to ${MAX_COUNT}, or Infinity`, value)
  }
  return value
}
