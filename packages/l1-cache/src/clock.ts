/**
 * Internal: the default coarse monotonic clock (milliseconds).
 *
 * Reading the system clock costs 60-400 ns on a loaded virtual machine, more than a cache hit. Each cache
 * therefore keeps one reading of `performance.now()` (`nowValue`) and reuses it until (a) a single shared,
 * unref'd timer invalidates it after about one millisecond of event-loop time, or (b) the cache has served
 * {@link CLOCK_READS} reads from it. An entry can thus be served at most that long after its deadline; pass the
 * `clock` option (for example `performance.now`) for an exact clock.
 * @internal
 */

/** Reads served by one cached reading. */
export const CLOCK_READS = 256

/** What the clock needs from a cache: its cached reading (`Infinity` when there is none). */
export interface ClockUser {
  nowValue: number
}

let holders: ClockUser[] = []
let armed = false

function expire(): void {
  armed = false
  const list = holders
  holders = []
  for (let i = 0; i < list.length; i++) list[i]!.nowValue = Number.POSITIVE_INFINITY
}

/** Takes a fresh reading for `user` and schedules its invalidation. */
export function refreshNow(user: ClockUser): number {
  const now = performance.now()
  if (user.nowValue === Number.POSITIVE_INFINITY) holders.push(user)
  user.nowValue = now
  if (!armed) {
    armed = true
    const t = setTimeout(expire, 1)
    if (typeof t === 'object' && typeof t.unref === 'function') t.unref()
  }
  return now
}
