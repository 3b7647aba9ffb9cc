// Type-checked against the packed package by the publish-and-consume check: every entry.
import {
  type CachePolicyTable,
  type CdnHeadersErrorCode,
  type CompiledHeaders,
  computeETag,
  definePolicy,
  errors,
  evaluatePreconditions,
  InvalidPolicyError,
  type NormalizedPath,
  normalizePath,
  type PathIssue,
  type PreconditionOutcome,
  parseHttpDate,
  type RouteRule,
} from '@tierkit/cdn-headers'
import {
  type CloudflareCacheRuleset,
  createPurgeClient,
  type PurgeClient,
  toCloudflareRuleset,
} from '@tierkit/cdn-headers/cloudflare'
import { failClosedFrameworkErrors, fastifyCdnHeaders } from '@tierkit/cdn-headers/fastify'
import { cacheHeaders, type NodeMiddleware } from '@tierkit/cdn-headers/node'

// the directive options keep the directive's seconds and its name
const rules: RouteRule[] = [
  { name: 'authenticated', path: '/api/me*', authenticated: true },
  {
    name: 'public api',
    path: '/api/public/*',
    maxAge: 600,
    cdnMaxAge: 600,
    staleWhileRevalidate: 60,
    staleIfError: 86_400,
    negativeMaxAge: 30,
    privateMaxAge: 0,
    tags: ['public'],
  },
]
const policy: CachePolicyTable = definePolicy(rules)
const compiled: CompiledHeaders = policy.compile(
  { method: 'GET', path: '/api/public/users', headers: {} },
  { status: 200, setsCookie: false },
)
const cacheControl: string | undefined = compiled.set['Cache-Control']
const etag: string = computeETag('{"users":[]}')
const outcome: PreconditionOutcome = evaluatePreconditions(
  { method: 'GET', headers: { 'if-none-match': etag } },
  { etag },
)
const lastModified: number | undefined = parseHttpDate('Thu, 01 Jan 2026 00:00:00 GMT') // epoch ms
let code: CdnHeadersErrorCode | undefined
try {
  definePolicy([{ path: 'bad' }])
} catch (e) {
  if (e instanceof InvalidPolicyError) code = e.code
  else if (e instanceof errors.E_INVALID_ARGUMENT) code = e.code
}

const normalized: NormalizedPath = normalizePath('/api/%75sers/1')
const issue: PathIssue | undefined = compiled.pathIssue
const normalizedPath: string | undefined = normalized.ok ? normalized.path : undefined

// durations that are not HTTP directives are ms, named without a unit
const purge: PurgeClient = createPurgeClient({ zoneId: 'zone', apiToken: 'token', timeout: 5000 })
const ruleset: CloudflareCacheRuleset = toCloudflareRuleset(policy, { host: 'example.com' })
const middleware: NodeMiddleware = cacheHeaders(policy, { maxBufferBytes: 1 << 20 })
const plugins = [fastifyCdnHeaders, failClosedFrameworkErrors] as const

export {
  cacheControl,
  code,
  issue,
  lastModified,
  middleware,
  normalizedPath,
  outcome,
  plugins,
  purge,
  ruleset,
}
