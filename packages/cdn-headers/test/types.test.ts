/**
 * Types tell the truth: every public signature of every entry, checked with `expectTypeOf` (compiled by
 * `pnpm typecheck`), next to a runtime call showing that the runtime returns what the type says.
 */
import { TierkitError, type TierkitTypeError } from '@tierkit/contracts'
import Fastify, { type FastifyPluginCallback, type FastifyServerOptions } from 'fastify'
import { describe, expect, expectTypeOf, test } from 'vitest'
import * as cloudflare from '../src/cloudflare.js'
import {
  type CloudflareCacheRule,
  type CloudflareCacheRuleset,
  type CloudflareRulesetOptions,
  createPurgeClient,
  type PurgeClient,
  type PurgeClientOptions,
  toCloudflareRuleset,
} from '../src/cloudflare.js'
import * as fastify from '../src/fastify.js'
import {
  type FastifyCdnHeadersOptions,
  failClosedFrameworkErrors,
  fastifyCdnHeaders,
} from '../src/fastify.js'
import * as main from '../src/index.js'
import {
  CachePolicyTable,
  CdnHeadersError,
  type CdnHeadersErrorCode,
  type CompiledHeaders,
  type ConditionalRequest,
  type CredentialKind,
  computeETag,
  type DraftResponse,
  definePolicy,
  type EntityTag,
  type EntityTagList,
  type ETagOptions,
  errors,
  evaluatePreconditions,
  InvalidPolicyError,
  isValidTag,
  NOT_MODIFIED_DROPPED_HEADERS,
  type NormalizedPath,
  normalizePath,
  type PathIssue,
  type PolicyOptions,
  type PreconditionOutcome,
  type PreparedResponse,
  PurgeFailedError,
  parseETag,
  parseETagList,
  parseHttpDate,
  prepareResponse,
  type RequestFacts,
  type ResolvedRule,
  type ResourceState,
  type ResponseFacts,
  type RouteRule,
  strongMatch,
  type Verdict,
  weakMatch,
} from '../src/index.js'
import * as nginx from '../src/nginx.js'
import * as node from '../src/node.js'
import {
  cacheHeaders,
  checkPreconditions,
  type NodeAdapterOptions,
  type NodeMiddleware,
} from '../src/node.js'
import { listen, request } from './helpers.js'

const policy = definePolicy([
  { name: 'me', path: '/api/me*', authenticated: true },
  {
    name: 'public',
    path: '/api/public/*',
    maxAge: 600,
    cdnMaxAge: 300,
    staleWhileRevalidate: 60,
    staleIfError: 600,
    negativeMaxAge: 30,
    privateMaxAge: 10,
    tags: ['public'],
  },
])
const get = (path: string, headers: RequestFacts['headers'] = {}): RequestFacts => ({
  method: 'GET',
  path,
  headers,
})
const ok: ResponseFacts = { status: 200, setsCookie: false }

describe('public entries export exactly the public API', () => {
  test('main entry', () => {
    expect(Object.keys(main).sort()).toEqual([
      'CachePolicyTable',
      'CdnHeadersError',
      'InvalidPolicyError',
      'NOT_MODIFIED_DROPPED_HEADERS',
      'PurgeFailedError',
      'computeETag',
      'definePolicy',
      'errors',
      'evaluatePreconditions',
      'isValidTag',
      'normalizePath',
      'parseETag',
      'parseETagList',
      'parseHttpDate',
      'prepareResponse',
      'strongMatch',
      'weakMatch',
    ])
  })
  test('subpaths', () => {
    expect(Object.keys(node).sort()).toEqual(['cacheHeaders', 'checkPreconditions'])
    expect(Object.keys(fastify).sort()).toEqual(['failClosedFrameworkErrors', 'fastifyCdnHeaders'])
    expect(Object.keys(nginx).sort()).toEqual([
      'NGINX_PURGE_HEADER',
      'NGINX_PURGE_LOG_FIELDS',
      'NGINX_PURGE_LOG_FORMAT',
      'createNginxPurger',
      'nginxPurgeConfig',
    ])
    expectTypeOf<nginx.NginxPurger>().toExtend<main.TagPurger>()
    expectTypeOf<ReturnType<typeof nginx.createNginxPurger>['purgeTags']>().toEqualTypeOf<
      cloudflare.PurgeClient['purgeTags']
    >()
    expect(Object.keys(cloudflare).sort()).toEqual([
      'CLOUDFLARE_PURGE_LIMITS',
      'CLOUDFLARE_TAGS_PER_REQUEST',
      'createPurgeClient',
      'toCloudflareRuleset',
    ])
  })
})

describe('the route table', () => {
  test('RouteRule: the directive options are seconds named after their directive, no ...Ttl', () => {
    expectTypeOf<RouteRule['maxAge']>().toEqualTypeOf<number | undefined>()
    expectTypeOf<RouteRule['cdnMaxAge']>().toEqualTypeOf<number | undefined>()
    expectTypeOf<RouteRule['staleWhileRevalidate']>().toEqualTypeOf<number | undefined>()
    expectTypeOf<RouteRule['staleIfError']>().toEqualTypeOf<number | undefined>()
    expectTypeOf<RouteRule['negativeMaxAge']>().toEqualTypeOf<number | undefined>()
    expectTypeOf<RouteRule['privateMaxAge']>().toEqualTypeOf<number | undefined>()
    expectTypeOf<RouteRule>().not.toHaveProperty('browserTtl')
    expectTypeOf<RouteRule>().not.toHaveProperty('edgeTtl')
    expectTypeOf<RouteRule>().not.toHaveProperty('negativeTtl')
    expectTypeOf<RouteRule>().not.toHaveProperty('privateTtl')
    expectTypeOf<RouteRule['path']>().toEqualTypeOf<string>()
    // and the runtime writes them into the directives, in seconds
    const c = policy.compile(get('/api/public/x'), ok)
    expect(c.set['Cache-Control']).toBe('public, max-age=600, stale-while-revalidate=60, stale-if-error=600')
    expect(c.set['CDN-Cache-Control']).toBe('max-age=300, stale-while-revalidate=60, stale-if-error=600')
    expect(policy.compile(get('/api/public/x'), { ...ok, status: 404 }).set['Cache-Control']).toBe(
      'public, max-age=30',
    )
    expect(policy.compile(get('/api/public/x', { authorization: 'Bearer t' }), ok).set['Cache-Control']).toBe(
      'private, max-age=10',
    )
  })

  test('definePolicy(rules, options?) → CachePolicyTable', () => {
    expectTypeOf(definePolicy).parameters.toEqualTypeOf<
      [readonly RouteRule[], (PolicyOptions | undefined)?]
    >()
    expectTypeOf(definePolicy).returns.toEqualTypeOf<CachePolicyTable>()
    expect(policy).toBeInstanceOf(CachePolicyTable)
    expect(new CachePolicyTable([])).toBeInstanceOf(CachePolicyTable)
  })

  test('rules and options: readonly, resolved, frozen', () => {
    expectTypeOf(policy.rules).toEqualTypeOf<readonly ResolvedRule[]>()
    expectTypeOf<ResolvedRule['maxAge']>().toEqualTypeOf<number>()
    expectTypeOf<ResolvedRule['cdnMaxAge']>().toEqualTypeOf<number>()
    expectTypeOf<ResolvedRule['negativeMaxAge']>().toEqualTypeOf<number>()
    expectTypeOf<ResolvedRule['privateMaxAge']>().toEqualTypeOf<number>()
    expectTypeOf<ResolvedRule['etag']>().toEqualTypeOf<'strong' | 'weak' | false>()
    expectTypeOf(policy.options.maxPathLength).toEqualTypeOf<number>()
    expectTypeOf(policy.options.cdnHeaders).toEqualTypeOf<
      readonly ('CDN-Cache-Control' | 'Cloudflare-CDN-Cache-Control')[]
    >()
    const r = policy.rules[1]!
    expect(r).toMatchObject({
      index: 1,
      name: 'public',
      maxAge: 600,
      cdnMaxAge: 300,
      staleWhileRevalidate: 60,
      staleIfError: 600,
      negativeMaxAge: 30,
      privateMaxAge: 10,
      etag: 'strong',
      authenticated: false,
    })
    // cdnMaxAge defaults to maxAge, every other number to 0 (never undefined, as the type says)
    const d = definePolicy([{ path: '/a', maxAge: 7 }]).rules[0]!
    expect([
      d.maxAge,
      d.cdnMaxAge,
      d.staleWhileRevalidate,
      d.staleIfError,
      d.negativeMaxAge,
      d.privateMaxAge,
    ]).toEqual([7, 7, 0, 0, 0, 0])
    expect(policy.options).toEqual({
      cdnHeaders: ['CDN-Cache-Control'],
      tagHeaders: ['Cache-Tag'],
      etag: 'strong',
      maxPathLength: 8192,
    })
    expect(Object.isFrozen(policy.options.cdnHeaders) && Object.isFrozen(r)).toBe(true)
  })

  test('match(method, path, route?) → ResolvedRule | undefined (never null, also for an unsafe path)', () => {
    expectTypeOf(policy.match).parameters.toEqualTypeOf<[string, string, (string | undefined)?]>()
    expectTypeOf(policy.match).returns.toEqualTypeOf<ResolvedRule | undefined>()
    expect(policy.match('GET', '/api/public/x')).toBe(policy.rules[1])
    expect(policy.match('GET', '/nothing')).toBeUndefined()
    expect(policy.match('GET', '/api/public/a%2Fb')).toBeUndefined() // unsafe: internally null
    expect(policy.match('GET', '/x', '/api/me')).toBe(policy.rules[0])
  })

  test('compile(req, res) → CompiledHeaders; pathIssue only for unsafe-path', () => {
    expectTypeOf(policy.compile).parameters.toEqualTypeOf<[RequestFacts, ResponseFacts]>()
    expectTypeOf(policy.compile).returns.toEqualTypeOf<CompiledHeaders>()
    expectTypeOf<CompiledHeaders['set']>().toEqualTypeOf<Record<string, string>>()
    expectTypeOf<CompiledHeaders['remove']>().toEqualTypeOf<string[]>()
    expectTypeOf<CompiledHeaders['verdict']>().toEqualTypeOf<Verdict>()
    expectTypeOf<CompiledHeaders['rule']>().toEqualTypeOf<ResolvedRule | undefined>()
    expectTypeOf<CompiledHeaders['pathIssue']>().toEqualTypeOf<PathIssue | undefined>()
    const shared = policy.compile(get('/api/public/x'), ok)
    expect(shared).toEqual({
      set: {
        'Cache-Control': 'public, max-age=600, stale-while-revalidate=60, stale-if-error=600',
        'CDN-Cache-Control': 'max-age=300, stale-while-revalidate=60, stale-if-error=600',
        'Cache-Tag': 'public',
      },
      remove: [],
      shared: true,
      verdict: 'shared',
      rule: policy.rules[1],
      etag: 'strong',
    })
    const none = policy.compile(get('/other'), ok)
    expect(none).toEqual({
      set: {},
      remove: [],
      shared: false,
      verdict: 'no-rule',
      rule: undefined,
      etag: 'strong',
    })
    const unsafe = policy.compile(get('/api/public/%2e%2e/me'), ok)
    expect(unsafe).toMatchObject({
      verdict: 'unsafe-path',
      pathIssue: 'dot-segment',
      rule: undefined,
      shared: false,
    })
  })

  test('credentials(headers) → CredentialKind[]', () => {
    expectTypeOf(policy.credentials).returns.toEqualTypeOf<CredentialKind[]>()
    expect(policy.credentials({ authorization: 'Bearer x', cookie: 'sid=1' })).toEqual([
      'authorization',
      'session-cookie',
    ])
    expect(policy.credentials({})).toEqual([])
  })

  test('isValidTag(tag) → boolean', () => {
    expectTypeOf(isValidTag).toEqualTypeOf<(tag: string) => boolean>()
    expect([isValidTag('product-42'), isValidTag('a b'), isValidTag('')]).toEqual([true, false, false])
  })
})

describe('paths, ETags, preconditions', () => {
  test('normalizePath(target, options?) → NormalizedPath, frozen', () => {
    expectTypeOf(normalizePath).parameters.toEqualTypeOf<[string, ({ maxLength?: number } | undefined)?]>()
    expectTypeOf(normalizePath).returns.toEqualTypeOf<NormalizedPath>()
    const n = normalizePath('/api/%75sers/1?x=1')
    expect(n).toEqual({ ok: true, path: '/api/users/1', readings: ['/api/users/1', '/api/%75sers/1'] })
    expect(Object.isFrozen(n)).toBe(true)
    const bad = normalizePath('/a%2Fb')
    expect(bad).toEqual({ ok: false, issue: 'encoded-slash' })
    if (!bad.ok) expectTypeOf(bad.issue).toEqualTypeOf<PathIssue>()
  })

  test('computeETag(body, options?) → string', () => {
    expectTypeOf(computeETag).parameters.toEqualTypeOf<[string | Uint8Array, (ETagOptions | undefined)?]>()
    expectTypeOf(computeETag).returns.toEqualTypeOf<string>()
    expect(computeETag('x')).toMatch(/^"[\w-]{22}"$/)
    expect(computeETag(Buffer.from('x'), { weak: true })).toMatch(/^W\/"[\w-]{22}"$/)
  })

  test('parseETag → EntityTag | undefined; parseETagList → "*" | EntityTagList; strongMatch/weakMatch → boolean', () => {
    expectTypeOf(parseETag).returns.toEqualTypeOf<EntityTag | undefined>()
    expectTypeOf(parseETagList).returns.toEqualTypeOf<'*' | EntityTagList>()
    expectTypeOf<EntityTagList['invalid']>().toEqualTypeOf<number>()
    expectTypeOf(strongMatch).returns.toEqualTypeOf<boolean>()
    expectTypeOf(weakMatch).returns.toEqualTypeOf<boolean>()
    expect(parseETag('W/"a"')).toEqual({ weak: true, opaque: 'a' })
    expect(parseETag('nope')).toBeUndefined()
    expect(parseETagList('*')).toBe('*')
    const list = parseETagList('"a", junk')
    expect(Array.isArray(list) && list.invalid).toBe(1)
    expect(strongMatch({ weak: false, opaque: 'a' }, { weak: false, opaque: 'a' })).toBe(true)
    expect(weakMatch({ weak: true, opaque: 'a' }, { weak: false, opaque: 'b' })).toBe(false)
  })

  test('parseHttpDate(value) → number | undefined, epoch ms', () => {
    expectTypeOf(parseHttpDate).toEqualTypeOf<(value: string | undefined) => number | undefined>()
    expect(parseHttpDate('Thu, 01 Jan 2026 00:00:00 GMT')).toBe(Date.UTC(2026, 0, 1))
    expect(parseHttpDate('not a date')).toBeUndefined()
  })

  test('evaluatePreconditions(req, state) → PreconditionOutcome', () => {
    expectTypeOf(evaluatePreconditions).parameters.toEqualTypeOf<[ConditionalRequest, ResourceState]>()
    expectTypeOf(evaluatePreconditions).returns.toEqualTypeOf<PreconditionOutcome>()
    expectTypeOf<ResourceState['lastModified']>().toEqualTypeOf<Date | number | string | undefined>()
    const h = (headers: Record<string, string>): ConditionalRequest => ({ method: 'GET', headers })
    expect(evaluatePreconditions(h({ 'if-none-match': '"a"' }), { etag: '"a"' })).toBe('not-modified')
    expect(evaluatePreconditions(h({ 'if-match': '"b"' }), { etag: '"a"' })).toBe('precondition-failed')
    expect(evaluatePreconditions(h({}), {})).toBe('proceed')
  })

  test('NOT_MODIFIED_DROPPED_HEADERS: readonly string[], frozen', () => {
    expectTypeOf(NOT_MODIFIED_DROPPED_HEADERS).toEqualTypeOf<readonly string[]>()
    expect(Object.isFrozen(NOT_MODIFIED_DROPPED_HEADERS)).toBe(true)
  })

  test('prepareResponse(policy, req, draft) → PreparedResponse', () => {
    expectTypeOf(prepareResponse).parameters.toEqualTypeOf<[CachePolicyTable, RequestFacts, DraftResponse]>()
    expectTypeOf(prepareResponse).returns.toEqualTypeOf<PreparedResponse>()
    expectTypeOf<PreparedResponse['outcome']>().toEqualTypeOf<PreconditionOutcome>()
    const draft: DraftResponse = { status: 200, setsCookie: false, getHeader: () => undefined, body: 'hi' }
    const p = prepareResponse(policy, get('/api/public/x', { 'if-none-match': computeETag('hi') }), draft)
    expect(p).toMatchObject({ status: 304, sendBody: false, outcome: 'not-modified' })
    expect(p.set).toBe(p.compiled.set)
    expect(p.set.ETag).toBe(computeETag('hi'))
  })
})

describe('errors', () => {
  test('the code union is the keys of the errors map; each class carries its key as code and its name', () => {
    expectTypeOf<keyof typeof errors>().toEqualTypeOf<CdnHeadersErrorCode>()
    expectTypeOf<CdnHeadersErrorCode>().toEqualTypeOf<
      'E_INVALID_POLICY' | 'E_PURGE_FAILED' | 'E_INVALID_ARGUMENT'
    >()
    expectTypeOf(errors.E_INVALID_POLICY).toEqualTypeOf<typeof InvalidPolicyError>()
    expectTypeOf(errors.E_PURGE_FAILED).toEqualTypeOf<typeof PurgeFailedError>()
    expectTypeOf(errors.E_INVALID_ARGUMENT).toEqualTypeOf<typeof TierkitTypeError>()
    expectTypeOf<InvalidPolicyError['code']>().toEqualTypeOf<'E_INVALID_POLICY'>()
    expectTypeOf<PurgeFailedError['code']>().toEqualTypeOf<'E_PURGE_FAILED'>()
    expectTypeOf<InvalidPolicyError>().toExtend<CdnHeadersError>()
    expectTypeOf<CdnHeadersError>().toExtend<TierkitError>()
    const made = [
      new errors.E_INVALID_POLICY(0, 'maxAge', 'a number', '"x"'),
      new errors.E_PURGE_FAILED(500, ['t'], 'boom'),
      new errors.E_INVALID_ARGUMENT('f: x must be y, got z'),
    ]
    expect(made.map((e) => [e.code, e.name])).toEqual([
      ['E_INVALID_POLICY', 'InvalidPolicyError'],
      ['E_PURGE_FAILED', 'PurgeFailedError'],
      ['E_INVALID_ARGUMENT', 'TypeError'],
    ])
    expect(Object.keys(errors).sort()).toEqual(['E_INVALID_ARGUMENT', 'E_INVALID_POLICY', 'E_PURGE_FAILED'])
    expect(made[0]).toBeInstanceOf(TierkitError)
    expect(made[1]).toBeInstanceOf(CdnHeadersError)
    expect(made[2]).toBeInstanceOf(TypeError)
    expect(Object.isFrozen(errors)).toBe(true)
  })
  test('PurgeFailedError carries status, tags, retryable and the cause', () => {
    expectTypeOf<PurgeFailedError['status']>().toEqualTypeOf<number>()
    expectTypeOf<PurgeFailedError['tags']>().toEqualTypeOf<readonly string[]>()
    expectTypeOf<PurgeFailedError['retryable']>().toEqualTypeOf<boolean>()
    const cause = new Error('socket hang up')
    const e = new PurgeFailedError(0, ['a'], 'purgeTags ["a"]: the request failed: socket hang up', { cause })
    expect([e.status, e.tags, e.retryable, e.cause]).toEqual([0, ['a'], true, cause])
  })
})

describe('adapters', () => {
  test('node: cacheHeaders(policy, options?) → NodeMiddleware; checkPreconditions(req, res, state) → boolean', async () => {
    expectTypeOf(cacheHeaders).parameters.toEqualTypeOf<
      [CachePolicyTable, (NodeAdapterOptions | undefined)?]
    >()
    expectTypeOf(cacheHeaders).returns.toEqualTypeOf<NodeMiddleware>()
    expectTypeOf(checkPreconditions).returns.toEqualTypeOf<boolean>()
    const mw = cacheHeaders(policy)
    let proceeded: boolean | undefined
    const server = await listen((req, res) =>
      mw(req, res, () => {
        if (req.method === 'PUT') {
          proceeded = checkPreconditions(req, res, { etag: '"v2"' })
          if (!proceeded) return
        }
        res.end('ok')
      }),
    )
    const r = await request(server.url, '/api/public/x')
    const put = await request(server.url, '/api/public/x', { method: 'PUT', headers: { 'if-match': '"v1"' } })
    await server.close()
    expect(typeof mw).toBe('function')
    expect(r.headers['cache-control']).toBe(
      'public, max-age=600, stale-while-revalidate=60, stale-if-error=600',
    )
    expect([put.status, proceeded]).toEqual([412, false])
  })

  test('fastify: the plugin, reply.checkPreconditions(state) → boolean, failClosedFrameworkErrors fits frameworkErrors', async () => {
    expectTypeOf(fastifyCdnHeaders).toEqualTypeOf<FastifyPluginCallback<FastifyCdnHeadersOptions>>()
    expectTypeOf<FastifyCdnHeadersOptions['policy']>().toEqualTypeOf<CachePolicyTable>()
    expectTypeOf(failClosedFrameworkErrors).toExtend<NonNullable<FastifyServerOptions['frameworkErrors']>>()
    const app = Fastify({ frameworkErrors: failClosedFrameworkErrors })
    await app.register(fastifyCdnHeaders, { policy })
    let result: boolean | undefined
    app.put('/api/public/x', async (_req, reply) => {
      result = reply.checkPreconditions({ etag: '"v2"' })
      expectTypeOf(result).toEqualTypeOf<boolean>()
      return result ? reply.code(204).send() : reply
    })
    const r = await app.inject({ method: 'PUT', url: '/api/public/x', headers: { 'if-match': '"v2"' } })
    const bad = await app.inject({ url: '/api/public/%zz' })
    await app.close()
    expect([r.statusCode, result]).toEqual([204, true])
    expect([bad.statusCode, bad.headers['cache-control']]).toEqual([400, 'private, no-store'])
  })

  test('cloudflare: toCloudflareRuleset(policy, options?) → CloudflareCacheRuleset', () => {
    expectTypeOf(toCloudflareRuleset).parameters.toEqualTypeOf<
      [CachePolicyTable, (CloudflareRulesetOptions | undefined)?]
    >()
    expectTypeOf(toCloudflareRuleset).returns.toEqualTypeOf<CloudflareCacheRuleset>()
    expectTypeOf<CloudflareCacheRuleset['rules']>().toEqualTypeOf<CloudflareCacheRule[]>()
    const rs = toCloudflareRuleset(policy)
    // Cloudflare's TTL fields are seconds: the rule's cdnMaxAge and maxAge as they are
    expect(rs.rules[0]!.action_parameters).toMatchObject({
      cache: true,
      edge_ttl: { mode: 'override_origin', default: 300 },
      browser_ttl: { mode: 'override_origin', default: 600 },
    })
  })

  test('cloudflare: createPurgeClient(options) → PurgeClient, a TagPurger; purgeTags → Promise<PurgeReport>', async () => {
    expectTypeOf(createPurgeClient).parameters.toEqualTypeOf<[PurgeClientOptions]>()
    expectTypeOf(createPurgeClient).returns.toEqualTypeOf<PurgeClient>()
    expectTypeOf<PurgeClient['purgeTags']>().returns.toEqualTypeOf<Promise<main.PurgeReport>>()
    expectTypeOf<PurgeClient>().toExtend<main.TagPurger>()
    expectTypeOf<main.PurgeReport['failed'][number]['reason']>().toEqualTypeOf<main.PurgeFailureReason>()
    expectTypeOf<PurgeClientOptions['timeout']>().toEqualTypeOf<number | undefined>()
    expectTypeOf<PurgeClientOptions>().not.toHaveProperty('timeoutMs')
    expectTypeOf<PurgeClient>().not.toHaveProperty('close')
    const api = await listen((_req, res) => res.end('{"success":true}'))
    const client = createPurgeClient({ zoneId: 'z1', apiToken: 't', baseUrl: api.url, timeout: 5000 })
    const done = await client.purgeTags(['a', 'b'])
    const failed = await createPurgeClient({
      zoneId: 'z1',
      apiToken: 't',
      baseUrl: 'http://127.0.0.1:1',
      attempts: 1,
    }).purgeTags(['a'])
    await api.close()
    expect(done).toEqual({ purged: ['a', 'b'], hardened: [], failed: [] })
    expect(failed.failed[0]!.error).toBeInstanceOf(PurgeFailedError)
    expect(failed.failed[0]).toMatchObject({
      tag: 'a',
      reason: 'unavailable',
      error: { status: 0, retryable: true },
    })
    expect(Object.keys(client)).toEqual(['queued', 'purgeTags'])
  })
})

describe('InvalidPolicyError', () => {
  test('ruleIndex and field say where; the message has the family shape', () => {
    expectTypeOf<InvalidPolicyError['ruleIndex']>().toEqualTypeOf<number>()
    expectTypeOf<InvalidPolicyError['field']>().toEqualTypeOf<string>()
    const e = new InvalidPolicyError(-1, 'maxPathLength', 'an integer from 1 to 1048576', '0')
    expect(e.message).toBe('definePolicy: options.maxPathLength must be an integer from 1 to 1048576, got 0')
  })
})
