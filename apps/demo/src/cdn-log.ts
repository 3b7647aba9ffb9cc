/**
 * The CDN's access log, read as nginx writes it: each line of a cacheable route is a `cdn` lookup (hit, miss or
 * stale), each line with cache tags feeds the index tag → URIs that tag purges use, and a line of a response
 * nginx may have stored that started before a purge of one of its tags is a late store, purged again at once
 * (see the module comment of `cdn.ts`).
 */
import { createHash } from 'node:crypto'
import { closeSync, openSync, readSync, statSync, unlinkSync } from 'node:fs'
import { join } from 'node:path'
import { PurgeFailedError, type PurgeFailure, type PurgeReport } from '@tierkit/cdn-headers'

/** How long a purge is remembered for the late-store check (longer than any upstream answer: nginx's 60 s read timeout). */
const PURGE_MEMORY_MS = 120_000
/** Cache statuses of a response nginx may have stored (from the origin, or refreshed by a 304). */
const STORING: ReadonlySet<string> = new Set(['MISS', 'EXPIRED', 'REVALIDATED', 'BYPASS'])
/** Tags shared by many URLs (collections), not used to tell a URL's own product. */
const GENERIC_TAGS: ReadonlySet<string> = new Set(['public', 'products'])

/** How a purge treats a tagged URL: `soft` re-fetches it (its entry replaced, no MISS), `hard` removes its entry. */
export type CdnPurgeMode = 'hard' | 'soft'

/**
 * What one purge did at the edge: `@tierkit/cdn-headers`' `PurgeReport` (every tag purged or failed, with its
 * reason; `hardened`: a soft purge's tag whose re-fetch did not replace an entry, so it was removed), and the
 * URLs it touched.
 */
export interface CdnPurgeResult extends PurgeReport {
  /** URLs re-fetched through nginx (their entries replaced with the new content). */
  refetched: number
  /** URLs whose cache file was removed (the next request is a MISS). */
  removed: number
}

/** Whether a re-fetch's answer may have replaced the entry (else the old one is still there). */
export interface RefetchAnswer {
  status: number
  cacheControl: string
}

/** Whether nginx may have stored a re-fetch's answer (as `@tierkit/cdn-headers`' nginx purger judges it). */
export function mayBeStored(a: RefetchAnswer): boolean {
  return a.status > 0 && a.status < 500 && !/no-store|no-cache|private/i.test(a.cacheControl)
}

/** Removes the cache file at `path`: `true`, `false` when it was not there, or the error. */
function removeFile(path: string): boolean | Error {
  try {
    unlinkSync(path)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? false : (e as Error)
  }
}

/** A CDN lookup's outcome. */
export type CdnOutcome = 'hit' | 'miss' | 'stale'

/** The lookup outcome of an `$upstream_cache_status`, or `undefined` for one that is no lookup. */
export function cdnOutcome(cache: string): CdnOutcome | undefined {
  if (cache === 'HIT' || cache === 'REVALIDATED') return 'hit'
  if (cache === 'STALE' || cache === 'UPDATING') return 'stale'
  if (cache === 'MISS' || cache === 'EXPIRED') return 'miss'
  return undefined
}

/** What the log reports to. */
export interface CdnLogSinks {
  /** A lookup of a cacheable route (`/api/public/…`), with nginx's request time. */
  onLookup(outcome: CdnOutcome, ms: number): void
  /** Re-fetches `uri` through nginx with the purge header (its entry is replaced when the answer may be stored). */
  refetch(uri: string): Promise<RefetchAnswer>
}

/** The access log reader, the tag index and the late-store check of one nginx. */
export class CdnLog {
  /** Responses found stored after a purge that they predate (each purged again). */
  lateStores = 0
  readonly #path: string
  readonly #cacheDir: string
  readonly #sinks: CdnLogSinks
  readonly #tagIndex = new Map<string, Set<string>>()
  /** URI → its tags, to drop a URI from every tag set once its entry is deleted */
  readonly #uriTags = new Map<string, string[]>()
  /** tag → when it was last purged (epoch ms): a stored response carrying it that started earlier is stale. */
  readonly #purgedAt = new Map<string, number>()
  #offset = 0
  #rest = ''
  #prunedAt = 0

  constructor(path: string, cacheDir: string, sinks: CdnLogSinks) {
    this.#path = path
    this.#cacheDir = cacheDir
    this.#sinks = sinks
  }

  /** Reads what nginx logged since the last call; late stores found are purged again (not awaited). */
  read(): void {
    const late = new Set<string>()
    for (const line of this.#newLines()) this.#line(line, late)
    const now = Date.now()
    if (now - this.#prunedAt > 1000) {
      this.#prunedAt = now
      for (const [tag, at] of this.#purgedAt) if (now - at > PURGE_MEMORY_MS) this.#purgedAt.delete(tag)
    }
    if (late.size > 0) {
      this.lateStores += late.size
      this.#purgeUris(late).catch(() => {
        // nginx going away: nothing left to purge
      })
    }
  }

  /**
   * Purges what the index knows of `tags`, tag by tag; a response that started before `staleBefore` and is
   * logged later is stale. Never rejects: a cache file that could not be removed fails its tags (reason `io`).
   */
  async purge(
    tags: readonly string[],
    staleBefore: number,
    mode: CdnPurgeMode = 'soft',
  ): Promise<CdnPurgeResult> {
    // the log first: what is in it now is in the index, and purged below (not again by the late-store check)
    this.read()
    for (const t of tags) if ((this.#purgedAt.get(t) ?? 0) < staleBefore) this.#purgedAt.set(t, staleBefore)
    const uris = new Map<string, string[]>()
    for (const t of new Set(tags)) {
      for (const u of this.#tagIndex.get(t) ?? []) uris.set(u, [...(uris.get(u) ?? []), t])
    }
    const done = await this.#purgeUris(uris.keys(), mode)
    const failed = new Map<string, Error>()
    const hardened = new Set<string>()
    for (const [u, error] of done.errors) for (const t of uris.get(u) ?? []) failed.set(t, error)
    for (const u of done.hardened) for (const t of uris.get(u) ?? []) hardened.add(t)
    const report: CdnPurgeResult = { purged: [], hardened: [], failed: [], ...done.counts }
    for (const t of new Set(tags)) {
      const error = failed.get(t)
      if (error !== undefined) report.failed.push(ioFailure(t, error))
      else {
        report.purged.push(t)
        if (hardened.has(t)) report.hardened.push(t)
      }
    }
    return report
  }

  #newLines(): string[] {
    let size: number
    try {
      size = statSync(this.#path).size
    } catch {
      return []
    }
    if (size <= this.#offset) return []
    const fd = openSync(this.#path, 'r')
    const buf = Buffer.alloc(size - this.#offset)
    readSync(fd, buf, 0, buf.length, this.#offset)
    closeSync(fd)
    this.#offset = size
    const lines = (this.#rest + buf.toString('utf8')).split('\n')
    this.#rest = lines.pop() ?? ''
    return lines
  }

  #line(line: string, late: Set<string>): void {
    const [cache = '-', time = '0', , uri = '', tags = '-', msec = '0'] = line.split('\t')
    const ms = Number(time) * 1000
    const outcome = cdnOutcome(cache)
    // only the cacheable routes count as CDN lookups (nginx also says MISS for answers it may not store)
    if (outcome && uri.startsWith('/api/public/')) this.#sinks.onLookup(outcome, ms)
    if (tags === '-' || tags === '') return
    const list = tags
      .split(',')
      .map((t) => t.trim())
      .filter((t) => t !== '')
    this.#uriTags.set(uri, list)
    // when nginx read the request, by its own clock in whole ms. That clock is cached per event-loop turn, so it
    // is never late: a request that really started before the purge has started <= purgedAt (equal within the
    // same ms), and `<=` misses none (one extra purge at worst)
    const started = Math.round(Number(msec) * 1000) - Math.round(ms)
    for (const tag of list) {
      let set = this.#tagIndex.get(tag)
      if (!set) this.#tagIndex.set(tag, (set = new Set()))
      set.add(uri)
      const p = this.#purgedAt.get(tag)
      if (p !== undefined && STORING.has(cache) && started <= p) late.add(uri)
    }
  }

  /** The cache file of a key (`proxy_cache_key $request_uri`, `levels=1:2`). */
  #cacheFile(uri: string): string {
    const h = createHash('md5').update(uri).digest('hex')
    return join(this.#cacheDir, h.slice(-1), h.slice(-3, -1), h)
  }

  #forget(uri: string): void {
    for (const t of this.#uriTags.get(uri) ?? []) this.#tagIndex.get(t)?.delete(uri)
    this.#uriTags.delete(uri)
  }

  /**
   * Soft: replaces (re-fetches) the URIs whose only specific tag is one product's, deletes the others' cache files
   * (and those of the re-fetches that did not replace their entry: hardened). Hard: deletes every URI's cache file.
   * A file that could not be deleted (other than not being there) is in `errors`, its URI kept in the index.
   */
  async #purgeUris(
    uris: Iterable<string>,
    mode: CdnPurgeMode = 'soft',
  ): Promise<{
    counts: { refetched: number; removed: number }
    errors: Map<string, Error>
    hardened: string[]
  }> {
    const refetch: string[] = []
    const remove: string[] = []
    for (const u of uris) {
      const specific = (this.#uriTags.get(u) ?? []).filter((t) => !GENERIC_TAGS.has(t))
      if (mode === 'soft' && specific.length === 1) refetch.push(u)
      else remove.push(u)
    }
    const answers = await Promise.all(
      refetch.map((u) => this.#sinks.refetch(u).then(mayBeStored, () => false)),
    )
    const hardened = refetch.filter((_, i) => !answers[i])
    const errors = new Map<string, Error>()
    let removed = 0
    for (const u of [...remove, ...hardened]) {
      const r = removeFile(this.#cacheFile(u))
      if (r instanceof Error) errors.set(u, r)
      else {
        if (r) removed++
        this.#forget(u)
      }
    }
    return { counts: { refetched: refetch.length - hardened.length, removed }, errors, hardened }
  }
}

/** A tag not purged because a cache file of it could not be removed. */
function ioFailure(tag: string, cause: Error): PurgeFailure {
  const error = new PurgeFailedError(
    0,
    [tag],
    `CDN purge of ${tag}: could not remove a cache file: ${cause.message}`,
    {
      cause,
      reason: 'io',
    },
  )
  return { tag, reason: 'io', error }
}
