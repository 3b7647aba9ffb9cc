import { invalidArgument } from '@tierkit/contracts'
import { type EntityTag, isSingleETag, parseList } from './etag.js'

/** Request fields that conditional evaluation reads (Node's `IncomingMessage` fits). */
export interface ConditionalRequest {
  /** Request method, upper case. */
  method?: string | undefined
  /** Request headers, lower-case names (Node style). */
  headers: Readonly<Record<string, string | string[] | undefined>>
}

/** The current state of the target resource, as the response would describe it. */
export interface ResourceState {
  /**
   * Status the response would have without the preconditions. Preconditions are evaluated only when it is 2xx or
   * 412 (RFC 9110 §13.2.1).
   * @default 200
   */
  status?: number
  /** Current entity tag (quoted, as in the `ETag` header), if any. */
  etag?: string | undefined
  /** Last modification date (a `Date`, epoch milliseconds or an HTTP-date), if any. */
  lastModified?: Date | number | string | undefined
  /**
   * Whether the resource currently has a representation (for `If-Match: *` / `If-None-Match: *`).
   * @default true
   */
  exists?: boolean
}

/**
 * Outcome of {@link evaluatePreconditions}: `'proceed'` (serve or perform normally), `'not-modified'` (answer 304)
 * or `'precondition-failed'` (answer 412).
 */
export type PreconditionOutcome = 'proceed' | 'not-modified' | 'precondition-failed'

const IMF_FIXDATE =
  /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/
const RFC850 =
  /^(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), \d{2}-(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)-\d{2} \d{2}:\d{2}:\d{2} GMT$/
const ASCTIME =
  /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ( \d|\d{2}) \d{2}:\d{2}:\d{2} \d{4}$/

/**
 * Parses an HTTP-date (RFC 9110 §5.6.7: IMF-fixdate, obsolete RFC 850 or asctime form).
 *
 * @param value - field value
 * @returns the date as epoch milliseconds (a whole number of seconds: HTTP-dates have no fractions), or
 *   `undefined` when the value is absent or not exactly one valid HTTP-date
 * @throws TierkitTypeError (`E_INVALID_ARGUMENT`) when `value` is neither a string nor `undefined`
 * @example
 * ```ts
 * parseHttpDate('Thu, 01 Jan 2026 00:00:00 GMT') // 1767225600000, the same as Date.UTC(2026, 0, 1)
 * ```
 */
export function parseHttpDate(value: string | undefined): number | undefined {
  if (value !== undefined && typeof value !== 'string')
    throw invalidArgument('parseHttpDate', 'value', 'a string or undefined', value)
  const s = httpDateSeconds(value)
  return s === undefined ? undefined : s * 1000
}

/** An HTTP-date as epoch seconds (what the precondition comparisons use). */
function httpDateSeconds(value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const v = value.trim()
  let ms: number
  if (IMF_FIXDATE.test(v)) ms = Date.parse(v)
  else if (ASCTIME.test(v)) ms = Date.parse(`${v} GMT`)
  else if (RFC850.test(v)) {
    // two-digit year: RFC 9110 §5.6.7, interpret a year more than 50 years ahead as the past century
    const m = /-(\d{2}) /.exec(v)!
    const yy = Number(m[1])
    const nowYear = new Date().getUTCFullYear()
    let year = Math.floor(nowYear / 100) * 100 + yy
    if (year > nowYear + 50) year -= 100
    ms = Date.parse(v.replace(/^\w+, (\d{2})-(\w{3})-\d{2}/, `$1 $2 ${year}`))
  } else return undefined
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : undefined
}

function toEpochSeconds(v: Date | number | string | undefined): number | undefined {
  if (v === undefined) return undefined
  if (v instanceof Date) {
    const t = v.getTime()
    return Number.isFinite(t) ? Math.floor(t / 1000) : undefined
  }
  if (typeof v === 'number') return Number.isFinite(v) ? Math.floor(v / 1000) : undefined
  return httpDateSeconds(v)
}

function header(req: ConditionalRequest, name: string): string | undefined {
  const v = req.headers[name]
  if (v === undefined) return undefined
  return Array.isArray(v) ? v.join(', ') : v
}

const IGNORED_METHODS = new Set(['CONNECT', 'OPTIONS', 'TRACE'])

const isGetOrHeadMethod = (m: string): boolean => m === 'GET' || m === 'HEAD'

/**
 * Evaluates the request's preconditions against the resource state exactly in the order of RFC 9110 §13.2.2:
 *
 * 1. `If-Match` (strong comparison, `*` = has a representation): false → 412;
 * 2. else `If-Unmodified-Since` (valid HTTP-date, resource has a date): false → 412;
 * 3. `If-None-Match` (weak comparison, lists, `*`): false → 304 for GET/HEAD, 412 otherwise;
 * 4. else, for GET/HEAD only, `If-Modified-Since` (valid HTTP-date, resource has a date): false → 304.
 *
 * Preconditions are ignored when the response would not be 2xx/412 and for CONNECT, OPTIONS and TRACE.
 *
 * @param req - method and headers of the request
 * @param state - {@link ResourceState} of the selected representation
 * @returns the {@link PreconditionOutcome}
 * @throws TierkitTypeError (`E_INVALID_ARGUMENT`) when `req` has no `headers` object, its `method` is not a
 *   string, or `state` is not an object (`evaluatePreconditions: req.headers must be an object, got undefined`)
 * @example
 * ```ts
 * evaluatePreconditions({ method: 'GET', headers: { 'if-none-match': 'W/"a", "b"' } }, { etag: '"b"' }) // 'not-modified'
 * ```
 */
export function evaluatePreconditions(req: ConditionalRequest, state: ResourceState): PreconditionOutcome {
  return evaluate(req, state, 'evaluatePreconditions')
}

/** The checks of {@link evaluate}'s arguments, in the order the messages promise. */
function checkArguments(req: ConditionalRequest, state: ResourceState, where: string): void {
  if (req === null || typeof req !== 'object')
    throw invalidArgument(where, 'req', 'an object { method, headers }', req)
  if (req.headers === null || typeof req.headers !== 'object')
    throw invalidArgument(where, 'req.headers', 'an object', req.headers)
  if (req.method !== undefined && typeof req.method !== 'string')
    throw invalidArgument(where, 'req.method', 'a string or undefined', req.method)
  if (state === null || typeof state !== 'object')
    throw invalidArgument(where, 'state', 'an object { status?, etag?, lastModified?, exists? }', state)
  if (state.etag !== undefined && typeof state.etag !== 'string')
    throw invalidArgument(where, 'state.etag', 'a string or undefined', state.etag)
}

/**
 * {@link evaluatePreconditions}, its bad-argument messages naming `where` (the adapters' `checkPreconditions`).
 * @internal
 */
export function evaluate(req: ConditionalRequest, state: ResourceState, where: string): PreconditionOutcome {
  checkArguments(req, state, where)
  const m = req.method ?? 'GET'
  const method = m === 'GET' || m === 'HEAD' ? m : m.toUpperCase()
  const status = state.status ?? 200
  if (!((status >= 200 && status < 300) || status === 412) || IGNORED_METHODS.has(method)) return 'proceed'
  const h = req.headers
  if (
    h['if-match'] === undefined &&
    h['if-none-match'] === undefined &&
    h['if-modified-since'] === undefined &&
    h['if-unmodified-since'] === undefined
  ) {
    return 'proceed'
  }
  const exists = state.exists ?? true
  // fast path for the common revalidation: a lone If-None-Match that is the current tag (or its weak form).
  // Exactly what the general path below decides for this case, without parsing: the current tag is one valid
  // entity tag and the field is that same tag, so the weak comparison of step 3 matches.
  const inm = h['if-none-match']
  if (
    typeof inm === 'string' &&
    h['if-match'] === undefined &&
    h['if-unmodified-since'] === undefined &&
    exists &&
    state.etag !== undefined &&
    (inm === state.etag ||
      (inm.length === state.etag.length + 2 && inm.startsWith('W/') && inm.endsWith(state.etag)) ||
      (state.etag.length === inm.length + 2 && state.etag.startsWith('W/') && state.etag.endsWith(inm))) &&
    isSingleETag(inm) &&
    isSingleETag(state.etag)
  ) {
    return isGetOrHeadMethod(method) ? 'not-modified' : 'precondition-failed'
  }
  const currentList = state.etag === undefined ? undefined : parseList(state.etag)
  const current: EntityTag | undefined =
    currentList !== undefined && currentList !== '*' && currentList.length === 1 && currentList.invalid === 0
      ? currentList[0]
      : undefined
  const lastModified = toEpochSeconds(state.lastModified)
  const isGetOrHead = method === 'GET' || method === 'HEAD'

  // step 1 / 2
  const ifMatch = header(req, 'if-match')
  if (ifMatch !== undefined) {
    const list = parseList(ifMatch)
    const ok =
      list === '*'
        ? exists
        : current !== undefined &&
          exists &&
          list.some((t) => !t.weak && !current.weak && t.opaque === current.opaque)
    if (!ok) return 'precondition-failed'
  } else {
    const ius = httpDateSeconds(header(req, 'if-unmodified-since'))
    if (ius !== undefined && lastModified !== undefined && !(lastModified <= ius))
      return 'precondition-failed'
  }

  // step 3 / 4
  const ifNoneMatch = header(req, 'if-none-match')
  if (ifNoneMatch !== undefined) {
    const list = parseList(ifNoneMatch)
    const matched =
      list === '*' ? exists : current !== undefined && exists && list.some((t) => t.opaque === current.opaque)
    if (matched) return isGetOrHead ? 'not-modified' : 'precondition-failed'
  } else if (isGetOrHead) {
    const ims = httpDateSeconds(header(req, 'if-modified-since'))
    if (ims !== undefined && lastModified !== undefined && lastModified <= ims) return 'not-modified'
  }
  return 'proceed'
}

/**
 * The representation header fields a 304 drops from the 200 it stands for (RFC 9110 §15.4.5); it keeps every
 * other field (`ETag`, `Cache-Control`, the CDN fields, `Vary`, `Expires`, `Content-Location`, tags), and
 * `Last-Modified` only when there is no `ETag`. Frozen.
 */
export const NOT_MODIFIED_DROPPED_HEADERS: readonly string[] = Object.freeze([
  'content-type',
  'content-length',
  'content-encoding',
  'content-language',
  'content-range',
  'content-disposition',
  'transfer-encoding',
])
