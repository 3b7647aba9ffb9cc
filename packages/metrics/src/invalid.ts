/**
 * The records that are not counted: the reasons (the `reason` label of `tierkit_cache_invalid_records_total`) and
 * the message of the event reporting the first of each reason and layer.
 *
 * @module
 */
import { CACHE_OUTCOMES, invalidArgument, oneOfRule } from '@tierkit/contracts'
import { INVALID_METRIC } from './format.js'
import type { InvalidRecordReason } from './types.js'

/** The reasons, in the order the exposition lists them. */
export const INVALID_RECORD_REASONS: readonly InvalidRecordReason[] = Object.freeze([
  'unknown-layer',
  'unknown-outcome',
  'watched-layer',
  'invalid-duration',
] as const)

const UNKNOWN_LAYER = 0
const UNKNOWN_OUTCOME = 1
const WATCHED_LAYER = 2 // and 3: invalid-duration
/** How many reasons there are. @internal */
export const REASONS: number = INVALID_RECORD_REASONS.length

/** What was wrong with a record that was not counted, and what to do (the event's `message`). @internal */
export function invalidMessage(
  reason: number,
  layers: readonly string[],
  layer: unknown,
  outcome: unknown,
  duration: unknown,
): string {
  const where = 'observer.record'
  const label = `${INVALID_METRIC}{reason="${INVALID_RECORD_REASONS[reason]}"}`
  switch (reason) {
    case UNKNOWN_LAYER:
      return `${invalidArgument(where, 'layer', oneOfRule(layers), layer).message}; not counted (${label})`
    case UNKNOWN_OUTCOME:
      return `${invalidArgument(where, 'outcome', oneOfRule(CACHE_OUTCOMES), outcome).message}; not counted (${label})`
    case WATCHED_LAYER:
      return `${where}: layer ${JSON.stringify(layer)} is watched (metrics.watch reads its counts from a stats() source), so its records are not counted (${label}): a layer's counts come from one source; stop recording this layer or stop watching it`
    default: // invalid-duration
      return `${invalidArgument(where, 'duration', 'a finite number of ms >= 0', duration).message}; not counted (${label})`
  }
}
