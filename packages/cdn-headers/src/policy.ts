import { describeValue, invalidArgument, oneOfRule } from '@tierkit/contracts'
import { InvalidPolicyError } from './errors.js'
import {
  DEFAULT_MAX_PATH_LENGTH,
  FLAG_DOUBLE_SLASH,
  FLAG_ESCAPES,
  FLAG_FOLD,
  FLAG_SEMICOLON,
  FLAG_TRAILING_SLASH,
  MAX_PATH_LIMIT,
  type PathIssue,
  type PathScan,
  readingsOf,
  scanPath,
} from './path.js'

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

/** The request facts compilation needs. */
export interface RequestFacts {
  /** Method, upper case. */
  method: string
  /**
   * The request target as received (`req.url`); a query string or fragment is ignored. It is normalised the way
   * routers read it before matching (see `normalizePath`); a target that cannot be normalised unambiguously makes
   * the response private (`unsafe-path`).
   */
  path: string
  /**
   * The route pattern the router dispatched the request to, when the framework knows it (Fastify's
   * `request.routeOptions.url`, Express' `req.baseUrl + req.route.path`): when it matches an `authenticated` rule,
   * that rule applies, whatever the path looked like. @default none
   */
  route?: string | undefined
  /** Request headers, lower-case names. */
  headers: Readonly<Record<string, string | string[] | undefined>>
}

/** The response facts compilation needs. */
export interface ResponseFacts {
  /** Status code. */
  status: number
  /** Whether the response sets a cookie. */
  setsCookie: boolean
  /** `Vary` the handler already set, if any. */
  vary?: string | undefined
  /** `Cache-Control` the handler already set, if any (kept on routes without a rule unless unsafe). */
  cacheControl?: string | undefined
  /** `Cache-Tag` the handler already set, if any (merged with the rule's tags). */
  cacheTag?: string | undefined
}

/** Why a response is or is not shared-cacheable. */
export type Verdict =
  | 'shared'
  | 'authorization'
  | 'session-cookie'
  | 'set-cookie'
  | 'authenticated-route'
  | 'method'
  | 'status'
  | 'no-rule'
  | 'unsafe-path'

/** Result of {@link CachePolicyTable.compile}: headers to set and remove, and the verdict. */
export interface CompiledHeaders {
  /** Header values to set (canonical names). */
  set: Record<string, string>
  /** Header names to remove (lower case). */
  remove: string[]
  /** Whether any shared cache may store the response. */
  shared: boolean
  /** Reason for the verdict. */
  verdict: Verdict
  /** The matched rule, if any. */
  rule: ResolvedRule | undefined
  /** Which entity tag to compute if the handler set none. */
  etag: 'strong' | 'weak' | false
  /** Why the path could not be normalised unambiguously (verdict `unsafe-path`). */
  pathIssue?: PathIssue | undefined
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const TAG = /^[\x21-\x2b\x2d-\x7e]{1,1024}$/ // printable ASCII, no space, no comma
const BAD_PATH = /["\\?#\s]/
/** The largest directive value: delta-seconds up to 2^31 - 1 (RFC 9111 §1.2.2). */
const MAX_SECONDS = 2_147_483_647

const DEFAULT_SESSION = /sess|sid|auth|token|jwt/i

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
const OPTION_KEYS: ReadonlySet<string> = new Set([
  'sessionCookie',
  'cdnHeaders',
  'tagHeaders',
  'etag',
  'maxPathLength',
])

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
function checkKeys(i: number, o: object, known: ReadonlySet<string>): void {
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

/** Scratch of the path scan: matching is synchronous and reads it back at once. */
const SCAN: PathScan = { path: '', raw: '', flags: 0, issue: undefined }
const MAX_ROUTE_CACHE = 512

function globToRegExp(pattern: string): RegExp {
  const src = pattern
    .split('*')
    .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*')
  return new RegExp(`^${src}$`)
}

function resolveRule(r: RouteRule, i: number, options: PolicyOptions): ResolvedRule {
  if (r === null || typeof r !== 'object' || Array.isArray(r)) {
    throw new InvalidPolicyError(i, '', 'an object', describeValue(r))
  }
  checkKeys(i, r, RULE_KEYS)
  if (typeof r.path !== 'string' || !r.path.startsWith('/') || BAD_PATH.test(r.path)) {
    throw new InvalidPolicyError(
      i,
      'path',
      'a pattern starting with "/", without quote, backslash, "?", "#" or whitespace',
      describeValue(r.path),
    )
  }
  let methods: HttpMethod[] = ['GET', 'HEAD']
  if (r.methods !== undefined) {
    if (!Array.isArray(r.methods) || r.methods.length === 0) {
      throw new InvalidPolicyError(
        i,
        'methods',
        'a non-empty array of HTTP methods',
        describeValue(r.methods),
      )
    }
    for (const m of r.methods) {
      if (!METHODS.has(m))
        throw new InvalidPolicyError(
          i,
          'methods',
          'an array of GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS',
          describeValue(m),
        )
    }
    methods = [...new Set(r.methods)]
    if (methods.includes('GET') && !methods.includes('HEAD')) methods.push('HEAD')
  }
  const maxAge = checkSeconds(i, 'maxAge', r.maxAge) ?? 0
  const cdnMaxAge = checkSeconds(i, 'cdnMaxAge', r.cdnMaxAge) ?? maxAge
  const vary = r.vary ?? []
  if (!Array.isArray(vary))
    throw new InvalidPolicyError(i, 'vary', 'an array of header names', describeValue(vary))
  for (const v of vary) {
    if (typeof v !== 'string' || !TOKEN.test(v)) {
      throw new InvalidPolicyError(i, 'vary', 'an array of header names (RFC 9110 tokens)', describeValue(v))
    }
  }
  const tags = r.tags ?? []
  if (typeof tags !== 'function') {
    if (!Array.isArray(tags))
      throw new InvalidPolicyError(i, 'tags', 'an array of cache tags or a function', describeValue(tags))
    for (const t of tags) {
      if (!isValidTag(t))
        throw new InvalidPolicyError(i, 'tags', `an array of cache tags (${TAG_CHARS})`, describeValue(t))
    }
  }
  const sharedDespite = r.sharedDespite ?? []
  if (!Array.isArray(sharedDespite))
    throw new InvalidPolicyError(
      i,
      'sharedDespite',
      'an array of credential kinds',
      describeValue(sharedDespite),
    )
  for (const k of sharedDespite) {
    if (k !== 'authorization' && k !== 'session-cookie' && k !== 'set-cookie') {
      throw new InvalidPolicyError(
        i,
        'sharedDespite',
        "an array of 'authorization', 'session-cookie' or 'set-cookie'",
        describeValue(k),
      )
    }
  }
  const etag = r.etag ?? options.etag ?? 'strong'
  if (etag !== 'strong' && etag !== 'weak' && etag !== false) {
    throw new InvalidPolicyError(i, 'etag', oneOfRule(ETAGS), describeValue(etag))
  }
  if (r.name !== undefined && (typeof r.name !== 'string' || r.name.includes('"'))) {
    throw new InvalidPolicyError(i, 'name', 'a string without quotes', describeValue(r.name))
  }
  for (const f of ['authenticated', 'immutable'] as const) {
    if (r[f] !== undefined && typeof r[f] !== 'boolean')
      throw new InvalidPolicyError(i, f, 'a boolean', describeValue(r[f]))
  }
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

function headerString(v: string | string[] | undefined): string | undefined {
  if (v === undefined) return undefined
  return Array.isArray(v) ? v.join(', ') : v
}

/** Splits a comma-separated field value into trimmed, non-empty members. */
function members(v: string | undefined): string[] {
  if (v === undefined) return []
  return v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
}

const MATCH = 'CachePolicyTable.match'
const COMPILE = 'CachePolicyTable.compile'

const OK_STATUSES: ReadonlySet<number> = new Set([200, 203, 204, 300, 301, 308])
const NEGATIVE_STATUSES: ReadonlySet<number> = new Set([404, 410])

/**
 * A validated, immutable route table. Create it with {@link definePolicy}.
 */
export class CachePolicyTable {
  /** The resolved rules, in matching order (first match wins). */
  readonly rules: readonly ResolvedRule[]
  /** The resolved options. */
  readonly options: Readonly<Required<Omit<PolicyOptions, 'sessionCookie'>>>
  readonly #matchers: readonly RegExp[]
  /** Matchers of the lower-cased patterns, for the case-folded readings. */
  readonly #foldMatchers: readonly RegExp[]
  /** Whether some pattern changes under `toLowerCase()` (then every path gets the folded reading). */
  readonly #foldPatterns: boolean
  readonly #anyAuthenticated: boolean
  /** Per method and route pattern: the authenticated rule it matches, or null. */
  readonly #routeAuth = new Map<string, ResolvedRule | null>()
  /** Why the last {@link CachePolicyTable.#resolve} found no safe reading. */
  #issue: PathIssue | undefined
  readonly #isSession: (name: string) => boolean
  /** `options.cdnHeaders` and `options.tagHeaders`, as plain arrays. */
  readonly #cdnHeaders: readonly CdnHeaderName[]
  readonly #tagHeaders: readonly TagHeaderName[]
  /** Per rule: Cache-Control, CDN value and joined static tags for a shared 2xx answer. */
  readonly #ok: readonly { cc: string; cdn: string; tags: Record<string, string> | undefined }[]

  /**
   * Prefer {@link definePolicy}.
   * @param rules - the route table
   * @param options - {@link PolicyOptions}
   * @throws InvalidPolicyError for an invalid rule or option
   */
  constructor(rules: readonly RouteRule[], options: PolicyOptions = {}) {
    if (!Array.isArray(rules)) throw invalidArgument('definePolicy', 'rules', 'an array of rules', rules)
    if (options === null || typeof options !== 'object' || Array.isArray(options))
      throw invalidArgument('definePolicy', 'options', 'an object', options)
    checkKeys(-1, options, OPTION_KEYS)
    const cdnHeaders = options.cdnHeaders ?? ['CDN-Cache-Control']
    if (!Array.isArray(cdnHeaders))
      throw new InvalidPolicyError(-1, 'cdnHeaders', 'an array of header names', describeValue(cdnHeaders))
    for (const h of cdnHeaders) {
      if (h !== 'CDN-Cache-Control' && h !== 'Cloudflare-CDN-Cache-Control') {
        throw new InvalidPolicyError(
          -1,
          'cdnHeaders',
          "an array of 'CDN-Cache-Control' or 'Cloudflare-CDN-Cache-Control'",
          describeValue(h),
        )
      }
    }
    const tagHeaders = options.tagHeaders ?? ['Cache-Tag']
    if (!Array.isArray(tagHeaders))
      throw new InvalidPolicyError(-1, 'tagHeaders', 'an array of header names', describeValue(tagHeaders))
    for (const h of tagHeaders) {
      if (h !== 'Cache-Tag' && h !== 'Surrogate-Key') {
        throw new InvalidPolicyError(
          -1,
          'tagHeaders',
          "an array of 'Cache-Tag' or 'Surrogate-Key'",
          describeValue(h),
        )
      }
    }
    const etag = options.etag ?? 'strong'
    if (etag !== 'strong' && etag !== 'weak' && etag !== false) {
      throw new InvalidPolicyError(-1, 'etag', oneOfRule(ETAGS), describeValue(etag))
    }
    const sc = options.sessionCookie ?? DEFAULT_SESSION
    if (sc === 'any') this.#isSession = () => true
    else if (sc instanceof RegExp) {
      const re = new RegExp(sc.source, sc.flags.replace(/[gy]/g, ''))
      this.#isSession = (n) => re.test(n)
    } else if (typeof sc === 'function') this.#isSession = sc
    else if (Array.isArray(sc)) {
      const set = new Set(sc)
      this.#isSession = (n) => set.has(n)
    } else
      throw new InvalidPolicyError(
        -1,
        'sessionCookie',
        "a RegExp, an array of cookie names, a function or 'any'",
        describeValue(sc),
      )
    const maxPathLength = options.maxPathLength ?? DEFAULT_MAX_PATH_LENGTH
    if (!Number.isInteger(maxPathLength) || maxPathLength < 1 || maxPathLength > MAX_PATH_LIMIT) {
      throw new InvalidPolicyError(
        -1,
        'maxPathLength',
        `an integer from 1 to ${MAX_PATH_LIMIT}`,
        describeValue(maxPathLength),
      )
    }
    // plain copies for the hot loops (V8 iterates a frozen array more slowly), frozen ones for `options`
    this.#cdnHeaders = [...cdnHeaders]
    this.#tagHeaders = [...tagHeaders]
    this.options = Object.freeze({
      cdnHeaders: Object.freeze([...cdnHeaders]),
      tagHeaders: Object.freeze([...tagHeaders]),
      etag,
      maxPathLength,
    })
    this.rules = Object.freeze(rules.map((r, i) => resolveRule(r, i, options)))
    this.#matchers = this.rules.map((r) => globToRegExp(r.path))
    this.#foldMatchers = this.rules.map((r) => globToRegExp(r.path.toLowerCase()))
    this.#foldPatterns = this.rules.some((r) => r.path.toLowerCase() !== r.path)
    this.#anyAuthenticated = this.rules.some((r) => r.authenticated)
    this.#ok = this.rules.map((r) => {
      const staleParts: string[] = []
      if (r.staleWhileRevalidate > 0) staleParts.push(`stale-while-revalidate=${r.staleWhileRevalidate}`)
      if (r.staleIfError > 0) staleParts.push(`stale-if-error=${r.staleIfError}`)
      const cc = ['public']
      if (r.maxAge > 0) {
        cc.push(`max-age=${r.maxAge}`, ...staleParts)
        if (r.immutable) cc.push('immutable')
      } else cc.push('no-cache')
      const cdn = r.cdnMaxAge > 0 ? [`max-age=${r.cdnMaxAge}`, ...staleParts].join(', ') : 'no-store'
      let tags: Record<string, string> | undefined
      if (typeof r.tags !== 'function' && r.tags.length > 0) {
        const unique = [...new Set(r.tags)]
        tags = {}
        for (const h of this.#tagHeaders) tags[h] = unique.join(h === 'Cache-Tag' ? ',' : ' ')
      }
      return { cc: cc.join(', '), cdn, tags }
    })
  }

  /**
   * Finds the rule covering a request, matching the path as the router sees it (see {@link RouteRule.path}): the
   * first rule matching the normalised path, unless another reading of it matches an `authenticated` rule (then
   * that one).
   *
   * @param method - request method
   * @param path - request target; a query string, if present, is ignored
   * @param route - the route pattern the router dispatched to, if known (see {@link RequestFacts.route})
   * @returns the rule, or `undefined` when none matches or the path cannot be normalised unambiguously
   *   (`compile` then fails closed with the verdict `unsafe-path`)
   * @throws TierkitTypeError (`E_INVALID_ARGUMENT`) when `method` or `path` is not a string, or `route` is
   *   neither a string nor `undefined` (`CachePolicyTable.match: path must be a string, got 1`)
   */
  match(method: string, path: string, route?: string): ResolvedRule | undefined {
    if (typeof method !== 'string') throw invalidArgument(MATCH, 'method', 'a string', method)
    if (typeof path !== 'string') throw invalidArgument(MATCH, 'path', 'a string', path)
    if (route !== undefined && typeof route !== 'string')
      throw invalidArgument(MATCH, 'route', 'a string or undefined', route)
    const m = method === 'GET' || method === 'HEAD' ? method : method.toUpperCase()
    return this.#resolve(m, path, route) ?? undefined
  }

  /** The first rule covering `m` whose (case-sensitive, or folded) matcher accepts `p`. */
  #first(m: string, p: string, fold: boolean): ResolvedRule | undefined {
    const matchers = fold ? this.#foldMatchers : this.#matchers
    for (let i = 0; i < this.rules.length; i++) {
      const r = this.rules[i]!
      if (r.methods.includes(m as HttpMethod) && matchers[i]!.test(p)) return r
    }
    return undefined
  }

  /** The authenticated rule the route pattern `route` falls under, if any (cached per method and pattern). */
  #authForRoute(m: string, route: string): ResolvedRule | undefined {
    const key = m === 'GET' ? route : `${m} ${route}`
    let hit = this.#routeAuth.get(key)
    if (hit === undefined) {
      const a = this.#first(m, route, false)
      const b = a?.authenticated ? a : this.#first(m, route.toLowerCase(), true)
      hit = b?.authenticated ? b : null
      if (this.#routeAuth.size < MAX_ROUTE_CACHE) this.#routeAuth.set(key, hit)
    }
    return hit ?? undefined
  }

  /**
   * The rule of a request: `null` when the path cannot be normalised unambiguously (`#issue` says why), else the
   * most restrictive of its readings' rules. The normalised path is left in `SCAN.path`.
   */
  #resolve(m: string, target: string, route: string | undefined): ResolvedRule | undefined | null {
    this.#issue = undefined
    if (!scanPath(target, this.options.maxPathLength, SCAN)) {
      this.#issue = SCAN.issue
      return null
    }
    const path = SCAN.path
    const primary = this.#first(m, path, false)
    let auth = primary?.authenticated === true ? primary : undefined
    let disagree = false
    const flags = SCAN.flags
    const several = (flags & (FLAG_DOUBLE_SLASH | FLAG_SEMICOLON | FLAG_ESCAPES | FLAG_TRAILING_SLASH)) !== 0
    const fold = this.#foldPatterns || (flags & FLAG_FOLD) !== 0
    if (several || fold) {
      const readings = several ? readingsOf(SCAN) : [path]
      for (const r of readings) {
        const x = r === path ? primary : this.#first(m, r, false)
        if (x !== primary) disagree = true
        if (auth === undefined && x?.authenticated === true) auth = x
        if (fold) {
          const lower = r.toLowerCase()
          // an unchanged reading against unchanged (all lower-case) patterns: the same answer as above
          if (lower === r && !this.#foldPatterns) continue
          const y = this.#first(m, lower, true)
          if (y !== primary) disagree = true
          if (auth === undefined && y?.authenticated === true) auth = y
        }
      }
    }
    if (auth === undefined && route !== undefined && this.#anyAuthenticated)
      auth = this.#authForRoute(m, route)
    if (auth !== undefined) return auth
    if (disagree) {
      this.#issue = 'ambiguous'
      return null
    }
    return primary
  }

  /**
   * Which credentials a request carries: `'authorization'` and/or `'session-cookie'`.
   *
   * @param headers - request headers, lower-case names
   * @returns the credential kinds present (a new array)
   * @throws TierkitTypeError (`E_INVALID_ARGUMENT`) when `headers` is not an object
   */
  credentials(headers: Readonly<Record<string, string | string[] | undefined>>): CredentialKind[] {
    if (headers === null || typeof headers !== 'object')
      throw invalidArgument('CachePolicyTable.credentials', 'headers', 'an object', headers)
    return this.#credentials(headers)
  }

  #credentials(headers: Readonly<Record<string, string | string[] | undefined>>): CredentialKind[] {
    const out: CredentialKind[] = []
    const auth = headerString(headers.authorization)
    if (auth !== undefined && auth.length > 0) out.push('authorization')
    const cookie = headerString(headers.cookie)
    if (cookie !== undefined) {
      for (const part of cookie.split(';')) {
        const eq = part.indexOf('=')
        const name = (eq === -1 ? part : part.slice(0, eq)).trim()
        if (name.length > 0 && this.#isSession(name)) {
          out.push('session-cookie')
          break
        }
      }
    }
    return out
  }

  /**
   * Compiles the caching headers of one response: `Cache-Control`, the CDN targeted fields, `Vary` and cache tags,
   * applying the safety rule (credentials in the request or a `Set-Cookie` in the response make it private unless
   * the rule lists them in `sharedDespite`).
   *
   * @param req - {@link RequestFacts}
   * @param res - {@link ResponseFacts}
   * @returns the {@link CompiledHeaders}
   * @throws TierkitTypeError (`E_INVALID_ARGUMENT`) for a `req` that is not `{ method, path, headers, route? }`
   *   of strings and an object, or a `res` without an integer `status`
   *   (`CachePolicyTable.compile: res.status must be an integer from 100 to 999, got "x"`)
   * @example
   * ```ts
   * const c = policy.compile({ method: 'GET', path: '/api/public/users', headers: {} }, { status: 200, setsCookie: false })
   * c.set['Cache-Control'] // 'public, max-age=600'
   * ```
   */
  compile(req: RequestFacts, res: ResponseFacts): CompiledHeaders {
    // one cheap test on the hot path; the message is worked out off it
    if (
      req === null ||
      typeof req !== 'object' ||
      req.headers === null ||
      typeof req.headers !== 'object' ||
      res === null ||
      typeof res !== 'object' ||
      !Number.isInteger(res.status) ||
      res.status < 100 ||
      res.status > 999 ||
      typeof req.method !== 'string' ||
      typeof req.path !== 'string' ||
      (req.route !== undefined && typeof req.route !== 'string')
    )
      throw badCompileArguments(req, res)
    const method = req.method === 'GET' || req.method === 'HEAD' ? req.method : req.method.toUpperCase()
    const resolved = this.#resolve(method, req.path, req.route)
    const path = SCAN.path
    const h = req.headers
    if (resolved === null) {
      // fail closed: a path that cannot be read unambiguously may reach a private handler
      const etag = this.options.etag
      const out = this.#notCacheable({}, [], 'private, no-store', 'unsafe-path', undefined, etag)
      out.pathIssue = this.#issue
      return out
    }
    const rule = resolved
    let blocking: CredentialKind[] | undefined
    if (h.authorization !== undefined || h.cookie !== undefined || res.setsCookie) {
      const creds = this.#credentials(h)
      if (res.setsCookie) creds.push('set-cookie')
      const b = rule === undefined ? creds : creds.filter((c) => !rule.sharedDespite.includes(c))
      if (b.length > 0) blocking = b
    }
    const set: Record<string, string> = {}
    const remove: string[] = []
    const etag = rule?.etag ?? this.options.etag

    if (rule !== undefined && (rule.vary.length > 0 || res.vary !== undefined)) {
      const vary = members(res.vary)
      for (const v of rule.vary) if (!vary.some((x) => x.toLowerCase() === v.toLowerCase())) vary.push(v)
      if (vary.length > 0) set.Vary = vary.join(', ')
    }

    if (rule === undefined) {
      if (blocking === undefined) return { set, remove, shared: false, verdict: 'no-rule', rule, etag }
      const cc = members(res.cacheControl).map((d) => d.toLowerCase())
      const keep =
        cc.includes('no-store') || (cc.includes('private') && !cc.some((d) => d.startsWith('s-maxage')))
      return this.#notCacheable(set, remove, keep ? undefined : 'private, no-store', blocking[0]!, rule, etag)
    }

    const okStatus = OK_STATUSES.has(res.status)
    if (rule.authenticated || blocking !== undefined) {
      const cc =
        rule.privateMaxAge > 0 && okStatus && (method === 'GET' || method === 'HEAD')
          ? `private, max-age=${rule.privateMaxAge}`
          : 'private, no-store'
      return this.#notCacheable(
        set,
        remove,
        cc,
        rule.authenticated ? 'authenticated-route' : blocking![0]!,
        rule,
        etag,
      )
    }
    // rules may cover unsafe methods for conditional requests; their responses are never cacheable
    if (method !== 'GET' && method !== 'HEAD')
      return this.#notCacheable(set, remove, 'no-store', 'method', rule, etag)

    let edge: number
    if (okStatus) {
      const ok = this.#ok[rule.index]!
      set['Cache-Control'] = ok.cc
      for (const name of this.#cdnHeaders) set[name] = ok.cdn
      edge = rule.cdnMaxAge
      if (edge > 0 && res.cacheTag === undefined && ok.tags !== undefined) {
        Object.assign(set, ok.tags)
      } else if (edge > 0) this.#addTags(set, rule, res, method, path)
      return { set, remove, shared: edge > 0 || rule.maxAge > 0, verdict: 'shared', rule, etag }
    }
    if (NEGATIVE_STATUSES.has(res.status) && rule.negativeMaxAge > 0) {
      set['Cache-Control'] = `public, max-age=${rule.negativeMaxAge}`
      for (const name of this.#cdnHeaders) set[name] = `max-age=${rule.negativeMaxAge}`
      this.#addTags(set, rule, res, method, path)
      return { set, remove, shared: true, verdict: 'shared', rule, etag }
    }
    return this.#notCacheable(set, remove, 'no-store', 'status', rule, etag)
  }

  #notCacheable(
    set: Record<string, string>,
    remove: string[],
    cc: string | undefined,
    verdict: Verdict,
    rule: ResolvedRule | undefined,
    etag: 'strong' | 'weak' | false,
  ): CompiledHeaders {
    if (cc !== undefined) set['Cache-Control'] = cc
    for (const name of this.#cdnHeaders) set[name] = 'no-store'
    for (const name of this.#tagHeaders) remove.push(name.toLowerCase())
    return { set, remove, shared: false, verdict, rule, etag }
  }

  #addTags(
    set: Record<string, string>,
    rule: ResolvedRule,
    res: ResponseFacts,
    method: string,
    path: string,
  ): void {
    const tags = new Set<string>(members(res.cacheTag).filter(isValidTag))
    const ruleTags =
      typeof rule.tags === 'function' ? safeTags(rule.tags, { method, path, status: res.status }) : rule.tags
    for (const t of ruleTags) if (isValidTag(t)) tags.add(t)
    if (tags.size > 0) {
      for (const name of this.#tagHeaders) set[name] = [...tags].join(name === 'Cache-Tag' ? ',' : ' ')
    }
  }
}

/** The error for the first bad argument of `compile` (off the hot path). */
function badCompileArguments(req: RequestFacts, res: ResponseFacts): Error {
  if (req === null || typeof req !== 'object')
    return invalidArgument(COMPILE, 'req', 'an object { method, path, headers }', req)
  if (req.headers === null || typeof req.headers !== 'object')
    return invalidArgument(COMPILE, 'req.headers', 'an object', req.headers)
  if (res === null || typeof res !== 'object')
    return invalidArgument(COMPILE, 'res', 'an object { status, setsCookie }', res)
  if (!Number.isInteger(res.status) || res.status < 100 || res.status > 999)
    return invalidArgument(COMPILE, 'res.status', 'an integer from 100 to 999', res.status)
  if (typeof req.method !== 'string') return invalidArgument(COMPILE, 'req.method', 'a string', req.method)
  if (typeof req.path !== 'string') return invalidArgument(COMPILE, 'req.path', 'a string', req.path)
  return invalidArgument(COMPILE, 'req.route', 'a string or undefined', req.route)
}

function safeTags(fn: (ctx: TagContext) => readonly string[], ctx: TagContext): readonly string[] {
  try {
    const t = fn(ctx)
    return Array.isArray(t) ? t : []
  } catch {
    return []
  }
}

/**
 * Validates a route table and returns the compiled {@link CachePolicyTable}. Rules are tried in order; the first
 * whose methods and path pattern match wins.
 *
 * @param rules - the route table
 * @param options - {@link PolicyOptions}
 * @returns the policy table
 * @throws InvalidPolicyError (`E_INVALID_POLICY`) for an invalid rule or option
 * @throws TierkitTypeError (`E_INVALID_ARGUMENT`) when `rules` is not an array or `options` not an object
 * @example
 * ```ts
 * const policy = definePolicy([
 *   { path: '/api/me*', authenticated: true },
 *   { path: '/api/public/*', maxAge: 600, cdnMaxAge: 600, tags: ['public'] },
 * ])
 * ```
 */
export function definePolicy(rules: readonly RouteRule[], options?: PolicyOptions): CachePolicyTable {
  return new CachePolicyTable(rules, options)
}
