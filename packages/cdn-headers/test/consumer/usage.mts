// Type-checked against the packed package by the publish-and-consume check: main entry only.
import {
  type CachePolicyTable,
  type CompiledHeaders,
  computeETag,
  definePolicy,
  evaluatePreconditions,
  InvalidPolicyError,
  type NormalizedPath,
  normalizePath,
  type PathIssue,
  type PreconditionOutcome,
  type RouteRule,
} from '@tierkit/cdn-headers'

const rules: RouteRule[] = [
  { name: 'authenticated', path: '/api/me*', authenticated: true },
  {
    name: 'public api',
    path: '/api/public/*',
    browserTtl: 600,
    edgeTtl: 600,
    staleWhileRevalidate: 60,
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
let code: string | undefined
try {
  definePolicy([{ path: 'bad' }])
} catch (e) {
  if (e instanceof InvalidPolicyError) code = e.code
}

const normalized: NormalizedPath = normalizePath('/api/%75sers/1')
const issue: PathIssue | undefined = compiled.pathIssue
const normalizedPath: string | undefined = normalized.ok ? normalized.path : undefined

export { cacheControl, code, issue, normalizedPath, outcome }
