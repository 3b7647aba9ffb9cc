/**
 * A coarse wall clock for the family's L1-hit paths (redis-aside's L1 hits, invalidation's tag checks).
 * `Date.now()` costs tens of nanoseconds on a virtual machine, about as much as the rest of an L1 hit, so one
 * reading is reused for at most {@link REUSE} calls and for at most about one millisecond of event-loop time
 * (an unref'd timer drops it). What it dates may thus be judged up to ~1 ms late. Everything else uses
 * `Date.now()`.
 */

const REUSE = 32
let reading = 0
let left = 0
let timer = false

function drop(): void {
  timer = false
  left = 0
}

/**
 * Epoch milliseconds, at most ~1 ms (or 32 calls) old: for hot paths that compare against deadlines many
 * milliseconds away. Use `Date.now()` where a millisecond matters.
 * @example if (coarseNow() < entry.freshUntil) return entry.value
 */
export function coarseNow(): number {
  if (left > 0) {
    left--
    return reading
  }
  reading = Date.now()
  left = REUSE - 1
  if (!timer) {
    timer = true
    setTimeout(drop, 1).unref()
  }
  return reading
}
