/**
 * The Cloudflare purge client of `@tierkit/cdn-headers` (re-exported by `@tierkit/cdn-headers/cloudflare`): purges
 * cache tags through `POST /zones/{zone}/purge_cache` within Cloudflare's documented limits. Concurrent calls share
 * one queue: tags not sent yet are merged into requests of at most 100 tags, sent one at a time through a token
 * bucket sized by plan; a 429 pauses the queue for its `Retry-After`, a 5xx or network error is retried with
 * exponential backoff and jitter, a bounded number of times. Each call resolves with a {@link PurgeReport}: a tag
 * that could not be purged is reported with its reason, never lost.
 *
 * The transport (one request, its answer read as Cloudflare's v4 envelope) is in `purge-request.ts`; the token
 * bucket in `rate-limit.ts`.
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
import { type Attempt, describeBatch, type PurgeTarget, sendPurge } from './purge-request.js'
import { TokenBucket } from './rate-limit.js'
import {
  checkPurgeMode,
  checkPurgeTags,
  type PurgeReport,
  type PurgeTagsOptions,
  type TagPurger,
} from './tag-purger.js'

/** A Cloudflare plan, for its purge rate limit. */
export type CloudflarePlan = 'free' | 'pro' | 'business' | 'enterprise'

/** A token bucket: `perSecond` requests refill it, it holds at most `burst`. */
export interface PurgeRate {
  /** Requests per second (a fraction for less than one: Free's 5 a minute is `5 / 60`). */
  perSecond: number
  /** Bucket size: requests that may be sent at once after a quiet period. */
  burst: number
}

/**
 * Cloudflare's documented purge limits for tags, hostnames, prefixes and purge everything
 * (developers.cloudflare.com/cache/how-to/purge-cache/, "Purge limits", read 2026-12-07): a token bucket per
 * account, and at most 100 tags per request on every plan.
 */
export const CLOUDFLARE_PURGE_LIMITS: Readonly<Record<CloudflarePlan, Readonly<PurgeRate>>> = Object.freeze({
  free: Object.freeze({ perSecond: 5 / 60, burst: 25 }),
  pro: Object.freeze({ perSecond: 5, burst: 25 }),
  business: Object.freeze({ perSecond: 10, burst: 50 }),
  enterprise: Object.freeze({ perSecond: 50, burst: 500 }),
})

/** Tags per purge request Cloudflare accepts on every plan. */
export const CLOUDFLARE_TAGS_PER_REQUEST = 100

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
  /** How long one purge request may take, in ms, before it counts as failed (reason `timeout`, retried). @default 10000 */
  timeout?: number
  /** The `fetch` to use. @default globalThis.fetch */
  fetch?: typeof fetch
  /**
   * The account's plan: the client's token bucket follows its documented purge rate (see
   * {@link CLOUDFLARE_PURGE_LIMITS}). The limit is per account: several clients (processes) of one account share
   * it, and a 429 tells each of them to wait. @default 'free'
   */
  plan?: CloudflarePlan
  /** A rate of your own instead of the plan's (a share of the account's, with several processes). */
  rate?: PurgeRate
  /** Attempts per request, the first included (429, 5xx, network errors and timeouts are retried). @default 5 */
  attempts?: number
  /** First backoff before a retry, in ms; it doubles each attempt, with jitter (half fixed, half random). @default 500 */
  retryDelay?: number
  /** Longest backoff, in ms. @default 30000 */
  maxRetryDelay?: number
  /** Longest `Retry-After` the client waits, in ms; a longer one fails the batch (reason `rate-limited`). @default 60000 */
  maxRetryAfter?: number
  /** Most tags waiting to be sent; tags beyond fail at once (reason `queue-full`). @default 100000 */
  maxQueue?: number
}

/**
 * A Cloudflare cache-tag purge client, a {@link TagPurger}. It owns nothing to close: the queue drains by itself
 * (the connections belong to the `fetch` it was given), and it reports no events.
 */
export interface PurgeClient extends TagPurger {
  /**
   * Purges every cached response carrying one of the tags (`POST /zones/{zone}/purge_cache` with `{ tags }`).
   * Tags join the client's queue: a tag already waiting (not sent yet) for another call is sent once for both; a
   * tag already in a request on its way is sent again (that request may have reached Cloudflare before the
   * caller's write). `mode: 'soft'` purges hard (Cloudflare documents no soft purge by tag) and lists the tags in
   * `hardened`.
   *
   * @param tags - cache tags (see `isValidTag`)
   * @param options - `mode`
   * @returns the {@link PurgeReport} once every tag is purged or failed
   * @throws TierkitTypeError (`E_INVALID_ARGUMENT`) when `tags` is not an array of cache tags or the mode is
   *   unknown, before anything is sent (`PurgeClient.purgeTags: tags[1] must be a cache tag (1 to 1024
   *   printable ASCII characters, no space or comma), got "a b"`)
   */
  purgeTags(tags: readonly string[], options?: PurgeTagsOptions): Promise<PurgeReport>
  /** Tags waiting to be sent (not counting those in the request on its way). */
  readonly queued: number
}

/** Settings of a client, checked. */
interface ClientSettings {
  target: PurgeTarget
  batchSize: number
  bucket: TokenBucket
  attempts: number
  retryDelay: number
  maxRetryDelay: number
  maxRetryAfter: number
  maxQueue: number
}

/** One `purgeTags` call waiting for its tags. */
interface Waiter {
  remaining: number
  report: PurgeReport
  soft: boolean
  resolve(report: PurgeReport): void
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
 * const purge = createPurgeClient({ zoneId, apiToken: process.env.CF_API_TOKEN!, plan: 'enterprise' })
 * const report = await purge.purgeTags(['product-42'])
 * for (const f of report.failed) console.warn(f.tag, f.reason, f.error.message)
 * ```
 */
export function createPurgeClient(options: PurgeClientOptions): PurgeClient {
  const settings = checkClientOptions(options)
  const pending = new Map<string, Waiter[]>()
  let draining = false

  const settle = (tag: string, waiters: readonly Waiter[], error: PurgeFailedError | undefined): void => {
    for (const w of waiters) {
      if (error === undefined) {
        w.report.purged.push(tag)
        if (w.soft) w.report.hardened.push(tag)
      } else w.report.failed.push({ tag, reason: error.reason, error })
      if (--w.remaining === 0) w.resolve(w.report)
    }
  }
  const drain = async (): Promise<void> => {
    draining = true
    while (pending.size > 0) {
      const batch: Array<[string, Waiter[]]> = []
      for (const entry of pending) {
        batch.push(entry)
        if (batch.length === settings.batchSize) break
      }
      for (const [tag] of batch) pending.delete(tag)
      const error = await purgeWithRetries(
        settings,
        batch.map(([tag]) => tag),
      )
      for (const [tag, waiters] of batch) settle(tag, waiters, error)
    }
    draining = false
  }

  return {
    get queued() {
      return pending.size
    },
    async purgeTags(tags, purgeOptions) {
      const where = 'PurgeClient.purgeTags'
      const unique = checkPurgeTags(where, tags)
      const soft = checkPurgeMode(where, purgeOptions) === 'soft'
      const report: PurgeReport = { purged: [], hardened: [], failed: [] }
      if (unique.length === 0) return report
      return new Promise<PurgeReport>((resolve) => {
        const waiter: Waiter = { remaining: unique.length, report, soft, resolve }
        for (const tag of unique) {
          const waiting = pending.get(tag)
          if (waiting !== undefined) waiting.push(waiter)
          else if (pending.size < settings.maxQueue) pending.set(tag, [waiter])
          else settle(tag, [waiter], queueFull(tag, settings.maxQueue))
        }
        if (!draining && pending.size > 0) void drain()
      })
    },
  }
}

/** The error of a tag refused because the queue is full. */
function queueFull(tag: string, maxQueue: number): PurgeFailedError {
  return new PurgeFailedError(
    0,
    [tag],
    `${describeBatch([tag])}: the queue holds its maximum of ${maxQueue} tags (options.maxQueue)`,
    { reason: 'queue-full' },
  )
}

/** The delay before retry `attempt` (1 = the first retry): half of it fixed, half random ("equal jitter"). */
function backoff(settings: ClientSettings, attempt: number): number {
  const d = Math.min(settings.maxRetryDelay, settings.retryDelay * 2 ** (attempt - 1))
  return Math.round(d / 2 + (Math.random() * d) / 2)
}

/** Sends one batch, retrying what may succeed later; resolves with the error of the last attempt, or `undefined`. */
async function purgeWithRetries(
  settings: ClientSettings,
  batch: readonly string[],
): Promise<PurgeFailedError | undefined> {
  for (let attempt = 1; ; attempt++) {
    await settings.bucket.take()
    const r: Attempt = await sendPurge(settings.target, batch)
    if (r.error === undefined) return undefined
    if (!r.error.retryable || attempt >= settings.attempts) return r.error
    if (r.retryAfter !== undefined) {
      if (r.retryAfter > settings.maxRetryAfter) {
        return new PurgeFailedError(
          429,
          batch,
          `${describeBatch(batch)}: Cloudflare asked to wait ${r.retryAfter} ms (Retry-After), more than options.maxRetryAfter (${settings.maxRetryAfter} ms)`,
        )
      }
      // the limit is the account's: nothing is sent before Cloudflare said it may be
      settings.bucket.pause(r.retryAfter)
      continue
    }
    const delay = backoff(settings, attempt)
    if (r.error.status === 429) settings.bucket.pause(delay)
    else await new Promise((resolve) => setTimeout(resolve, delay))
  }
}

/** Checks the options of {@link createPurgeClient}. */
function checkClientOptions(options: PurgeClientOptions): ClientSettings {
  const where = 'createPurgeClient'
  checkObject(where, 'options', options)
  refuseRenamed(where, options, { timeoutMs: 'renamed options.timeout, in ms' }, 'options.')
  if (typeof options.zoneId !== 'string' || !/^[A-Za-z0-9]+$/.test(options.zoneId)) {
    throw invalidArgument(where, 'options.zoneId', 'an alphanumeric zone id', options.zoneId)
  }
  const token = checkApiToken(where, options.apiToken)
  const baseUrl = options.baseUrl ?? 'https://api.cloudflare.com/client/v4'
  if (typeof baseUrl !== 'string' || !/^https?:\/\/[^\s]+$/.test(baseUrl) || !URL.canParse(baseUrl)) {
    throw invalidArgument(where, 'options.baseUrl', 'an http: or https: URL', baseUrl)
  }
  const doFetch = options.fetch ?? globalThis.fetch
  checkFunction(where, 'options.fetch', doFetch)
  const ms = (name: keyof PurgeClientOptions, fallback: number, min: number): number =>
    options[name] === undefined ? fallback : checkDuration(where, `options.${name}`, options[name], min)
  const plan = checkOneOf(where, 'options.plan', options.plan ?? 'free', Object.keys(CLOUDFLARE_PURGE_LIMITS))
  return {
    target: {
      url: `${baseUrl.replace(/\/+$/, '')}/zones/${options.zoneId}/purge_cache`,
      authorization: `Bearer ${token}`,
      timeout: ms('timeout', 10_000, 1),
      fetch: doFetch,
    },
    batchSize: checkInteger(
      where,
      'options.batchSize',
      options.batchSize ?? CLOUDFLARE_TAGS_PER_REQUEST,
      1,
      CLOUDFLARE_TAGS_PER_REQUEST,
    ),
    bucket: new TokenBucket(
      checkRate(where, options.rate ?? CLOUDFLARE_PURGE_LIMITS[plan as CloudflarePlan]),
    ),
    attempts: checkInteger(where, 'options.attempts', options.attempts ?? 5, 1, 100),
    retryDelay: ms('retryDelay', 500, 0),
    maxRetryDelay: ms('maxRetryDelay', 30_000, 0),
    maxRetryAfter: ms('maxRetryAfter', 60_000, 0),
    maxQueue: checkInteger(where, 'options.maxQueue', options.maxQueue ?? 100_000, 1, 100_000_000),
  }
}

/** A rate: `perSecond` a positive finite number, `burst` an integer from 1. */
function checkRate(where: string, rate: unknown): PurgeRate {
  checkObject(where, 'options.rate', rate)
  const { perSecond, burst } = rate as PurgeRate
  if (typeof perSecond !== 'number' || !Number.isFinite(perSecond) || perSecond <= 0 || perSecond > 1e6) {
    throw invalidArgument(
      where,
      'options.rate.perSecond',
      'a number of requests per second above 0',
      perSecond,
    )
  }
  return { perSecond, burst: checkInteger(where, 'options.rate.burst', burst, 1, 1_000_000) }
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
