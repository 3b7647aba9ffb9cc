/**
 * The compiled route table ({@link CachePolicyTable}, built by {@link definePolicy}): `match` finds a request's
 * rule, `compile` turns a request and its response into the caching headers and a verdict. The rules' validation
 * is in `rule.ts`, the options' in `options.ts`, the path matching in `matcher.ts`, the field values in
 * `headers.ts`.
 *
 * @module
 */
import { invalidArgument } from '@tierkit/contracts'
import { credentialsOf } from './credentials.js'
import { members, type SharedHeaders, sharedHeaders, writeTags, writeVary } from './headers.js'
import { RuleMatcher, SCAN } from './matcher.js'
import { type CdnHeaderName, type PolicyOptions, resolveOptions, type TagHeaderName } from './options.js'
import type { PathIssue } from './path.js'
import { type CredentialKind, type ResolvedRule, type RouteRule, resolveRule } from './rule.js'

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
  readonly #matcher: RuleMatcher
  readonly #isSession: (name: string) => boolean
  /** `options.cdnHeaders` and `options.tagHeaders`, as plain arrays. */
  readonly #cdnHeaders: readonly CdnHeaderName[]
  readonly #tagHeaders: readonly TagHeaderName[]
  /** Per rule: Cache-Control, CDN value and joined static tags for a shared 2xx answer. */
  readonly #ok: readonly SharedHeaders[]

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
    const o = resolveOptions(options)
    this.#isSession = o.isSession
    // plain copies for the hot loops (V8 iterates a frozen array more slowly), frozen ones for `options`
    this.#cdnHeaders = [...o.cdnHeaders]
    this.#tagHeaders = [...o.tagHeaders]
    this.options = Object.freeze({
      cdnHeaders: Object.freeze([...o.cdnHeaders]),
      tagHeaders: Object.freeze([...o.tagHeaders]),
      etag: o.etag,
      maxPathLength: o.maxPathLength,
    })
    this.rules = Object.freeze(rules.map((r, i) => resolveRule(r, i, o.etag)))
    this.#matcher = new RuleMatcher(this.rules, o.maxPathLength)
    this.#ok = this.rules.map((r) => sharedHeaders(r, this.#tagHeaders))
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
    return this.#matcher.resolve(m, path, route) ?? undefined
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
    return credentialsOf(headers, this.#isSession)
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
    const resolved = this.#matcher.resolve(method, req.path, req.route)
    const path = SCAN.path
    const h = req.headers
    if (resolved === null) {
      // fail closed: a path that cannot be read unambiguously may reach a private handler
      const etag = this.options.etag
      const out = this.#notCacheable({}, [], 'private, no-store', 'unsafe-path', undefined, etag)
      out.pathIssue = this.#matcher.issue
      return out
    }
    const rule = resolved
    const blocking =
      h.authorization !== undefined || h.cookie !== undefined || res.setsCookie
        ? this.#blocking(h, res.setsCookie, rule)
        : undefined
    const set: Record<string, string> = {}
    const remove: string[] = []
    const etag = rule?.etag ?? this.options.etag
    if (rule === undefined) return this.#noRule(set, remove, blocking, res.cacheControl, etag)
    if (rule.vary.length > 0 || res.vary !== undefined) writeVary(set, rule.vary, res.vary)

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
      } else if (edge > 0) writeTags(set, rule, res, method, path, this.#tagHeaders)
      return { set, remove, shared: edge > 0 || rule.maxAge > 0, verdict: 'shared', rule, etag }
    }
    if (NEGATIVE_STATUSES.has(res.status) && rule.negativeMaxAge > 0) {
      set['Cache-Control'] = `public, max-age=${rule.negativeMaxAge}`
      for (const name of this.#cdnHeaders) set[name] = `max-age=${rule.negativeMaxAge}`
      writeTags(set, rule, res, method, path, this.#tagHeaders)
      return { set, remove, shared: true, verdict: 'shared', rule, etag }
    }
    return this.#notCacheable(set, remove, 'no-store', 'status', rule, etag)
  }

  /** The credentials that make this response private: the request's and a `Set-Cookie`, less `sharedDespite`. */
  #blocking(
    h: RequestFacts['headers'],
    setsCookie: boolean,
    rule: ResolvedRule | undefined,
  ): CredentialKind[] | undefined {
    const creds = credentialsOf(h, this.#isSession)
    if (setsCookie) creds.push('set-cookie')
    const b = rule === undefined ? creds : creds.filter((c) => !rule.sharedDespite.includes(c))
    return b.length > 0 ? b : undefined
  }

  /**
   * A response of a route without a rule: left alone, unless it carries credentials; then made private, keeping
   * the handler's Cache-Control when that already keeps shared caches out.
   */
  #noRule(
    set: Record<string, string>,
    remove: string[],
    blocking: CredentialKind[] | undefined,
    cacheControl: string | undefined,
    etag: 'strong' | 'weak' | false,
  ): CompiledHeaders {
    if (blocking === undefined)
      return { set, remove, shared: false, verdict: 'no-rule', rule: undefined, etag }
    const cc = members(cacheControl).map((d) => d.toLowerCase())
    const keep =
      cc.includes('no-store') || (cc.includes('private') && !cc.some((d) => d.startsWith('s-maxage')))
    return this.#notCacheable(
      set,
      remove,
      keep ? undefined : 'private, no-store',
      blocking[0]!,
      undefined,
      etag,
    )
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
