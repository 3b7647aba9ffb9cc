/**
 * The harness speaks the family's one vocabulary (issue 16: `close({ timeout })`, `ready({ timeout })`,
 * `breaker.cooldown`, the flusher's `pollInterval`/`claimTimeout`, the bus and the tracking channel without `l1`,
 * cdn-headers' `maxAge`/`cdnMaxAge`). `--against <rev>` loads the packages of an older revision, which speak 0.1's
 * (`ready(ms)`, `breaker.coolDown`, `blockMs`/`claimIdleMs`, `l1: [...]`, `browserTtl`/`edgeTtl`): each package is
 * detected on its own by the `errors` map that every package exports since the change (none did before), and the
 * few options that were renamed are given in the spelling that package understands. Each new package refuses the
 * old names and each old one ignored the new names silently, so guessing wrong would change the run, not fail it.
 */
import type { L1Module, Packages } from './packages.js'

/** Which packages speak the one vocabulary. */
export interface Vocabulary {
  /** redis-aside: `breaker.cooldown`, `close({ timeout })` */
  ra: boolean
  /** invalidation: `ready/flush/close({ timeout })`, flusher `pollInterval`/`claimTimeout`, no `l1` on the bus */
  inv: boolean
  /** cdn-headers: `maxAge`/`cdnMaxAge` rule options */
  cdn: boolean
}

/** Detects the vocabulary of each loaded package. */
export function vocabulary(pk: Pick<Packages, 'ra' | 'inv' | 'cdn'>): Vocabulary {
  return { ra: 'errors' in pk.ra, inv: 'errors' in pk.inv, cdn: 'errors' in pk.cdn }
}

/** A duration argument of `ready`/`flush`/`close`: `{ timeout }`, or the bare ms an older invalidation took. */
export function timeoutArg(v: Vocabulary, ms: number): { timeout: number } {
  // 0.1's ready(ms) / flush(ms) / close(ms): the number itself, typed as the current signature for the call
  return v.inv ? { timeout: ms } : (ms as unknown as { timeout: number })
}

/** redis-aside's breaker option. */
export function breakerOption(
  v: Vocabulary,
  threshold: number,
  cooldown: number,
): { threshold: number; cooldown: number } {
  if (v.ra) return { threshold, cooldown }
  const legacy: Record<string, number> = { threshold, coolDown: cooldown }
  return legacy as unknown as { threshold: number; cooldown: number }
}

/** The flusher's poll interval and claim timeout. */
export function flusherTimings(
  v: Vocabulary,
  pollInterval: number,
  claimTimeout: number,
): { pollInterval: number; claimTimeout: number } {
  if (v.inv) return { pollInterval, claimTimeout }
  const legacy: Record<string, number> = { blockMs: pollInterval, claimIdleMs: claimTimeout }
  return legacy as unknown as { pollInterval: number; claimTimeout: number }
}

/**
 * The bus's and the tracking channel's L1 option: none with the one vocabulary (a cache's `evictLocal()` clears
 * its L1); 0.1 cleared the L1 stores given as `l1` after a lost subscription.
 */
export function l1Option(
  v: Vocabulary,
  l1: readonly InstanceType<L1Module['L1Cache']>[],
): Record<string, never> {
  if (v.inv) return {}
  return { l1 } as unknown as Record<string, never>
}

/** A rule's `Cache-Control: max-age` and `CDN-Cache-Control: max-age` (seconds) in the package's spelling. */
export function maxAges(
  v: Vocabulary,
  maxAge: number,
  cdnMaxAge: number,
): { maxAge: number; cdnMaxAge: number } {
  if (v.cdn) return { maxAge, cdnMaxAge }
  const legacy: Record<string, number> = { browserTtl: maxAge, edgeTtl: cdnMaxAge }
  return legacy as unknown as { maxAge: number; cdnMaxAge: number }
}
