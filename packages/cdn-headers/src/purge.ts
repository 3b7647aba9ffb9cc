/**
 * The Cloudflare purge client of `@tierkit/cdn-headers` (re-exported by `@tierkit/cdn-headers/cloudflare`): purges
 * cache tags in batches through `POST /zones/{zone}/purge_cache`.
 *
 * @module
 */
import {
  checkDuration,
  checkFunction,
  checkInteger,
  checkObject,
  describeValue,
  invalidArgument,
  refuseRenamed,
  TierkitTypeError,
} from '@tierkit/contracts'
import { PurgeFailedError } from './errors.js'
import { isValidTag, TAG_CHARS } from './rule.js'

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
  const token = checkApiToken(where, options.apiToken)
  const batchSize = checkInteger(where, 'options.batchSize', options.batchSize ?? 100, 1, 100)
  const timeout =
    options.timeout === undefined ? 10_000 : checkDuration(where, 'options.timeout', options.timeout, 1)
  const baseUrl = options.baseUrl ?? 'https://api.cloudflare.com/client/v4'
  if (typeof baseUrl !== 'string' || !/^https?:\/\/[^\s]+$/.test(baseUrl) || !URL.canParse(baseUrl)) {
    throw invalidArgument(where, 'options.baseUrl', 'an http: or https: URL', baseUrl)
  }
  const doFetch = options.fetch ?? globalThis.fetch
  checkFunction(where, 'options.fetch', doFetch)
  const target: PurgeTarget = {
    url: `${baseUrl.replace(/\/+$/, '')}/zones/${options.zoneId}/purge_cache`,
    authorization: `Bearer ${token}`,
    timeout,
    fetch: doFetch,
  }

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
        requests++
        await purgeBatch(target, unique.slice(i, i + batchSize))
      }
      return { requests }
    },
  }
}

/** The API token: a non-empty string without line breaks. */
function checkApiToken(where: string, token: unknown): string {
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
  return token
}

/** Where and how a client sends its purges. */
interface PurgeTarget {
  url: string
  authorization: string
  timeout: number
  fetch: typeof fetch
}

/** Sends one batch; throws `PurgeFailedError` when it fails, times out or Cloudflare does not answer success. */
async function purgeBatch(target: PurgeTarget, batch: readonly string[]): Promise<void> {
  let res: Response
  try {
    res = await target.fetch(target.url, {
      method: 'POST',
      headers: { authorization: target.authorization, 'content-type': 'application/json' },
      body: JSON.stringify({ tags: batch }),
      signal: AbortSignal.timeout(target.timeout),
    })
  } catch (cause) {
    const why =
      (cause as Error)?.name === 'TimeoutError'
        ? `no answer within ${target.timeout} ms`
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
