import { invalidArgument } from '@tierkit/contracts'
import {
  evaluatePreconditions,
  NOT_MODIFIED_DROPPED_HEADERS,
  type PreconditionOutcome,
} from './conditional.js'
import { computeETag } from './etag.js'
import type { CachePolicyTable, CompiledHeaders, RequestFacts } from './policy.js'

const WEAK = { weak: true } as const

/** A read-only view of the response a handler produced (before any header is sent). */
export interface DraftResponse {
  /** Status the handler chose. */
  status: number
  /** Reads a response header the handler set (case-insensitive name); arrays are joined with `, `. */
  getHeader(name: string): string | undefined
  /** Whether the handler set `Set-Cookie`. */
  setsCookie: boolean
  /** The complete body, when it is known (undefined for streams). */
  body?: string | Uint8Array | undefined
}

/** What an adapter must do to finish the response; see {@link prepareResponse}. */
export interface PreparedResponse {
  /** Final status (the handler's, or 304 / 412). */
  status: number
  /** Headers to set (canonical names): the compiled caching headers (the same object as `compiled.set`) plus the computed `ETag`. */
  set: Record<string, string>
  /** Headers to remove (lower case); the same array as `compiled.remove`, extended for 304 / 412. */
  remove: string[]
  /** Whether the body must be sent (false for 304 and 412). */
  sendBody: boolean
  /** Outcome of the precondition check. */
  outcome: PreconditionOutcome
  /** The compiled caching headers and verdict. */
  compiled: CompiledHeaders
}

/**
 * A `CachePolicyTable` (what `definePolicy` returns), as the adapters and `prepareResponse` take it. Written out
 * rather than with contracts' `checkMethods`: it runs on every response, where a shared check's megamorphic
 * property read costs tens of ns; the message is the same.
 */
export function checkPolicyTable(where: string, what: string, policy: unknown): void {
  if (
    policy === null ||
    typeof policy !== 'object' ||
    typeof (policy as CachePolicyTable).compile !== 'function'
  )
    throw invalidArgument(where, what, 'a CachePolicyTable', policy)
}

/**
 * The framework-neutral core of the adapters: compiles the caching headers of a finished response, adds an ETag
 * when the rule asks for one and the handler set none, and evaluates the request's preconditions (GET/HEAD) against
 * the final ETag and `Last-Modified`. A 304 keeps every header of the 200 (ETag, Cache-Control, CDN fields, Vary,
 * Expires, Date, Content-Location, tags) except representation metadata (`Content-Type`, `Content-Length`,
 * `Content-Encoding`, ...; `Last-Modified` when an ETag exists).
 *
 * @param policy - the route table
 * @param req - request facts
 * @param draft - the response as the handler left it
 * @returns the {@link PreparedResponse}
 * @throws TierkitTypeError (`E_INVALID_ARGUMENT`) when `policy` is not a `CachePolicyTable` or `draft` has no
 *   `getHeader` function (`prepareResponse: policy must be a CachePolicyTable, got undefined`), and as
 *   `CachePolicyTable.compile` for bad request facts or status
 */
export function prepareResponse(
  policy: CachePolicyTable,
  req: RequestFacts,
  draft: DraftResponse,
): PreparedResponse {
  checkPolicyTable('prepareResponse', 'policy', policy)
  if (draft === null || typeof draft !== 'object' || typeof draft.getHeader !== 'function')
    throw invalidArgument(
      'prepareResponse',
      'draft',
      'an object { status, getHeader, setsCookie, body? }',
      draft,
    )
  const compiled = policy.compile(req, {
    status: draft.status,
    setsCookie: draft.setsCookie,
    vary: draft.getHeader('vary'),
    cacheControl: draft.getHeader('cache-control'),
    cacheTag: draft.getHeader('cache-tag'),
  })
  // compile returns fresh objects per call: extend them in place instead of copying
  const set = compiled.set
  const remove = compiled.remove
  const method = req.method === 'GET' || req.method === 'HEAD' ? req.method : req.method.toUpperCase()
  const isGetOrHead = method === 'GET' || method === 'HEAD'
  let etag = draft.getHeader('etag')
  if (
    etag === undefined &&
    compiled.etag !== false &&
    draft.body !== undefined &&
    isGetOrHead &&
    draft.status >= 200 &&
    draft.status < 300
  ) {
    etag = computeETag(draft.body, compiled.etag === 'weak' ? WEAK : undefined)
    set.ETag = etag
  }
  let outcome: PreconditionOutcome = 'proceed'
  const h = req.headers
  if (
    isGetOrHead &&
    (h['if-none-match'] !== undefined ||
      h['if-modified-since'] !== undefined ||
      h['if-match'] !== undefined ||
      h['if-unmodified-since'] !== undefined)
  ) {
    outcome = evaluatePreconditions(req, {
      status: draft.status,
      etag,
      lastModified: draft.getHeader('last-modified'),
    })
  }
  if (outcome === 'not-modified') {
    remove.push(...NOT_MODIFIED_DROPPED_HEADERS)
    if (etag !== undefined) remove.push('last-modified')
    return { status: 304, set, remove, sendBody: false, outcome, compiled }
  }
  if (outcome === 'precondition-failed') {
    for (const k of Object.keys(set)) delete set[k]
    set['Cache-Control'] = 'no-store'
    for (const h of policy.options.cdnHeaders) set[h] = 'no-store'
    remove.push(...NOT_MODIFIED_DROPPED_HEADERS, 'etag', 'last-modified', 'vary')
    for (const h of policy.options.tagHeaders) remove.push(h.toLowerCase())
    return { status: 412, set, remove, sendBody: false, outcome, compiled }
  }
  return { status: draft.status, set, remove, sendBody: true, outcome, compiled }
}
