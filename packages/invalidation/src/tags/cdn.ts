/**
 * The CDN layer of a tag invalidation: `createTags({ cdn })` takes any purger with `@tierkit/cdn-headers`'
 * `TagPurger` shape (its Cloudflare client, its nginx purger), structurally: this package imports neither.
 * `deleteByTag` / `expireByTag` purge the same tags, hard or soft, after Redis and the bus (so that what the
 * CDN fetches again is already the new value), and report, layer by layer, what each did and how long it took.
 */

/** What a purger reports, as `@tierkit/cdn-headers`' `PurgeReport`: every tag given is purged or failed. */
export interface CdnPurgeReport {
  /** Tags purged. */
  readonly purged: readonly string[]
  /** Tags of a soft purge that the CDN purged hard (no soft purge there, or a re-fetch failed). */
  readonly hardened: readonly string[]
  /** Tags not purged and why: responses carrying them may still be served by the CDN. */
  readonly failed: ReadonlyArray<{ readonly tag: string; readonly reason: string; readonly error: unknown }>
}

/** A CDN that purges by tag: `@tierkit/cdn-headers`' `createPurgeClient` (Cloudflare) or `createNginxPurger`. */
export interface CdnPurger {
  /** Purges every cached response carrying one of `tags`, never rejecting for a CDN failure (the report says). */
  purgeTags(tags: readonly string[], options?: { mode?: 'hard' | 'soft' }): Promise<CdnPurgeReport>
}

/**
 * What one `deleteByTag` / `expireByTag` did in each layer, with the time each took (ms, from the call):
 * Redis (the tag versions: L2, and every instance's L1 at its next check), the bus (the other instances'
 * maps and L1s; `undefined` without a bus), the CDN (`undefined` without `cdn`).
 */
export interface TagInvalidation {
  /** The tags invalidated (each once). */
  readonly tags: readonly string[]
  /** `hard` (`deleteByTag`: gone) or `soft` (`expireByTag`: stale, served within grace, refreshed once). */
  readonly mode: 'hard' | 'soft'
  /** The tag versions moved on in Redis. */
  readonly redis: { readonly ms: number }
  /** The new versions published to the other instances. */
  readonly bus: { readonly ms: number } | undefined
  /** The CDN purge and its report (a purger that threw: every tag failed with reason `'error'`). */
  readonly cdn: { readonly ms: number; readonly report: CdnPurgeReport } | undefined
}

/** Purges `tags` at the CDN; a purger that throws (it should resolve with a report) fails every tag. */
export async function purgeCdn(
  cdn: CdnPurger,
  tags: readonly string[],
  mode: 'hard' | 'soft',
  t0: number,
): Promise<{ ms: number; report: CdnPurgeReport }> {
  let report: CdnPurgeReport
  try {
    report = await cdn.purgeTags(tags, { mode })
  } catch (error) {
    report = { purged: [], hardened: [], failed: tags.map((tag) => ({ tag, reason: 'error', error })) }
  }
  return { ms: performance.now() - t0, report }
}
