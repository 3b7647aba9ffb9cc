/**
 * `@tierkit/cdn-headers`: one route policy compiled into HTTP caching headers, ETags and 304/412 answers.
 * Adapters live on subpaths: `@tierkit/cdn-headers/node`, `/fastify`, `/cloudflare`, `/nginx`. The CDN purgers of
 * `/cloudflare` and `/nginx` share one shape, `TagPurger`, whose types are exported here. Errors extend
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
export type { CdnHeaderName, PolicyOptions, TagHeaderName } from './options.js'
export { type NormalizedPath, normalizePath, type PathIssue } from './path.js'
export {
  CachePolicyTable,
  type CompiledHeaders,
  definePolicy,
  type RequestFacts,
  type ResponseFacts,
  type Verdict,
} from './policy.js'
export { type DraftResponse, type PreparedResponse, prepareResponse } from './respond.js'
export {
  type CredentialKind,
  type HttpMethod,
  isValidTag,
  type ResolvedRule,
  type RouteRule,
  type TagContext,
} from './rule.js'
export type {
  PurgeFailure,
  PurgeFailureReason,
  PurgeMode,
  PurgeReport,
  PurgeTagsOptions,
  TagPurger,
} from './tag-purger.js'
