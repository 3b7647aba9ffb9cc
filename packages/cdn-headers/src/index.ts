/**
 * `@tierkit/cdn-headers`: one route policy compiled into HTTP caching headers, ETags and 304/412 answers.
 * Adapters live on subpaths: `@tierkit/cdn-headers/node`, `/fastify`, `/cloudflare`. Errors extend
 * `TierkitError` of `@tierkit/contracts`; `errors` maps each code this package throws to its class.
 *
 * @module
 */
export {
  type ConditionalRequest,
  evaluatePreconditions,
  NOT_MODIFIED_DROPPED_HEADERS,
  type PreconditionOutcome,
  parseHttpDate,
  type ResourceState,
} from './conditional.js'
export {
  CdnHeadersError,
  type CdnHeadersErrorCode,
  errors,
  InvalidPolicyError,
  PurgeFailedError,
} from './errors.js'
export {
  computeETag,
  type EntityTag,
  type EntityTagList,
  type ETagOptions,
  parseETag,
  parseETagList,
  strongMatch,
  weakMatch,
} from './etag.js'
export { type NormalizedPath, normalizePath, type PathIssue } from './path.js'
export {
  CachePolicyTable,
  type CdnHeaderName,
  type CompiledHeaders,
  type CredentialKind,
  definePolicy,
  type HttpMethod,
  isValidTag,
  type PolicyOptions,
  type RequestFacts,
  type ResolvedRule,
  type ResponseFacts,
  type RouteRule,
  type TagContext,
  type TagHeaderName,
  type Verdict,
} from './policy.js'
export { type DraftResponse, type PreparedResponse, prepareResponse } from './respond.js'
