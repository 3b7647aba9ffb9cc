import type { CachePurgeParams } from 'cloudflare/resources/cache/cache'
import type { PhaseUpdateParams } from 'cloudflare/resources/rulesets/phases/phases'
import type { RulesetCreateParams } from 'cloudflare/resources/rulesets/rulesets'
import { afterAll, describe, expect, expectTypeOf, test } from 'vitest'
import { type CloudflareCacheRuleset, createPurgeClient, toCloudflareRuleset } from '../src/cloudflare.js'
import { definePolicy, PurgeFailedError } from '../src/index.js'
import { listen } from './helpers.js'

const policy = definePolicy([
  { name: 'authenticated', path: '/api/me*', authenticated: true },
  { name: 'public api', path: '/api/public/*', browserTtl: 600, edgeTtl: 600, staleWhileRevalidate: 60 },
  { name: 'home', path: '/', browserTtl: 60, edgeTtl: 300 },
  { name: 'edge only', path: '/feed/*', browserTtl: 0, edgeTtl: 120 },
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
    expect(() => toCloudflareRuleset(null as never)).toThrow(
      new TypeError('policy must be a CachePolicyTable'),
    )
    expect(() => toCloudflareRuleset(policy, { sessionCookies: ['a b'] })).toThrow(
      new TypeError('sessionCookies must be cookie names'),
    )
    expect(() => toCloudflareRuleset(policy, { host: 'a" or true' })).toThrow(
      new TypeError('host must be a hostname'),
    )
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
  })

  test('POST /zones/{zone}/purge_cache with { tags }, bearer token, batched and de-duplicated', async () => {
    recorded.length = 0
    answer = { status: 200, body: '{"success":true,"errors":[],"result":{"id":"x"}}' }
    const r = await client.purgeTags(['a', 'b', 'a', 'c'])
    expect(r).toEqual({ requests: 2 })
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

  test('API errors become PurgeFailedError with status, tags and retryable', async () => {
    answer = { status: 400, body: '{"success":false,"errors":[{"code":1134,"message":"bad tag"}]}' }
    const e = await client.purgeTags(['x']).catch((err: unknown) => err)
    expect(e).toBeInstanceOf(PurgeFailedError)
    expect(e).toMatchObject({ code: 'E_PURGE_FAILED', status: 400, tags: ['x'], retryable: false })
    expect((e as Error).message).toContain('bad tag')
    answer = { status: 429, body: '{"success":false,"errors":[{"message":"rate limited"}]}' }
    expect(await client.purgeTags(['x']).catch((err: unknown) => err)).toMatchObject({
      status: 429,
      retryable: true,
    })
    answer = { status: 200, body: '{"success":false,"errors":[]}' }
    expect(await client.purgeTags(['x']).catch((err: unknown) => err)).toMatchObject({
      status: 200,
      retryable: false,
    })
    answer = 'drop'
    expect(await client.purgeTags(['x']).catch((err: unknown) => err)).toMatchObject({
      status: 0,
      retryable: true,
    })
  })

  test('bad arguments are TypeErrors and send nothing', async () => {
    recorded.length = 0
    await expect(client.purgeTags([])).rejects.toThrow(
      new TypeError('tags must be a non-empty array of valid cache tags'),
    )
    await expect(client.purgeTags(['a b'])).rejects.toThrow(TypeError)
    expect(recorded).toHaveLength(0)
    expect(() => createPurgeClient({ zoneId: '', apiToken: 't' })).toThrow(
      new TypeError('zoneId must be an alphanumeric zone id'),
    )
    expect(() => createPurgeClient({ zoneId: 'z', apiToken: '' })).toThrow(
      new TypeError('apiToken must be a non-empty string'),
    )
    expect(() => createPurgeClient({ zoneId: 'z', apiToken: 't', batchSize: 0 })).toThrow(
      new TypeError('batchSize must be an integer in [1, 100]'),
    )
  })
})
