/**
 * A local stand-in for Cloudflare's purge endpoint (`POST /client/v4/zones/{zone}/purge_cache`), a real node:http
 * server that enforces the documented limits: at most 100 tags per request (400 in the v4 error envelope), and a
 * token bucket per account (429 with `Retry-After` in seconds when empty). A request sent before a `Retry-After`
 * it was given has elapsed is recorded as a violation (and answered 429 again).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { listen } from './helpers.js'

/** One request the fake received. */
export interface FakeRequest {
  tags: string[]
  status: number
  at: number
}

/** What a test may make the fake answer instead (checked after the limits): a status, or a dropped connection. */
export type FakeOverride = (
  tags: string[],
  n: number,
) => { status: number; retryAfter?: string } | 'drop' | 'hang' | undefined

/** Options of {@link startFakeCloudflare}. */
export interface FakeCloudflareOptions {
  /** The account's bucket. @default Enterprise's: 50 per second, 500 */
  rate?: { perSecond: number; burst: number }
  /** `Retry-After` of a 429, in seconds. @default 1 */
  retryAfter?: number
  /** Tags per request. @default 100 */
  maxTags?: number
  /** Answers to force. */
  override?: FakeOverride
}

/** A running fake. */
export interface FakeCloudflare {
  /** `http://127.0.0.1:PORT/client/v4` */
  readonly baseUrl: string
  /** Every request received, in order. */
  readonly requests: FakeRequest[]
  /** Requests sent before the Retry-After the client was given had elapsed. */
  readonly violations: string[]
  close(): Promise<void>
}

/** Cloudflare's v4 envelope of a failure. */
function failure(code: number, message: string): string {
  return JSON.stringify({ success: false, errors: [{ code, message }], messages: [], result: null })
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let body = ''
    req.on('data', (c: Buffer) => {
      body += c.toString()
    })
    req.on('end', () => resolve(body))
  })
}

/** Starts the fake on a free loopback port. */
export async function startFakeCloudflare(options: FakeCloudflareOptions = {}): Promise<FakeCloudflare> {
  const rate = options.rate ?? { perSecond: 50, burst: 500 }
  const retryAfter = options.retryAfter ?? 1
  const maxTags = options.maxTags ?? 100
  const requests: FakeRequest[] = []
  const violations: string[] = []
  let tokens = rate.burst
  let at = Date.now()
  let blockedUntil = 0

  const answer = (res: ServerResponse, tags: string[], status: number, body: string): void => {
    requests.push({ tags, status, at: Date.now() })
    res.statusCode = status
    res.setHeader('content-type', 'application/json')
    res.end(body)
  }
  const limited = (res: ServerResponse, tags: string[], seconds: string): void => {
    blockedUntil = Date.now() + Number(seconds) * 1000
    res.setHeader('retry-after', seconds)
    answer(res, tags, 429, failure(971, 'Please wait and consider throttling your request speed'))
  }
  const server = await listen(async (req, res) => {
    const body = await readBody(req)
    if (req.method !== 'POST' || !/^\/client\/v4\/zones\/[A-Za-z0-9]+\/purge_cache$/.test(req.url ?? '')) {
      answer(res, [], 404, failure(7003, 'No route for that URI'))
      return
    }
    let tags: string[]
    try {
      tags = (JSON.parse(body) as { tags: string[] }).tags
      if (!Array.isArray(tags)) throw new Error('no tags')
    } catch {
      answer(res, [], 400, failure(1012, 'Request must contain one of "purge_everything", "files", "tags"'))
      return
    }
    const now = Date.now()
    if (now < blockedUntil) {
      violations.push(`request ${requests.length} came ${blockedUntil - now} ms before its Retry-After ended`)
      limited(res, tags, String(retryAfter))
      return
    }
    tokens = Math.min(rate.burst, tokens + ((now - at) * rate.perSecond) / 1000)
    at = now
    if (tokens < 1) {
      limited(res, tags, String(retryAfter))
      return
    }
    tokens -= 1
    if (tags.length > maxTags) {
      answer(res, tags, 400, failure(1122, `Maximum number of tags per request is ${maxTags}`))
      return
    }
    const forced = options.override?.(tags, requests.length)
    if (forced === 'drop') {
      requests.push({ tags, status: 0, at: now })
      req.socket.destroy()
      return
    }
    if (forced === 'hang') {
      requests.push({ tags, status: 0, at: now })
      return
    }
    if (forced !== undefined) {
      if (forced.status === 429) limited(res, tags, forced.retryAfter ?? String(retryAfter))
      else
        answer(
          res,
          tags,
          forced.status,
          failure(forced.status === 400 ? 1134 : 10000, `forced ${forced.status}`),
        )
      return
    }
    answer(
      res,
      tags,
      200,
      JSON.stringify({ success: true, errors: [], messages: [], result: { id: 'purge' } }),
    )
  })
  return {
    baseUrl: `${server.url}/client/v4`,
    requests,
    violations,
    close: () => server.close(),
  }
}
