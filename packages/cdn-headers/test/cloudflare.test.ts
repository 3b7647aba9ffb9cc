import { TierkitError } from '@tierkit/contracts'
import type { CachePurgeParams } from 'cloudflare/resources/cache/cache'
import type { PhaseUpdateParams } from 'cloudflare/resources/rulesets/phases/phases'
import type { RulesetCreateParams } from 'cloudflare/resources/rulesets/rulesets'
import { afterAll, describe, expect, expectTypeOf, test } from 'vitest'
import { type CloudflareCacheRuleset, createPurgeClient, toCloudflareRuleset } from '../src/cloudflare.js'
import { CdnHeadersError, definePolicy, PurgeFailedError } from '../src/index.js'
import { expectInvalidArgument, listen, rejection, thrown } from './helpers.js'

const policy = definePolicy([
  { name: 'authenticated', path: '/api/me*', authenticated: true },
  { name: 'public api', path: '/api/public/*', maxAge: 600, cdnMaxAge: 600, staleWhileRevalidate: 60 },
  { name: 'home', path: '/', maxAge: 60, cdnMaxAge: 300 },
  { name: 'edge only', path: '/feed/*', maxAge: 0, cdnMaxAge: 120 },
])

describe('Cloudflare ruleset export', () => {
  const rs = toCloudflareRuleset(policy, { host: 'example.com' })

  test('type-checks against the cloudflare SDK (create and phase update params)', () => {
    const create: RulesetCreateParams = { account_id: 'acc', ...rs }
    const update: PhaseUpdateParams = { zone_id: 'zone', rules: rs.rules }
    expectTypeOf(rs.rules).toExtend<NonNullable<PhaseUpdateParams['rules']>>()
    expectTypeOf<CloudflareCacheRuleset>().toExtend<Omit<RulesetCreateParams, 'account_id' | 'zone_id'>>()
    expect(create.phase).toBe('http_request_cache_settings')
    expect(update.rules).toHaveLength(5)
  })

  test('rules in reverse table order, safety bypass last (later Cloudflare rules win)', () => {
    expect(rs.kind).toBe('zone')
    expect(rs.rules.map((r) => r.description)).toEqual([
      'edge only',
      'home',
      'public api',
      'authenticated: bypass',
      'safety: never cache requests with credentials',
    ])
    expect(rs.rules[2]).toEqual({
      action: 'set_cache_settings',
      action_parameters: {
        cache: true,
        edge_ttl: { mode: 'override_origin', default: 600 },
        browser_ttl: { mode: 'override_origin', default: 600 },
        respect_strong_etags: true,
        serve_stale: { disable_stale_while_updating: false },
      },
      expression:
        'http.host eq "example.com" and http.request.method in {"GET" "HEAD"} and http.request.uri.path strict wildcard "/api/public/*"',
      description: 'public api',
      enabled: true,
    })
    expect(rs.rules[1]!.expression).toContain('http.request.uri.path eq "/"')
    expect(rs.rules[0]!.action_parameters).toEqual({
      cache: true,
      edge_ttl: { mode: 'override_origin', default: 120 },
      browser_ttl: { mode: 'respect_origin' },
      respect_strong_etags: true,
    })
    expect(rs.rules[3]!.action_parameters).toEqual({ cache: false })
    expect(rs.rules[4]!.expression).toBe(
      'http.host eq "example.com" and (len(http.request.headers["authorization"]) gt 0 or len(http.request.cookies["session"]) gt 0 or len(http.request.cookies["sid"]) gt 0)',
    )
  })

  test('respect_origin mode leaves TTLs to the headers', () => {
    const r = toCloudflareRuleset(policy, { ttlMode: 'respect_origin' }).rules[2]!
    expect(r.action_parameters.edge_ttl).toEqual({ mode: 'respect_origin' })
    expect(r.expression.startsWith('http.request.method')).toBe(true)
  })

  test('bad arguments', () => {
    expectInvalidArgument(
      thrown(() => toCloudflareRuleset(null as never)),
      'toCloudflareRuleset: policy must be a CachePolicyTable, got null',
    )
    expectInvalidArgument(
      thrown(() => toCloudflareRuleset(policy, { sessionCookies: ['sid', 'a b'] })),
      'toCloudflareRuleset: options.sessionCookies[1] must be a cookie name (an RFC 9110 token), got "a b"',
    )
    expectInvalidArgument(
      thrown(() => toCloudflareRuleset(policy, { sessionCookies: 'sid' as never })),
      'toCloudflareRuleset: options.sessionCookies must be an array of cookie names, got "sid"',
    )
    expectInvalidArgument(
      thrown(() => toCloudflareRuleset(policy, { host: 'a" or true' })),
      'toCloudflareRuleset: options.host must be a hostname (letters, digits, dots and hyphens), got "a\\" or true"',
    )
    // before, an unknown mode was written into the rules as it was
    expectInvalidArgument(
      thrown(() => toCloudflareRuleset(policy, { ttlMode: 'bypass' as never })),
      'toCloudflareRuleset: options.ttlMode must be one of "override_origin", "respect_origin", got "bypass"',
    )
    expectInvalidArgument(
      thrown(() => toCloudflareRuleset(policy, { name: 5 as never })),
      'toCloudflareRuleset: options.name must be a string, got 5',
    )
    expectInvalidArgument(
      thrown(() => toCloudflareRuleset(policy, null as never)),
      'toCloudflareRuleset: options must be an object, got null',
    )
    expect(toCloudflareRuleset(policy).rules).toHaveLength(5)
  })
})

interface Recorded {
  method: string
  url: string
  headers: Record<string, string | string[] | undefined>
  body: string
}
const recorded: Recorded[] = []
let answer: { status: number; body: string } | 'drop' = {
  status: 200,
  body: '{"success":true,"errors":[],"result":{"id":"x"}}',
}
const api = await listen((req, res) => {
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => {
    recorded.push({
      method: req.method!,
      url: req.url!,
      headers: req.headers,
      body: Buffer.concat(chunks).toString(),
    })
    if (answer === 'drop') {
      req.socket.destroy()
      return
    }
    res.statusCode = answer.status
    res.setHeader('content-type', 'application/json')
    res.end(answer.body)
  })
})
afterAll(() => api.close())

describe('purge client', () => {
  const client = createPurgeClient({
    zoneId: 'zone123',
    apiToken: 'tok',
    baseUrl: `${api.url}/client/v4/`,
    batchSize: 2,
    attempts: 1,
  })

  test('POST /zones/{zone}/purge_cache with { tags }, bearer token, batched and de-duplicated', async () => {
    recorded.length = 0
    answer = { status: 200, body: '{"success":true,"errors":[],"result":{"id":"x"}}' }
    const r = await client.purgeTags(['a', 'b', 'a', 'c'])
    expect(r).toEqual({ purged: ['a', 'b', 'c'], hardened: [], failed: [] })
    expect(
      recorded.map((x) => [
        x.method,
        x.url,
        x.headers.authorization,
        x.headers['content-type'],
        JSON.parse(x.body),
      ]),
    ).toEqual([
      [
        'POST',
        '/client/v4/zones/zone123/purge_cache',
        'Bearer tok',
        'application/json',
        { tags: ['a', 'b'] },
      ],
      ['POST', '/client/v4/zones/zone123/purge_cache', 'Bearer tok', 'application/json', { tags: ['c'] }],
    ])
    // the body is what the SDK would send
    const sdkShape: CachePurgeParams = {
      zone_id: 'zone123',
      ...(JSON.parse(recorded[0]!.body) as { tags: string[] }),
    }
    expect(sdkShape.zone_id).toBe('zone123')
  })

  /** The error the report gives the first failed tag of a call. */
  const firstError = async (tags: string[]): Promise<PurgeFailedError | undefined> =>
    (await client.purgeTags(tags)).failed[0]?.error

  test('API errors become PurgeFailedError with status, tags and retryable', async () => {
    answer = { status: 400, body: '{"success":false,"errors":[{"code":1134,"message":"bad tag"}]}' }
    const e = await firstError(['x'])
    expect(e).toBeInstanceOf(PurgeFailedError)
    expect(e).toBeInstanceOf(CdnHeadersError)
    expect(e).toBeInstanceOf(TierkitError)
    expect(e).toMatchObject({
      name: 'PurgeFailedError',
      code: 'E_PURGE_FAILED',
      status: 400,
      tags: ['x'],
      retryable: false,
      // which call failed, and why
      message: 'purgeTags ["x"]: Cloudflare answered HTTP 400: bad tag',
    })
    answer = { status: 429, body: '{"success":false,"errors":[{"message":"rate limited"}]}' }
    expect(await firstError(['x'])).toMatchObject({ status: 429, retryable: true, reason: 'rate-limited' })
    answer = { status: 200, body: '{"success":false,"errors":[]}' }
    expect(await firstError(['x'])).toMatchObject({ status: 200, retryable: false, reason: 'rejected' })
    answer = 'drop'
    const dropped = await firstError(['x', 'y', 'z', 'w', 'v'])
    expect(dropped).toMatchObject({ status: 0, retryable: true, tags: ['x', 'y'], reason: 'unavailable' })
    expect((dropped as Error).message.startsWith('purgeTags ["x","y"]: the request failed: ')).toBe(true)
    expect((dropped as Error).cause).toBeInstanceOf(Error)
  })

  test('bad arguments are TierkitTypeErrors and send nothing', async () => {
    recorded.length = 0
    expectInvalidArgument(
      await rejection(client.purgeTags(['ok', 'a b'])),
      'PurgeClient.purgeTags: tags[1] must be a cache tag (1 to 1024 printable ASCII characters, no space or comma), got "a b"',
    )
    expectInvalidArgument(
      await rejection(client.purgeTags('a' as never)),
      'PurgeClient.purgeTags: tags must be an array of cache tags, got "a"',
    )
    expect(recorded).toHaveLength(0)
    expectInvalidArgument(
      thrown(() => createPurgeClient({ zoneId: '', apiToken: 't' })),
      'createPurgeClient: options.zoneId must be an alphanumeric zone id, got ""',
    )
    expectInvalidArgument(
      thrown(() => createPurgeClient({ zoneId: 'z', apiToken: '' })),
      'createPurgeClient: options.apiToken must be a non-empty string without line breaks, got ""',
    )
    // the token is a secret: the message never shows it
    const secret = thrown(() => createPurgeClient({ zoneId: 'z', apiToken: 'sEcReT\r\nX-Injected: 1' }))
    expectInvalidArgument(
      secret,
      'createPurgeClient: options.apiToken must be a non-empty string without line breaks, got a string with a line break',
    )
    expectInvalidArgument(
      thrown(() => createPurgeClient({ zoneId: 'z', apiToken: 't', batchSize: 0 })),
      'createPurgeClient: options.batchSize must be an integer from 1 to 100, got 0',
    )
    expectInvalidArgument(
      thrown(() => createPurgeClient({ zoneId: 'z', apiToken: 't', timeout: 1.5 })),
      'createPurgeClient: options.timeout must be a duration in ms, an integer from 1 to 2147483647, got 1.5',
    )
    // the 0.1 name is refused rather than ignored
    expectInvalidArgument(
      thrown(() => createPurgeClient({ zoneId: 'z', apiToken: 't', timeoutMs: 5000 } as never)),
      'createPurgeClient: options.timeoutMs must be left out (renamed options.timeout, in ms), got 5000',
    )
    expectInvalidArgument(
      thrown(() => createPurgeClient({ zoneId: 'z', apiToken: 't', baseUrl: 'ftp://x' })),
      'createPurgeClient: options.baseUrl must be an http: or https: URL, got "ftp://x"',
    )
    expectInvalidArgument(
      thrown(() => createPurgeClient({ zoneId: 'z', apiToken: 't', fetch: 'fetch' as never })),
      'createPurgeClient: options.fetch must be a function, got "fetch"',
    )
    expectInvalidArgument(
      thrown(() => createPurgeClient(null as never)),
      'createPurgeClient: options must be an object, got null',
    )
  })
})
