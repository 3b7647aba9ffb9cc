/**
 * Cloudflare side of `@tierkit/cdn-headers`: the route table as a Rulesets API `http_request_cache_settings`
 * ruleset, and a purge client for cache tags. Structural types only: the `cloudflare` SDK is not imported.
 *
 * @module
 */
import { PurgeFailedError } from './errors.js'
import type { CachePolicyTable, ResolvedRule } from './policy.js'

/** One `set_cache_settings` rule, shaped as `cloudflare`'s `RulesAPI.SetCacheSettingsRuleParam`. */
export interface CloudflareCacheRule {
  /** Always `set_cache_settings`. */
  action: 'set_cache_settings'
  /** What the rule does: cache on/off and the TTLs. */
  action_parameters: {
    /** Whether Cloudflare caches matching requests. */
    cache: boolean
    /** Edge TTL (present when `cache` is true). */
    edge_ttl?: { mode: 'override_origin' | 'respect_origin'; default?: number }
    /** Browser TTL. */
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
   * TTL mode: `'override_origin'` writes the table's TTLs into the rules; `'respect_origin'` lets the origin's
   * headers (which this package writes from the same table) decide.
   * @default 'override_origin'
   */
  ttlMode?: 'override_origin' | 'respect_origin'
  /** Session cookie names for the safety rule's expression. @default ['session', 'sid'] */
  sessionCookies?: readonly string[]
  /** Hostname to restrict every rule to (`http.host eq "..."`). @default undefined (all hosts of the zone) */
  host?: string
}

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
 * @throws TypeError `policy must be a CachePolicyTable` / `sessionCookies must be cookie names`
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
  if (policy === null || typeof policy !== 'object' || !Array.isArray(policy.rules)) {
    throw new TypeError('policy must be a CachePolicyTable')
  }
  const cookies = options.sessionCookies ?? ['session', 'sid']
  if (
    !Array.isArray(cookies) ||
    cookies.some((c) => typeof c !== 'string' || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(c))
  ) {
    throw new TypeError('sessionCookies must be cookie names')
  }
  if (
    options.host !== undefined &&
    (typeof options.host !== 'string' || !/^[A-Za-z0-9.-]+$/.test(options.host))
  ) {
    throw new TypeError('host must be a hostname')
  }
  const mode = options.ttlMode ?? 'override_origin'
  const hostClause = options.host === undefined ? '' : `http.host eq ${quote(options.host)} and `
  const rules: CloudflareCacheRule[] = []
  for (const r of [...policy.rules].reverse()) {
    const expression = ruleExpression(r, hostClause)
    if (r.authenticated || r.edgeTtl === 0 || !r.methods.includes('GET')) {
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
      edge_ttl: mode === 'override_origin' ? { mode, default: r.edgeTtl } : { mode },
      // a browser TTL of 0 is the origin's `public, no-cache`: let Cloudflare pass it through
      browser_ttl:
        mode === 'override_origin' && r.browserTtl > 0
          ? { mode, default: r.browserTtl }
          : { mode: 'respect_origin' },
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
  /** API token with the `Cache Purge` permission (sent as `Authorization: Bearer`). */
  apiToken: string
  /** API base URL. @default 'https://api.cloudflare.com/client/v4' */
  baseUrl?: string
  /** Tags per request (Cloudflare accepts up to 100). @default 100 */
  batchSize?: number
  /** Per-request timeout in milliseconds. @default 10000 */
  timeoutMs?: number
  /** The `fetch` to use. @default globalThis.fetch */
  fetch?: typeof fetch
}

/** A cache-tag purge client. */
export interface PurgeClient {
  /**
   * Purges every cached response carrying one of the tags (`POST /zones/{zone}/purge_cache` with `{ tags }`), in
   * batches of `batchSize`, one after another. Duplicate tags are sent once.
   *
   * @param tags - cache tags
   * @returns how many requests were sent
   * @throws TypeError `tags must be a non-empty array of valid cache tags`
   * @throws PurgeFailedError (`E_PURGE_FAILED`) for the first failing batch; earlier batches were purged
   */
  purgeTags(tags: readonly string[]): Promise<{ requests: number }>
}

/**
 * Creates a purge client for Cloudflare cache tags.
 *
 * @param options - {@link PurgeClientOptions}
 * @returns the {@link PurgeClient}
 * @throws TypeError for a missing `zoneId` / `apiToken` or a bad `batchSize`
 * @example
 * ```ts
 * const purge = createPurgeClient({ zoneId, apiToken: process.env.CF_TOKEN! })
 * await purge.purgeTags(['product-42'])
 * ```
 */
export function createPurgeClient(options: PurgeClientOptions): PurgeClient {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object')
  if (typeof options.zoneId !== 'string' || !/^[A-Za-z0-9]+$/.test(options.zoneId)) {
    throw new TypeError('zoneId must be an alphanumeric zone id')
  }
  if (
    typeof options.apiToken !== 'string' ||
    options.apiToken.length === 0 ||
    /[\r\n]/.test(options.apiToken)
  ) {
    throw new TypeError('apiToken must be a non-empty string')
  }
  const batchSize = options.batchSize ?? 100
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 100) {
    throw new TypeError('batchSize must be an integer in [1, 100]')
  }
  const timeoutMs = options.timeoutMs ?? 10_000
  const base = (options.baseUrl ?? 'https://api.cloudflare.com/client/v4').replace(/\/+$/, '')
  const doFetch = options.fetch ?? globalThis.fetch
  const url = `${base}/zones/${options.zoneId}/purge_cache`

  return {
    async purgeTags(tags) {
      if (
        !Array.isArray(tags) ||
        tags.length === 0 ||
        tags.some((t) => typeof t !== 'string' || !/^[\x21-\x2b\x2d-\x7e]{1,1024}$/.test(t))
      ) {
        throw new TypeError('tags must be a non-empty array of valid cache tags')
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
            headers: { authorization: `Bearer ${options.apiToken}`, 'content-type': 'application/json' },
            body: JSON.stringify({ tags: batch }),
            signal: AbortSignal.timeout(timeoutMs),
          })
        } catch (cause) {
          throw new PurgeFailedError(
            0,
            batch,
            `purge request failed: ${(cause as Error)?.message ?? String(cause)}`,
            { cause },
          )
        }
        const text = await res.text().catch(() => '')
        let json: { success?: unknown; errors?: { message?: string }[] } | undefined
        try {
          json = JSON.parse(text)
        } catch {
          json = undefined
        }
        if (!res.ok || json?.success !== true) {
          const msg = json?.errors?.map((e) => e.message).join('; ') || text.slice(0, 200) || res.statusText
          throw new PurgeFailedError(res.status, batch, `purge rejected with HTTP ${res.status}: ${msg}`)
        }
      }
      return { requests }
    },
  }
}
