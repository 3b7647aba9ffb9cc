/**
 * The one shape of a CDN tag purge in `@tierkit/cdn-headers`: {@link TagPurger}, satisfied by the Cloudflare client
 * (`createPurgeClient` of `@tierkit/cdn-headers/cloudflare`) and by the nginx purger (`createNginxPurger` of
 * `@tierkit/cdn-headers/nginx`). An invalidation layer calls `purgeTags` and reads the {@link PurgeReport}: what
 * was purged, what was purged hard although soft was asked, and what was not purged, tag by tag, with the reason.
 *
 * @module
 */
import { checkObject, checkOneOf, invalidArgument } from '@tierkit/contracts'
import type { PurgeFailedError } from './errors.js'
import { isValidTag, TAG_CHARS } from './rule.js'

/**
 * How a purge removes a tagged response:
 * - `'hard'`: the cached response is gone; the next request is a miss and goes to the origin.
 * - `'soft'`: the cached response is replaced (nginx: re-fetched through the cache) or marked stale, so no user
 *   waits on a miss. A CDN that cannot do it purges hard and says so in {@link PurgeReport.hardened}.
 */
export type PurgeMode = 'hard' | 'soft'

/**
 * Why a tag was not purged (stable; also `PurgeFailedError#reason`):
 * - `'rejected'`: the CDN refused the request (a 4xx other than 429, or `success: false`): retrying will not help;
 * - `'rate-limited'`: still 429 after the last attempt, or a `Retry-After` longer than the client may wait;
 * - `'unavailable'`: a 5xx answer or a network error after the last attempt;
 * - `'timeout'`: no answer within the client's `timeout` on the last attempt;
 * - `'queue-full'`: the client's queue of tags waiting to be sent was full;
 * - `'io'`: the nginx purger could not remove a cache file (other than "not there").
 */
export type PurgeFailureReason = 'rejected' | 'rate-limited' | 'unavailable' | 'timeout' | 'queue-full' | 'io'

/** One tag that was not purged. */
export interface PurgeFailure {
  /** The tag, as given. */
  tag: string
  /** Why, in one stable word. */
  reason: PurgeFailureReason
  /** The error (code `E_PURGE_FAILED`, with `status`, `retryable`, `reason` and a message naming the call). */
  error: PurgeFailedError
}

/** What a {@link TagPurger.purgeTags} call did; every tag given (once each) is in `purged` or in `failed`. */
export interface PurgeReport {
  /** Tags purged (a tag no cached response carries counts as purged: nothing of it is left). */
  purged: string[]
  /** Tags of a soft purge that were purged hard (the CDN has no soft purge, or a re-fetch failed); all in `purged`. */
  hardened: string[]
  /** Tags not purged, with the reason: cached responses carrying them may still be served. */
  failed: PurgeFailure[]
}

/** Options of {@link TagPurger.purgeTags}. */
export interface PurgeTagsOptions {
  /** Hard (gone) or soft (replaced or stale, never a miss). @default 'hard' */
  mode?: PurgeMode
}

/**
 * A CDN that purges by cache tag. `purgeTags` never rejects for a CDN failure: it resolves with a report that
 * lists what was not purged. It throws (a `TierkitTypeError`, `E_INVALID_ARGUMENT`) only for bad arguments, before
 * anything is purged.
 */
export interface TagPurger {
  /**
   * Purges every cached response carrying one of `tags`.
   *
   * @param tags - cache tags (see `isValidTag`); duplicates are purged once; `[]` purges nothing
   * @param options - {@link PurgeTagsOptions}
   * @returns the {@link PurgeReport}
   */
  purgeTags(tags: readonly string[], options?: PurgeTagsOptions): Promise<PurgeReport>
}

/**
 * The tags of a `purgeTags` call, each checked, without duplicates (first occurrence first).
 * @throws TierkitTypeError when `tags` is not an array of cache tags
 * @internal
 */
export function checkPurgeTags(where: string, tags: unknown): string[] {
  if (!Array.isArray(tags)) throw invalidArgument(where, 'tags', 'an array of cache tags', tags)
  for (const [i, t] of tags.entries()) {
    if (!isValidTag(t)) throw invalidArgument(where, `tags[${i}]`, `a cache tag (${TAG_CHARS})`, t)
  }
  return [...new Set(tags as string[])]
}

/**
 * The mode of a `purgeTags` call.
 * @throws TierkitTypeError for options that are not an object, or a mode other than `'hard'` or `'soft'`
 * @internal
 */
export function checkPurgeMode(where: string, options: unknown): PurgeMode {
  checkObject(where, 'options', options, true)
  const mode = (options as PurgeTagsOptions | undefined)?.mode ?? 'hard'
  return checkOneOf(where, 'options.mode', mode, ['hard', 'soft'] as const)
}
