/**
 * The scenario matrix: >= 300 generated cases, each with a declared intent, judged by http-cache-semantics 4.3 and
 * by a real nginx (two of them: one honouring Cache-Control like a generic shared cache, one honouring
 * CDN-Cache-Control like a CDN). Both judges must agree with the intent.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { type NginxServer, startNginx } from '@tierkit/testkit/nginx'
import CachePolicy from 'http-cache-semantics'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { flatHeaders, type HttpAnswer, listen, pool, request } from './helpers.js'
import {
  type Case,
  generateCases,
  LAST_MODIFIED,
  LATE_AGE,
  originHandler,
  type ProbeOutcome,
  registry,
  type View,
} from './scenarios.js'

const cases = generateCases()
const VIEWS: View[] = ['shared', 'cdn']

interface Observed {
  direct200?: HttpAnswer
  directPrime?: HttpAnswer
  directProbe?: HttpAnswer
  prime: Partial<Record<View, HttpAnswer>>
  probe: Partial<Record<View, HttpAnswer>>
}
const observed = new Map<number, Observed>()

function primeHeaders(c: Case): Record<string, string> {
  const h: Record<string, string> = { 'accept-language': 'en' }
  if (c.identity === 'authorization') h.authorization = 'Bearer user-1'
  if (c.identity === 'session-cookie') h.cookie = 'theme=dark; sid=user-1'
  return h
}
const probeLang = (c: Case): string => (c.vary === 'differs' ? 'fr' : 'en')

function condHeaders(c: Case, etag: string | undefined): Record<string, string> {
  const tag = etag ?? '"no-etag"'
  switch (c.cond) {
    case 'inm-match':
      return { 'if-none-match': tag }
    case 'inm-weak-list':
      return { 'if-none-match': `"zzz", W/${tag.replace(/^W\//, '')}, "a,b"` }
    case 'inm-miss':
      return { 'if-none-match': '"nope", W/"nope2"' }
    case 'ims-match':
      return { 'if-modified-since': LAST_MODIFIED }
    default:
      return {}
  }
}

function probeHeaders(c: Case, obs: Observed): Record<string, string> {
  return { 'accept-language': probeLang(c), ...condHeaders(c, obs.direct200?.headers.etag) }
}

let origin: Awaited<ReturnType<typeof listen>>
const nginx = {} as Record<View, NginxServer>

beforeAll(async () => {
  origin = await listen(originHandler)
  const common = { bypassAuthorization: false, cacheSetCookie: true } as const
  ;[nginx.shared, nginx.cdn] = await Promise.all([
    startNginx({ upstream: origin.port, config: { honour: 'cache-control', ...common } }),
    startNginx({ upstream: origin.port, config: { honour: 'cdn-cache-control', ...common } }),
  ])
  for (const c of cases) {
    registry.set(c.path, { c, failing: false, hits: 0 })
    observed.set(c.id, { prime: {}, probe: {} })
  }
  // 1. the origin alone: the 200 a client would get, the prime's answer, and the probe's answer
  await pool(cases, 8, async (c) => {
    const o = observed.get(c.id)!
    o.direct200 = await request(origin.url, c.path, { headers: { 'accept-language': probeLang(c) } })
    o.directPrime = await request(origin.url, c.path, { method: c.method, headers: primeHeaders(c) })
    o.directProbe = await request(origin.url, c.path, { method: c.method, headers: probeHeaders(c, o) })
  })
  // 2. prime through both caches: late cases first, then fresh cases (prime, probe at once)
  const late = cases.filter((c) => c.age !== 'fresh')
  const fresh = cases.filter((c) => c.age === 'fresh')
  await pool(late, 8, async (c) => {
    const o = observed.get(c.id)!
    for (const v of VIEWS)
      o.prime[v] = await request(nginx[v].url, c.path, { method: c.method, headers: primeHeaders(c) })
  })
  const lastPrime = Date.now()
  await pool(fresh, 8, async (c) => {
    const o = observed.get(c.id)!
    for (const v of VIEWS) {
      o.prime[v] = await request(nginx[v].url, c.path, { method: c.method, headers: primeHeaders(c) })
      o.probe[v] = await request(nginx[v].url, c.path, { method: c.method, headers: probeHeaders(c, o) })
    }
  })
  // 3. let short TTLs (3 s) and the 1 s stale window expire, then take the origin down where the case says so
  const wait = lastPrime + Math.ceil(LATE_AGE * 1000) - Date.now()
  if (wait > 0) await sleep(wait)
  for (const c of late) if (c.age === 'late-origin-error') registry.get(c.path)!.failing = true
  await pool(late, 8, async (c) => {
    const o = observed.get(c.id)!
    for (const v of VIEWS)
      o.probe[v] = await request(nginx[v].url, c.path, { method: c.method, headers: probeHeaders(c, o) })
  })
}, 110_000)

afterAll(async () => {
  await Promise.all(VIEWS.map((v) => nginx[v]?.stop()))
  await origin?.close()
})

/** http-cache-semantics with a controllable clock. */
class ClockedPolicy extends CachePolicy {
  static clock = 0
  override now(): number {
    return ClockedPolicy.clock
  }
}

/** RFC 9213: a cache that a targeted field addresses uses it instead of Cache-Control. */
function forView(headers: Record<string, string>, view: View): Record<string, string> {
  const h = { ...headers }
  if (view === 'cdn' && h['cdn-cache-control'] !== undefined) h['cache-control'] = h['cdn-cache-control']
  return h
}

function hcsJudge(c: Case, o: Observed, view: View): { stored: boolean; probe: ProbeOutcome } {
  const t0 = 1_800_000_000_000
  ClockedPolicy.clock = t0
  const host = 'origin.test'
  const prime = o.directPrime!
  const policy = new ClockedPolicy(
    { method: c.method, url: c.path, headers: { host, ...primeHeaders(c) } },
    { status: prime.status, headers: forView(flatHeaders(prime.headers), view) },
    { shared: true },
  )
  const stored = policy.storable() && policy.timeToLive() > 0
  const probeReq = { method: c.method, url: c.path, headers: { host, 'accept-language': probeLang(c) } }
  // a cache first selects the stored responses the request matches (URL, method, Vary); only those can be served,
  // fresh or stale (revalidatedPolicy's stale-if-error path does not look at Vary, so select first)
  const selected = policy.evaluateRequest(probeReq).response !== undefined
  ClockedPolicy.clock = t0 + (c.age === 'fresh' ? 0 : LATE_AGE * 1000)
  if (!stored || !selected) return { stored, probe: 'miss' }
  const r = policy.evaluateRequest(probeReq)
  if (r.response && !r.revalidation) return { stored, probe: 'hit' }
  if (r.response && r.revalidation && !r.revalidation.synchronous) return { stored, probe: 'stale' }
  if (c.age === 'late-origin-error') {
    const rp = policy.revalidatedPolicy(probeReq, { status: 502, headers: {} })
    if (rp.matches && !rp.modified && rp.policy === policy) return { stored, probe: 'stale' }
  }
  return { stored, probe: 'miss' }
}

function nginxOutcome(a: HttpAnswer): ProbeOutcome {
  const s = String(a.headers['x-cache-status'] ?? '')
  if (s === 'HIT') return 'hit'
  if (s === 'STALE' || s === 'UPDATING') return 'stale'
  return 'miss'
}

const CACHING_FIELDS = [
  'etag',
  'cache-control',
  'cdn-cache-control',
  'vary',
  'content-location',
  'cache-tag',
  'surrogate-key',
  'expires',
]

function cachingFields(h: HttpAnswer['headers']): Record<string, unknown> {
  return Object.fromEntries(CACHING_FIELDS.map((k) => [k, h[k]]))
}

describe('scenario matrix', () => {
  test('has at least 300 cases covering every value of every dimension', () => {
    expect(cases.length).toBeGreaterThanOrEqual(300)
    for (const dim of ['route', 'method', 'identity', 'status', 'vary', 'cond', 'age'] as const) {
      expect(new Set(cases.map((c) => c[dim])).size, dim).toBeGreaterThanOrEqual(3)
    }
    // the intents are not degenerate: every outcome occurs in both views
    for (const v of VIEWS) {
      expect(new Set(cases.map((c) => c.intent.probe[v]))).toEqual(new Set(['hit', 'stale', 'miss']))
    }
    expect(cases.some((c) => c.intent.notModified)).toBe(true)
    expect(cases.some((c) => c.intent.preconditionFailed)).toBe(true)
  })

  test.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const o = observed.get(c.id)!
    const verdicts: Record<string, unknown> = {}
    const expected: Record<string, unknown> = {}
    for (const v of VIEWS) {
      const hcs = hcsJudge(c, o, v)
      verdicts[`hcs.${v}.stored`] = hcs.stored
      expected[`hcs.${v}.stored`] = c.intent.stored[v]
      verdicts[`hcs.${v}.probe`] = hcs.probe
      expected[`hcs.${v}.probe`] = c.intent.probe[v]
      const probe = o.probe[v]!
      verdicts[`nginx.${v}.probe`] = nginxOutcome(probe)
      expected[`nginx.${v}.probe`] = c.intent.probe[v]
      verdicts[`nginx.${v}.304`] = probe.status === 304
      expected[`nginx.${v}.304`] = c.intent.notModifiedVia[v]
      verdicts[`nginx.${v}.412`] = probe.status === 412
      expected[`nginx.${v}.412`] = c.intent.preconditionFailedVia
      if (c.age === 'fresh' && c.vary !== 'differs') {
        // stored-and-fresh right after the prime is visible as a HIT
        verdicts[`nginx.${v}.stored`] = nginxOutcome(probe) === 'hit'
        expected[`nginx.${v}.stored`] = c.intent.stored[v]
      }
    }
    // the origin itself (what http-cache-semantics revalidates against)
    const dp = o.directProbe!
    verdicts['origin.304'] = dp.status === 304
    expected['origin.304'] = c.intent.notModified
    verdicts['origin.412'] = dp.status === 412
    expected['origin.412'] = c.intent.preconditionFailed
    expect(verdicts).toEqual(expected)

    if (dp.status === 304) {
      const d200 = o.direct200!
      expect(dp.body).toBe('')
      expect(cachingFields(dp.headers)).toEqual(cachingFields(d200.headers))
      expect(dp.headers.date).toBeDefined()
      expect(dp.headers['content-type']).toBeUndefined()
      // http-cache-semantics accepts the 304 as a revalidation of the stored 200 and keeps its headers
      ClockedPolicy.clock = 1_800_000_000_000
      const req = {
        method: c.method,
        url: c.path,
        headers: { host: 'origin.test', 'accept-language': probeLang(c) },
      }
      const stored = new ClockedPolicy(req, { status: 200, headers: flatHeaders(d200.headers) })
      const rv = stored.revalidatedPolicy(req, { status: 304, headers: flatHeaders(dp.headers) })
      expect(rv.modified).toBe(false)
      expect(rv.matches).toBe(true)
      expect(rv.policy.responseHeaders()['cache-control']).toBe(d200.headers['cache-control'])
    }
    for (const v of VIEWS) {
      const p = o.probe[v]!
      if (p.status === 304) {
        expect(p.body).toBe('')
        expect(p.headers.etag).toBe(o.direct200!.headers.etag)
        expect(p.headers['cache-control']).toBe(o.direct200!.headers['cache-control'])
      }
    }
  })
})
