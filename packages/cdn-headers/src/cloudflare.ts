/**
 * Cloudflare side of `@tierkit/cdn-headers`: the route table as a Rulesets API `http_request_cache_settings`
 * ruleset, and a purge client for cache tags. Structural types only: the `cloudflare` SDK is not imported.
 *
 * @module
 */
import {
  checkDuration,
  checkFunction,
  checkInteger,
  checkObject,
  checkOneOf,
  describeValue,
  invalidArgument,
  refuseRenamed,
  TierkitTypeError,
} from '@tierkit/contracts'
import { PurgeFailedError } from './errors.js'
import type { CachePolicyTable } from './policy.js'
import { isValidTag, type ResolvedRule, TAG_CHARS } from './rule.js'

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
  const mode = options.ttlMode ?? 'override_origin'
  const hostClause = options.host === undefined ? '' : `http.host eq ${quote(options.host)} and `
  const rules: CloudflareCacheRule[] = []
  for (const r of [...policy.rules].reverse()) {
    const expression = ruleExpression(r, hostClause)
    if (r.authenticated || r.cdnMaxAge === 0 || !r.methods.includes('GET')) {
      rules.push({
        action: 'set_cache_settings',
        action_parameters: { cache: false },
        expression,
        description: `${r.name}: bypass`,
        enabled: true,
      })
      continue
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
    rules.push({
      action: 'set_cache_settings',
      action_parameters: params,
      expression,
      description: r.name,
      enabled: true,
    })
  }
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

/** Options of {@link createPurgeClient}. */
export interface PurgeClientOptions {
  /** Cloudflare zone id. */
  zoneId: string
  /** API token with the `Cache Purge` permission (sent as `Authorization: Bearer`; never put in an error message). */
  apiToken: string
  /** API base URL (`http:` or `https:`). @default 'https://api.cloudflare.com/client/v4' */
  baseUrl?: string
  /** Tags per request (Cloudflare accepts up to 100). @default 100 */
  batchSize?: number
  /** How long one purge request may take, in ms, before it fails with `PurgeFailedError` (status 0, retryable). @default 10000 */
  timeout?: number
  /** The `fetch` to use. @default globalThis.fetch */
  fetch?: typeof fetch
}

/**
 * A cache-tag purge client. It owns nothing to close: each `purgeTags` call sends its requests and is done (the
 * connections belong to the `fetch` it was given), and it reports no events (a failure rejects the call).
 */
export interface PurgeClient {
  /**
   * Purges every cached response carrying one of the tags (`POST /zones/{zone}/purge_cache` with `{ tags }`), in
   * batches of `batchSize`, one after another. Duplicate tags are sent once.
   *
   * @param tags - cache tags
   * @returns how many requests were sent
   * @throws TierkitTypeError (`E_INVALID_ARGUMENT`) when `tags` is not a non-empty array of cache tags (see
   *   `isValidTag`), before anything is sent (`PurgeClient.purgeTags: tags[1] must be a cache tag (1 to 1024
   *   printable ASCII characters, no space or comma), got "a b"`)
   * @throws PurgeFailedError (`E_PURGE_FAILED`) for the first failing batch; earlier batches were purged
   */
  purgeTags(tags: readonly string[]): Promise<{ requests: number }>
}

/** `purgeTags ["a","b"]` for messages: the first tags of the batch, and how many more. */
function describeBatch(batch: readonly string[]): string {
  const shown = batch.slice(0, 3).map((t) => JSON.stringify(t))
  return `purgeTags [${shown.join(',')}${batch.length > 3 ? `, and ${batch.length - 3} more` : ''}]`
}

/**
 * Creates a purge client for Cloudflare cache tags.
 *
 * @param options - {@link PurgeClientOptions}
 * @returns the {@link PurgeClient}
 * @throws TierkitTypeError (`E_INVALID_ARGUMENT`) for a missing or bad option
 *   (`createPurgeClient: options.batchSize must be an integer from 1 to 100, got 0`)
 * @example
 * ```ts
 * const purge = createPurgeClient({ zoneId, apiToken: process.env.CF_API_TOKEN!, timeout: 5000 })
 * await purge.purgeTags(['product-42'])
 * ```
 */
export function createPurgeClient(options: PurgeClientOptions): PurgeClient {
  const where = 'createPurgeClient'
  checkObject(where, 'options', options)
  refuseRenamed(where, options, { timeoutMs: 'renamed options.timeout, in ms' }, 'options.')
  if (typeof options.zoneId !== 'string' || !/^[A-Za-z0-9]+$/.test(options.zoneId)) {
    throw invalidArgument(where, 'options.zoneId', 'an alphanumeric zone id', options.zoneId)
  }
  const token: unknown = options.apiToken
  if (typeof token !== 'string' || token.length === 0 || /[\r\n]/.test(token)) {
    // the token is a secret: say what is wrong with it, never what it is
    throw new TierkitTypeError(
      `${where}: options.apiToken must be a non-empty string without line breaks, got ${
        typeof token === 'string'
          ? token.length === 0
            ? '""'
            : 'a string with a line break'
          : describeValue(token)
      }`,
    )
  }
  const batchSize = checkInteger(where, 'options.batchSize', options.batchSize ?? 100, 1, 100)
  const timeout =
    options.timeout === undefined ? 10_000 : checkDuration(where, 'options.timeout', options.timeout, 1)
  const baseUrl = options.baseUrl ?? 'https://api.cloudflare.com/client/v4'
  if (typeof baseUrl !== 'string' || !/^https?:\/\/[^\s]+$/.test(baseUrl) || !URL.canParse(baseUrl)) {
    throw invalidArgument(where, 'options.baseUrl', 'an http: or https: URL', baseUrl)
  }
  const doFetch = options.fetch ?? globalThis.fetch
  checkFunction(where, 'options.fetch', doFetch)
  const base = baseUrl.replace(/\/+$/, '')
  const url = `${base}/zones/${options.zoneId}/purge_cache`
  const authorization = `Bearer ${token}`

  return {
    async purgeTags(tags) {
      if (!Array.isArray(tags) || tags.length === 0) {
        throw invalidArgument('PurgeClient.purgeTags', 'tags', 'a non-empty array of cache tags', tags)
      }
      for (const [i, t] of tags.entries()) {
        if (!isValidTag(t))
          throw invalidArgument('PurgeClient.purgeTags', `tags[${i}]`, `a cache tag (${TAG_CHARS})`, t)
      }
      const unique = [...new Set(tags)]
      let requests = 0
      for (let i = 0; i < unique.length; i += batchSize) {
        const batch = unique.slice(i, i + batchSize)
        requests++
        let res: Response
        try {
          res = await doFetch(url, {
            method: 'POST',
            headers: { authorization, 'content-type': 'application/json' },
            body: JSON.stringify({ tags: batch }),
            signal: AbortSignal.timeout(timeout),
          })
        } catch (cause) {
          const why =
            (cause as Error)?.name === 'TimeoutError'
              ? `no answer within ${timeout} ms`
              : `the request failed: ${(cause as Error)?.message ?? String(cause)}`
          throw new PurgeFailedError(0, batch, `${describeBatch(batch)}: ${why}`, { cause })
        }
        const text = await res.text().catch(() => '')
        let json: { success?: unknown; errors?: { message?: string }[] } | undefined
        try {
          json = JSON.parse(text)
        } catch {
          json = undefined
        }
        if (!res.ok || json?.success !== true) {
          const msg =
            (Array.isArray(json?.errors) && json.errors.map((e) => e?.message).join('; ')) ||
            text.slice(0, 200) ||
            res.statusText
          throw new PurgeFailedError(
            res.status,
            batch,
            `${describeBatch(batch)}: Cloudflare answered HTTP ${res.status}${json?.success === false && res.ok ? ' with success: false' : ''}: ${msg}`,
          )
        }
      }
      return { requests }
    },
  }
}
