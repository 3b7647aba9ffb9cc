/**
 * Cloudflare side of `@tierkit/cdn-headers`: the route table as a Rulesets API `http_request_cache_settings`
 * ruleset, and a purge client for cache tags (in `purge.ts`, re-exported here). Structural types only: the
 * `cloudflare` SDK is not imported.
 *
 * @module
 */
import { checkObject, checkOneOf, invalidArgument } from '@tierkit/contracts'
import type { CachePolicyTable } from './policy.js'
import type { ResolvedRule } from './rule.js'

export {
  CLOUDFLARE_PURGE_LIMITS,
  CLOUDFLARE_TAGS_PER_REQUEST,
  type CloudflarePlan,
  createPurgeClient,
  type PurgeClient,
  type PurgeClientOptions,
  type PurgeRate,
} from './purge.js'
export type { PurgeReport, PurgeTagsOptions, TagPurger } from './tag-purger.js'

const TTL_MODES: readonly string[] = ['override_origin', 'respect_origin']

/** One `set_cache_settings` rule, shaped as `cloudflare`'s `RulesAPI.SetCacheSettingsRuleParam`. */
export interface CloudflareCacheRule {
  /** Always `set_cache_settings`. */
  action: 'set_cache_settings'
  /** What the rule does: cache on/off and the TTLs. */
  action_parameters: {
    /** Whether Cloudflare caches matching requests. */
    cache: boolean
    /** Edge TTL in seconds, Cloudflare's field (present when `cache` is true): the rule's `cdnMaxAge`. */
    edge_ttl?: { mode: 'override_origin' | 'respect_origin'; default?: number }
    /** Browser TTL in seconds, Cloudflare's field: the rule's `maxAge`. */
    browser_ttl?: { mode: 'override_origin' | 'respect_origin' | 'bypass'; default?: number }
    /** Serve stale while revalidating at the edge. */
    serve_stale?: { disable_stale_while_updating: boolean }
    /** Respect strong ETags from the origin. */
    respect_strong_etags?: boolean
  }
  /** Rules-language expression. */
  expression: string
  /** Human-readable description (the rule name). */
  description: string
  /** Whether the rule is enabled. */
  enabled: boolean
}

/** A ruleset body for `PUT /zones/{zone_id}/rulesets/phases/http_request_cache_settings/entrypoint` or `POST .../rulesets`. */
export interface CloudflareCacheRuleset {
  /** Ruleset name. */
  name: string
  /** Always `zone`. */
  kind: 'zone'
  /** Always `http_request_cache_settings`. */
  phase: 'http_request_cache_settings'
  /** Description. */
  description: string
  /** Rules: later rules override earlier ones in Cloudflare, so the table is emitted in reverse, safety last. */
  rules: CloudflareCacheRule[]
}

/** Options of {@link toCloudflareRuleset}. */
export interface CloudflareRulesetOptions {
  /** Ruleset name. @default 'tierkit cache rules' */
  name?: string
  /**
   * Cloudflare's TTL mode: `'override_origin'` writes the table's `cdnMaxAge` and `maxAge` into the rules'
   * `edge_ttl` and `browser_ttl`; `'respect_origin'` lets the origin's headers (which this package writes from the
   * same table) decide.
   * @default 'override_origin'
   */
  ttlMode?: 'override_origin' | 'respect_origin'
  /** Session cookie names for the safety rule's expression. @default ['session', 'sid'] */
  sessionCookies?: readonly string[]
  /** Hostname to restrict every rule to (`http.host eq "..."`). @default undefined (all hosts of the zone) */
  host?: string
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

const quote = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`

function ruleExpression(r: ResolvedRule, hostClause: string): string {
  const methods = r.methods.map((m) => quote(m)).join(' ')
  const path = r.path.includes('*')
    ? `http.request.uri.path strict wildcard ${quote(r.path)}`
    : `http.request.uri.path eq ${quote(r.path)}`
  return `${hostClause}http.request.method in {${methods}} and ${path}`
}

/** The options of {@link toCloudflareRuleset}, checked; returns the session cookie names. */
function checkRulesetOptions(where: string, options: CloudflareRulesetOptions): readonly string[] {
  checkObject(where, 'options', options)
  const cookies = options.sessionCookies ?? ['session', 'sid']
  if (!Array.isArray(cookies))
    throw invalidArgument(where, 'options.sessionCookies', 'an array of cookie names', cookies)
  for (const [i, c] of cookies.entries()) {
    if (typeof c !== 'string' || !TOKEN.test(c))
      throw invalidArgument(where, `options.sessionCookies[${i}]`, 'a cookie name (an RFC 9110 token)', c)
  }
  if (
    options.host !== undefined &&
    (typeof options.host !== 'string' || !/^[A-Za-z0-9.-]+$/.test(options.host))
  ) {
    throw invalidArgument(
      where,
      'options.host',
      'a hostname (letters, digits, dots and hyphens)',
      options.host,
    )
  }
  if (options.ttlMode !== undefined) checkOneOf(where, 'options.ttlMode', options.ttlMode, TTL_MODES)
  if (options.name !== undefined && typeof options.name !== 'string') {
    throw invalidArgument(where, 'options.name', 'a string', options.name)
  }
  return cookies
}

/** The Cloudflare rule of one table rule: a bypass, or the cache settings with its TTLs. */
function cacheRule(
  r: ResolvedRule,
  hostClause: string,
  mode: 'override_origin' | 'respect_origin',
): CloudflareCacheRule {
  const expression = ruleExpression(r, hostClause)
  if (r.authenticated || r.cdnMaxAge === 0 || !r.methods.includes('GET')) {
    return {
      action: 'set_cache_settings',
      action_parameters: { cache: false },
      expression,
      description: `${r.name}: bypass`,
      enabled: true,
    }
  }
  const params: CloudflareCacheRule['action_parameters'] = {
    cache: true,
    edge_ttl: mode === 'override_origin' ? { mode, default: r.cdnMaxAge } : { mode },
    // a maxAge of 0 is the origin's `public, no-cache`: let Cloudflare pass it through
    browser_ttl:
      mode === 'override_origin' && r.maxAge > 0 ? { mode, default: r.maxAge } : { mode: 'respect_origin' },
    respect_strong_etags: true,
  }
  if (r.staleWhileRevalidate > 0) params.serve_stale = { disable_stale_while_updating: false }
  return {
    action: 'set_cache_settings',
    action_parameters: params,
    expression,
    description: r.name,
    enabled: true,
  }
}

/**
 * Exports the route table as a Cloudflare cache-rules ruleset (phase `http_request_cache_settings`). Path patterns
 * map 1:1 to `strict wildcard` (case-sensitive, `*` spans `/`), exactly like the runtime matcher. Because every
 * matching Cloudflare rule applies and later rules win, rules are emitted in reverse table order (so the first table
 * rule wins), then one final bypass rule for requests with `Authorization` or a session cookie.
 *
 * @param policy - the route table
 * @param options - {@link CloudflareRulesetOptions}
 * @returns the ruleset body
 * @throws TierkitTypeError (`E_INVALID_ARGUMENT`) for a `policy` that is not a `CachePolicyTable` or a bad option
 *   (`toCloudflareRuleset: options.sessionCookies[0] must be a cookie name (an RFC 9110 token), got "a b"`)
 * @example
 * ```ts
 * const body = toCloudflareRuleset(policy)
 * await cf.rulesets.phases.update('http_request_cache_settings', { zone_id, rules: body.rules })
 * ```
 */
export function toCloudflareRuleset(
  policy: CachePolicyTable,
  options: CloudflareRulesetOptions = {},
): CloudflareCacheRuleset {
  const where = 'toCloudflareRuleset'
  if (policy === null || typeof policy !== 'object' || !Array.isArray(policy.rules)) {
    throw invalidArgument(where, 'policy', 'a CachePolicyTable', policy)
  }
  const cookies = checkRulesetOptions(where, options)
  const mode = options.ttlMode ?? 'override_origin'
  const hostClause = options.host === undefined ? '' : `http.host eq ${quote(options.host)} and `
  const rules: CloudflareCacheRule[] = []
  for (const r of [...policy.rules].reverse()) rules.push(cacheRule(r, hostClause, mode))
  const credentialClauses = [
    'len(http.request.headers["authorization"]) gt 0',
    ...cookies.map((c) => `len(http.request.cookies[${quote(c)}]) gt 0`),
  ]
  rules.push({
    action: 'set_cache_settings',
    action_parameters: { cache: false },
    expression: `${hostClause}(${credentialClauses.join(' or ')})`,
    description: 'safety: never cache requests with credentials',
    enabled: true,
  })
  return {
    name: options.name ?? 'tierkit cache rules',
    kind: 'zone',
    phase: 'http_request_cache_settings',
    description: 'Generated by @tierkit/cdn-headers from the route table',
    rules,
  }
}
