/**
 * One purge request of the Cloudflare purge client: `POST {target.url}` with `{ tags }`, its answer read as
 * Cloudflare's v4 envelope (`{ success, errors: [{ code, message }], messages, result }`), and `Retry-After`.
 *
 * @module
 * @internal
 */
import { PurgeFailedError } from './errors.js'

/** Where and how a client sends its purges. */
export interface PurgeTarget {
  url: string
  authorization: string
  timeout: number
  fetch: typeof fetch
}

/** The outcome of one request: no error, or the error and how long Cloudflare asked to wait (ms). */
export interface Attempt {
  error?: PurgeFailedError
  retryAfter?: number
}

/** `purgeTags ["a","b"]` for messages: the first tags of the batch, and how many more. */
export function describeBatch(batch: readonly string[]): string {
  const shown = batch.slice(0, 3).map((t) => JSON.stringify(t))
  return `purgeTags [${shown.join(',')}${batch.length > 3 ? `, and ${batch.length - 3} more` : ''}]`
}

/** `Retry-After` in ms: delay-seconds or an HTTP-date (RFC 9110 §10.2.3); `undefined` when absent or malformed. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null) return undefined
  const v = value.trim()
  if (/^\d{1,10}$/.test(v)) return Number(v) * 1000
  const at = Date.parse(v)
  return Number.isNaN(at) || !/[A-Za-z]/.test(v) ? undefined : Math.max(0, at - now)
}

/** Sends one batch; never rejects. */
export async function sendPurge(target: PurgeTarget, batch: readonly string[]): Promise<Attempt> {
  let res: Response
  try {
    res = await target.fetch(target.url, {
      method: 'POST',
      headers: { authorization: target.authorization, 'content-type': 'application/json' },
      body: JSON.stringify({ tags: batch }),
      signal: AbortSignal.timeout(target.timeout),
    })
  } catch (cause) {
    const timedOut = (cause as Error)?.name === 'TimeoutError'
    const why = timedOut
      ? `no answer within ${target.timeout} ms`
      : `the request failed: ${(cause as Error)?.message ?? String(cause)}`
    return {
      error: new PurgeFailedError(0, batch, `${describeBatch(batch)}: ${why}`, {
        cause,
        reason: timedOut ? 'timeout' : 'unavailable',
      }),
    }
  }
  const text = await res.text().catch(() => '')
  let json: { success?: unknown; errors?: { message?: string }[] } | undefined
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  if (res.ok && json?.success === true) return {}
  const msg =
    (Array.isArray(json?.errors) && json.errors.map((e) => e?.message).join('; ')) ||
    text.slice(0, 200) ||
    res.statusText
  const error = new PurgeFailedError(
    res.status,
    batch,
    `${describeBatch(batch)}: Cloudflare answered HTTP ${res.status}${json?.success === false && res.ok ? ' with success: false' : ''}: ${msg}`,
  )
  return {
    error,
    retryAfter: res.status === 429 ? parseRetryAfter(res.headers.get('retry-after')) : undefined,
  }
}
