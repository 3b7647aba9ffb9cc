/**
 * The rows of the route table: what a rule may say ({@link RouteRule}), and its validation into a
 * {@link ResolvedRule} with every default filled in. Runs once, when the table is built.
 *
 * @module
 */
import { describeValue, oneOfRule } from '@tierkit/contracts'
import { InvalidPolicyError } from './errors.js'

/** HTTP methods a rule may name. */
export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS'

const METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])

/** Which credential-bearing situations a rule explicitly allows to stay shared-cacheable (see {@link RouteRule.sharedDespite}). */
export type CredentialKind = 'authorization' | 'session-cookie' | 'set-cookie'

/** What a tag function receives. */
export interface TagContext {
  /** Request method, upper case. */
  method: string
  /** Request path, normalised (see `normalizePath`), without the query string. */
  path: string
  /** Response status. */
  status: number
}

/**
 * One row of the route table: which requests it covers and how their responses may be cached.
 *
 * The freshness options are the one exception to the family's "durations are ms" rule: each maps one-to-one onto
 * an HTTP directive, so it keeps the directive's unit, whole **seconds**, and is named after it (`maxAge` is
 * `max-age`, `cdnMaxAge` is `max-age` in `CDN-Cache-Control`, `staleWhileRevalidate` is `stale-while-revalidate`,
 * ...). An unknown option is refused (a typo such as `authenticted` would otherwise make a private route public).
 *
 * @example
 * ```ts
 * const rule: RouteRule = { path: '/api/public/*', maxAge: 600, cdnMaxAge: 600, tags: ['public'] }
 * ```
 */
export interface RouteRule {
  /** A name for logs and the Cloudflare rule description. @default the path pattern */
  name?: string
  /**
   * Methods the rule covers. `GET` implies `HEAD`. Only GET/HEAD responses are ever made shared-cacheable; other
   * methods only get the safety treatment and conditional-request handling.
   * @default ['GET', 'HEAD']
   */
  methods?: readonly HttpMethod[]
  /**
   * Path pattern, matched against the request path as the router sees it (see `normalizePath`: escapes decoded,
   * query string cut) and against its other readings (raw, without the trailing slash, duplicate slashes merged,
   * `;` parameters cut, case-folded): if any reading matches an `authenticated` rule, that rule applies; if the
   * readings match different rules, the response fails closed. `*` matches any run of characters, `/` included
   * (Cloudflare's `strict wildcard`); everything else is literal and case-sensitive.
   * Must start with `/`; may not contain `"`, `\`, `?`, `#` or whitespace.
   */
  path: string
  /**
   * `Cache-Control: max-age` in seconds: freshness for browsers and generic shared caches. `0` emits `no-cache`
   * (browsers revalidate, cheap with the ETag). Also the Cloudflare rule's browser TTL.
   * @default 0
   */
  maxAge?: number
  /**
   * `CDN-Cache-Control: max-age` in seconds (RFC 9213): freshness at the CDN. `0` emits `no-store` there (and a
   * Cloudflare bypass rule). Not written as `s-maxage`, which would forbid serving stale at the edge.
   * @default maxAge
   */
  cdnMaxAge?: number
  /** `stale-while-revalidate` in seconds (RFC 5861), emitted in both Cache-Control and CDN-Cache-Control. @default 0 */
  staleWhileRevalidate?: number
  /** `stale-if-error` in seconds (RFC 5861), emitted in both Cache-Control and CDN-Cache-Control. @default 0 */
  staleIfError?: number
  /** Request header names the response varies on (merged with any `Vary` the handler sets). @default [] */
  vary?: readonly string[]
  /** Cache tags (`Cache-Tag` / `Surrogate-Key`), static or computed per response. Invalid computed tags are dropped. @default [] */
  tags?: readonly string[] | ((ctx: TagContext) => readonly string[])
  /**
   * The route serves per-user data: never shared-cacheable, and bypassed in the Cloudflare ruleset.
   * @default false
   */
  authenticated?: boolean
  /** Add `immutable` to Cache-Control (fingerprinted assets). @default false */
  immutable?: boolean
  /**
   * `max-age` in seconds of 404/410 answers (negative caching), in Cache-Control and the CDN fields. `0`: 404/410
   * are `no-store`.
   * @default 0
   */
  negativeMaxAge?: number
  /**
   * `Cache-Control: private, max-age` in seconds when the answer is private (credentials, authenticated route).
   * `0`: `private, no-store`.
   * @default 0
   */
  privateMaxAge?: number
  /** Entity tag to compute when the handler did not set one. @default the table's `etag` option */
  etag?: 'strong' | 'weak' | false
  /**
   * DANGER, explicit opt-out of the safety rule: the listed credential kinds do NOT prevent shared caching on this
   * route. Only for responses that are provably identical for every client (e.g. a static asset that a logged-in
   * browser requests with its session cookie). Never list `'authorization'` for per-user data.
   * @default []
   */
  sharedDespite?: readonly CredentialKind[]
}

/** A rule after validation and defaulting. */
export interface ResolvedRule {
  /** Index in the table. */
  readonly index: number
  /** Rule name. */
  readonly name: string
  /** Path pattern. */
  readonly path: string
  /** Covered methods (HEAD added when GET is listed). */
  readonly methods: readonly HttpMethod[]
  /** `Cache-Control: max-age`, in seconds. */
  readonly maxAge: number
  /** `CDN-Cache-Control: max-age`, in seconds. */
  readonly cdnMaxAge: number
  /** stale-while-revalidate in seconds. */
  readonly staleWhileRevalidate: number
  /** stale-if-error in seconds. */
  readonly staleIfError: number
  /** Vary field names. */
  readonly vary: readonly string[]
  /** Static tags, or the tag function. */
  readonly tags: readonly string[] | ((ctx: TagContext) => readonly string[])
  /** Whether the route serves per-user data. */
  readonly authenticated: boolean
  /** Whether `immutable` is emitted. */
  readonly immutable: boolean
  /** `max-age` of 404/410 answers, in seconds. */
  readonly negativeMaxAge: number
  /** `private, max-age` of private answers, in seconds. */
  readonly privateMaxAge: number
  /** Entity tag strength to compute. */
  readonly etag: 'strong' | 'weak' | false
  /** Credential kinds that do not block shared caching. */
  readonly sharedDespite: readonly CredentialKind[]
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const TAG = /^[\x21-\x2b\x2d-\x7e]{1,1024}$/ // printable ASCII, no space, no comma
const BAD_PATH = /["\\?#\s]/
/** The largest directive value: delta-seconds up to 2^31 - 1 (RFC 9111 §1.2.2). */
const MAX_SECONDS = 2_147_483_647

/** What a cache tag is made of, as the messages say it. */
export const TAG_CHARS = '1 to 1024 printable ASCII characters, no space or comma'

/** The options of a rule, and what the 0.x names became (refused with a hint). */
const RULE_KEYS: ReadonlySet<string> = new Set([
  'name',
  'methods',
  'path',
  'maxAge',
  'cdnMaxAge',
  'staleWhileRevalidate',
  'staleIfError',
  'vary',
  'tags',
  'authenticated',
  'immutable',
  'negativeMaxAge',
  'privateMaxAge',
  'etag',
  'sharedDespite',
])
const RENAMED_RULE_KEYS: Readonly<Record<string, string>> = {
  browserTtl: 'maxAge',
  edgeTtl: 'cdnMaxAge',
  negativeTtl: 'negativeMaxAge',
  privateTtl: 'privateMaxAge',
}

const ETAGS: readonly unknown[] = ['strong', 'weak', false]

/** A directive value in seconds, or `undefined` when absent. */
function checkSeconds(i: number, field: string, v: unknown): number | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > MAX_SECONDS) {
    throw new InvalidPolicyError(
      i,
      field,
      `an integer number of seconds from 0 to ${MAX_SECONDS}`,
      describeValue(v),
    )
  }
  return v
}

/** Refuses the options a rule (or the table, `i` = -1) does not have: a typo must not pass silently. */
export function checkKeys(i: number, o: object, known: ReadonlySet<string>): void {
  for (const k of Object.keys(o)) {
    if (known.has(k) || (o as Record<string, unknown>)[k] === undefined) continue
    const renamed = i >= 0 ? RENAMED_RULE_KEYS[k] : undefined
    throw new InvalidPolicyError(
      i,
      k,
      renamed === undefined
        ? `left out (not a ${i >= 0 ? 'rule' : 'table'} option)`
        : `left out (renamed ${renamed}, in seconds)`,
      describeValue((o as Record<string, unknown>)[k]),
    )
  }
}

/**
 * Returns whether `tag` can be sent in `Cache-Tag` and `Surrogate-Key` (and purged with `purgeTags`): 1 to 1024
 * printable ASCII characters, no space or comma.
 */
export function isValidTag(tag: string): boolean {
  return typeof tag === 'string' && TAG.test(tag)
}

/**
 * An entity tag strength (of a rule, or of the table for `i` = -1).
 * @internal
 */
export function checkEtag(i: number, etag: unknown): 'strong' | 'weak' | false {
  if (etag !== 'strong' && etag !== 'weak' && etag !== false) {
    throw new InvalidPolicyError(i, 'etag', oneOfRule(ETAGS), describeValue(etag))
  }
  return etag
}

/** The path pattern: starts with `/`, no quote, backslash, `?`, `#` or whitespace. */
function checkPattern(i: number, path: unknown): void {
  if (typeof path !== 'string' || !path.startsWith('/') || BAD_PATH.test(path)) {
    throw new InvalidPolicyError(
      i,
      'path',
      'a pattern starting with "/", without quote, backslash, "?", "#" or whitespace',
      describeValue(path),
    )
  }
}

/** The covered methods, without duplicates, HEAD added when GET is listed. */
function resolveMethods(i: number, listed: RouteRule['methods']): HttpMethod[] {
  if (listed === undefined) return ['GET', 'HEAD']
  if (!Array.isArray(listed) || listed.length === 0) {
    throw new InvalidPolicyError(i, 'methods', 'a non-empty array of HTTP methods', describeValue(listed))
  }
  for (const m of listed) {
    if (!METHODS.has(m))
      throw new InvalidPolicyError(
        i,
        'methods',
        'an array of GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS',
        describeValue(m),
      )
  }
  const methods = [...new Set(listed)]
  if (methods.includes('GET') && !methods.includes('HEAD')) methods.push('HEAD')
  return methods
}

/** The `vary` field names: an array of RFC 9110 tokens. */
function checkVary(i: number, vary: unknown): readonly string[] {
  if (!Array.isArray(vary))
    throw new InvalidPolicyError(i, 'vary', 'an array of header names', describeValue(vary))
  for (const v of vary) {
    if (typeof v !== 'string' || !TOKEN.test(v)) {
      throw new InvalidPolicyError(i, 'vary', 'an array of header names (RFC 9110 tokens)', describeValue(v))
    }
  }
  return vary
}

/** The static tags (each a valid cache tag), or the tag function. */
function checkTags(i: number, tags: unknown): ResolvedRule['tags'] {
  if (typeof tags === 'function') return tags as ResolvedRule['tags']
  if (!Array.isArray(tags))
    throw new InvalidPolicyError(i, 'tags', 'an array of cache tags or a function', describeValue(tags))
  for (const t of tags) {
    if (!isValidTag(t))
      throw new InvalidPolicyError(i, 'tags', `an array of cache tags (${TAG_CHARS})`, describeValue(t))
  }
  return tags
}

/** The credential kinds listed in `sharedDespite`. */
function checkSharedDespite(i: number, kinds: unknown): readonly CredentialKind[] {
  if (!Array.isArray(kinds))
    throw new InvalidPolicyError(i, 'sharedDespite', 'an array of credential kinds', describeValue(kinds))
  for (const k of kinds) {
    if (k !== 'authorization' && k !== 'session-cookie' && k !== 'set-cookie') {
      throw new InvalidPolicyError(
        i,
        'sharedDespite',
        "an array of 'authorization', 'session-cookie' or 'set-cookie'",
        describeValue(k),
      )
    }
  }
  return kinds
}

/** `name` (a string without quotes) and the boolean flags. */
function checkNameAndFlags(i: number, r: RouteRule): void {
  if (r.name !== undefined && (typeof r.name !== 'string' || r.name.includes('"'))) {
    throw new InvalidPolicyError(i, 'name', 'a string without quotes', describeValue(r.name))
  }
  for (const f of ['authenticated', 'immutable'] as const) {
    if (r[f] !== undefined && typeof r[f] !== 'boolean')
      throw new InvalidPolicyError(i, f, 'a boolean', describeValue(r[f]))
  }
}

/**
 * Validates rule `i` of the table and fills in its defaults (`defaultEtag` is the table's `etag` option, already
 * checked). The checks run in a fixed order, so a rule with several faults always reports the same first one.
 * @internal
 */
export function resolveRule(r: RouteRule, i: number, defaultEtag: 'strong' | 'weak' | false): ResolvedRule {
  if (r === null || typeof r !== 'object' || Array.isArray(r)) {
    throw new InvalidPolicyError(i, '', 'an object', describeValue(r))
  }
  checkKeys(i, r, RULE_KEYS)
  checkPattern(i, r.path)
  const methods = resolveMethods(i, r.methods)
  const maxAge = checkSeconds(i, 'maxAge', r.maxAge) ?? 0
  const cdnMaxAge = checkSeconds(i, 'cdnMaxAge', r.cdnMaxAge) ?? maxAge
  const vary = checkVary(i, r.vary ?? [])
  const tags = checkTags(i, r.tags ?? [])
  const sharedDespite = checkSharedDespite(i, r.sharedDespite ?? [])
  const etag = checkEtag(i, r.etag ?? defaultEtag)
  checkNameAndFlags(i, r)
  return Object.freeze({
    index: i,
    name: r.name ?? r.path,
    path: r.path,
    methods: Object.freeze(methods),
    maxAge,
    cdnMaxAge,
    staleWhileRevalidate: checkSeconds(i, 'staleWhileRevalidate', r.staleWhileRevalidate) ?? 0,
    staleIfError: checkSeconds(i, 'staleIfError', r.staleIfError) ?? 0,
    vary: Object.freeze([...vary]),
    tags: typeof tags === 'function' ? tags : Object.freeze([...tags]),
    authenticated: r.authenticated === true,
    immutable: r.immutable === true,
    negativeMaxAge: checkSeconds(i, 'negativeMaxAge', r.negativeMaxAge) ?? 0,
    privateMaxAge: checkSeconds(i, 'privateMaxAge', r.privateMaxAge) ?? 0,
    etag,
    sharedDespite: Object.freeze([...sharedDespite]),
  })
}
