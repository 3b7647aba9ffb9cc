/**
 * The table's options ({@link PolicyOptions}): their validation and defaults. Runs once, when the table is built.
 *
 * @module
 */
import { describeValue } from '@tierkit/contracts'
import { sessionPredicate } from './credentials.js'
import { InvalidPolicyError } from './errors.js'
import { DEFAULT_MAX_PATH_LENGTH, MAX_PATH_LIMIT } from './path.js'
import { checkEtag, checkKeys } from './rule.js'

/** Header names the CDN directives may be written to. */
export type CdnHeaderName = 'CDN-Cache-Control' | 'Cloudflare-CDN-Cache-Control'
/** Header names cache tags may be written to. */
export type TagHeaderName = 'Cache-Tag' | 'Surrogate-Key'

/** Options of {@link definePolicy}. */
export interface PolicyOptions {
  /**
   * Which request cookies count as a session: a RegExp tested on cookie names, a list of names, a predicate, or
   * `'any'` (any cookie at all).
   * @default /sess|sid|auth|token|jwt/i
   */
  sessionCookie?: RegExp | readonly string[] | ((name: string) => boolean) | 'any'
  /** Targeted fields to write `cdnMaxAge` and the stale directives to (RFC 9213). @default ['CDN-Cache-Control'] */
  cdnHeaders?: readonly CdnHeaderName[]
  /** Headers to write cache tags to: `Cache-Tag` (comma-separated, Cloudflare) and/or `Surrogate-Key` (space-separated, Fastly). @default ['Cache-Tag'] */
  tagHeaders?: readonly TagHeaderName[]
  /** Entity tag for responses of routes without a rule (and rules without `etag`). @default 'strong' */
  etag?: 'strong' | 'weak' | false
  /**
   * Longest request path (without the query string) that is normalised and matched; a longer one fails closed
   * (`Cache-Control: private, no-store`, verdict `unsafe-path`).
   * @default 8192
   */
  maxPathLength?: number
}

const OPTION_KEYS: ReadonlySet<string> = new Set([
  'sessionCookie',
  'cdnHeaders',
  'tagHeaders',
  'etag',
  'maxPathLength',
])

/** The options after validation and defaulting. @internal */
export interface ResolvedOptions {
  cdnHeaders: readonly CdnHeaderName[]
  tagHeaders: readonly TagHeaderName[]
  etag: 'strong' | 'weak' | false
  maxPathLength: number
  /** Whether a request cookie of that name is a session (from `sessionCookie`). */
  isSession: (name: string) => boolean
}

/** A list option whose members are one of `allowed` (`expected` says which, for the message). */
function checkHeaderList<T extends string>(
  field: string,
  list: readonly T[],
  allowed: readonly T[],
  expected: string,
): readonly T[] {
  if (!Array.isArray(list))
    throw new InvalidPolicyError(-1, field, 'an array of header names', describeValue(list))
  for (const h of list) {
    if (!allowed.includes(h)) throw new InvalidPolicyError(-1, field, expected, describeValue(h))
  }
  return list
}

/**
 * Validates the table's options (an object, checked by the caller) and fills in their defaults, in a fixed order:
 * unknown keys, `cdnHeaders`, `tagHeaders`, `etag`, `sessionCookie`, `maxPathLength`.
 * @internal
 */
export function resolveOptions(options: PolicyOptions): ResolvedOptions {
  checkKeys(-1, options, OPTION_KEYS)
  const cdnHeaders = checkHeaderList<CdnHeaderName>(
    'cdnHeaders',
    options.cdnHeaders ?? ['CDN-Cache-Control'],
    ['CDN-Cache-Control', 'Cloudflare-CDN-Cache-Control'],
    "an array of 'CDN-Cache-Control' or 'Cloudflare-CDN-Cache-Control'",
  )
  const tagHeaders = checkHeaderList<TagHeaderName>(
    'tagHeaders',
    options.tagHeaders ?? ['Cache-Tag'],
    ['Cache-Tag', 'Surrogate-Key'],
    "an array of 'Cache-Tag' or 'Surrogate-Key'",
  )
  const etag = checkEtag(-1, options.etag ?? 'strong')
  const isSession = sessionPredicate(options.sessionCookie)
  const maxPathLength = options.maxPathLength ?? DEFAULT_MAX_PATH_LENGTH
  if (!Number.isInteger(maxPathLength) || maxPathLength < 1 || maxPathLength > MAX_PATH_LIMIT) {
    throw new InvalidPolicyError(
      -1,
      'maxPathLength',
      `an integer from 1 to ${MAX_PATH_LIMIT}`,
      describeValue(maxPathLength),
    )
  }
  return { cdnHeaders, tagHeaders, etag, maxPathLength, isSession }
}
