/**
 * The scenario matrix: a route table, an origin handler driven by a case registry, and the generated cases, each
 * with its declared intent. The intent is derived from the route's declared TTLs below (what the table MEANS),
 * never from the compiled headers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { type CachePolicyTable, computeETag, definePolicy, type RouteRule } from '../src/index.js'
import { cacheHeaders, checkPreconditions } from '../src/node.js'

export type RouteName = 'public' | 'feed' | 'ticker' | 'edge' | 'me' | 'none'
export type Method = 'GET' | 'HEAD' | 'POST'
export type Identity = 'anon' | 'authorization' | 'session-cookie' | 'set-cookie'
export type Status = 200 | 404 | 500
export type VaryMode = 'none' | 'same' | 'differs'
export type Cond = 'none' | 'inm-match' | 'inm-weak-list' | 'inm-miss' | 'ims-match'
export type Age = 'fresh' | 'late' | 'late-origin-error'
export type View = 'shared' | 'cdn'
export type ProbeOutcome = 'hit' | 'stale' | 'miss'

/** What each route of the table means, in seconds (0 = not cacheable for that view). */
export interface RouteMeaning {
  rule: boolean
  authenticated: boolean
  maxAge: number
  cdnMaxAge: number
  swr: number
  sie: number
  negativeMaxAge: number
}

export const ROUTES: Record<RouteName, RouteMeaning> = {
  public: {
    rule: true,
    authenticated: false,
    maxAge: 600,
    cdnMaxAge: 600,
    swr: 0,
    sie: 0,
    negativeMaxAge: 60,
  },
  feed: { rule: true, authenticated: false, maxAge: 3, cdnMaxAge: 3, swr: 600, sie: 600, negativeMaxAge: 0 },
  ticker: { rule: true, authenticated: false, maxAge: 3, cdnMaxAge: 3, swr: 1, sie: 600, negativeMaxAge: 0 },
  edge: { rule: true, authenticated: false, maxAge: 0, cdnMaxAge: 600, swr: 0, sie: 0, negativeMaxAge: 0 },
  me: { rule: true, authenticated: true, maxAge: 0, cdnMaxAge: 0, swr: 0, sie: 0, negativeMaxAge: 0 },
  none: { rule: false, authenticated: false, maxAge: 0, cdnMaxAge: 0, swr: 0, sie: 0, negativeMaxAge: 0 },
}

export const RULES: RouteRule[] = [
  { name: 'me', path: '/api/me/*', authenticated: true },
  {
    name: 'public',
    path: '/api/public/*',
    maxAge: 600,
    cdnMaxAge: 600,
    negativeMaxAge: 60,
    tags: ['public'],
  },
  {
    name: 'feed',
    path: '/api/feed/*',
    maxAge: 2,
    cdnMaxAge: 2,
    staleWhileRevalidate: 600,
    staleIfError: 600,
  },
  {
    name: 'ticker',
    path: '/api/ticker/*',
    maxAge: 2,
    cdnMaxAge: 2,
    staleWhileRevalidate: 1,
    staleIfError: 600,
  },
  { name: 'edge', path: '/api/edge/*', maxAge: 0, cdnMaxAge: 600, tags: ['edge'] },
]

export const policy: CachePolicyTable = definePolicy(RULES, {
  cdnHeaders: ['CDN-Cache-Control'],
  tagHeaders: ['Cache-Tag', 'Surrogate-Key'],
})

/**
 * Nominal age (seconds) of a late probe. The real nginx probes happen at >= 5.5 s and well under 60 s after the
 * prime. nginx keeps whole seconds: a 3 s TTL stays fresh for at least 2 s (room for a slow fresh probe), and the
 * 3 s TTL + 1 s stale window is over after 5 s whatever the sub-second phase of the prime.
 */
export const LATE_AGE = 5.5
export const LAST_MODIFIED = 'Thu, 01 Jan 2026 00:00:00 GMT'

export interface Case {
  id: number
  name: string
  route: RouteName
  method: Method
  identity: Identity
  status: Status
  vary: VaryMode
  cond: Cond
  age: Age
  path: string
  intent: Intent
}

export interface Intent {
  /** Per view: does a shared cache keep the primed response? */
  stored: Record<View, boolean>
  /** Per view: what the anonymous probe gets from the cache. */
  probe: Record<View, ProbeOutcome>
  /** Does the origin answer the probe with 304 (GET/HEAD, would be 2xx, validator matches)? */
  notModified: boolean
  /** Does the origin answer 412 (unsafe method whose If-None-Match matches the current ETag)? */
  preconditionFailed: boolean
  /** Per view: does the client get 304 through the cache (the probe happens after the origin may have failed)? */
  notModifiedVia: Record<View, boolean>
  /** Does the client get 412 through the cache? */
  preconditionFailedVia: boolean
}

function viewTtl(m: RouteMeaning, view: View, status: Status): number {
  if (!m.rule || m.authenticated) return 0
  if (status === 200) return view === 'shared' ? m.maxAge : m.cdnMaxAge
  if (status === 404) return m.negativeMaxAge
  return 0
}

/** The declared intent of a case, from the route's meaning only. */
export function intentOf(c: Omit<Case, 'intent' | 'id' | 'name' | 'path'>): Intent {
  const m = ROUTES[c.route]
  const safe = c.method === 'GET' || c.method === 'HEAD'
  const ageSeconds = c.age === 'fresh' ? 0 : LATE_AGE
  const error = c.age === 'late-origin-error'
  const stored = {} as Record<View, boolean>
  const probe = {} as Record<View, ProbeOutcome>
  for (const view of ['shared', 'cdn'] as const) {
    const ttl = viewTtl(m, view, c.status)
    stored[view] = safe && c.identity === 'anon' && ttl > 0
    let outcome: ProbeOutcome = 'miss'
    if (stored[view] && c.vary !== 'differs') {
      const swr = c.status === 200 ? m.swr : 0
      const sie = c.status === 200 ? m.sie : 0
      if (ageSeconds < ttl) outcome = 'hit'
      else if (ageSeconds < ttl + swr || (error && ageSeconds < ttl + sie)) outcome = 'stale'
    }
    probe[view] = outcome
  }
  const validatorMatches =
    c.cond === 'inm-match' || c.cond === 'inm-weak-list' || (c.cond === 'ims-match' && c.route !== 'none')
  const notModified = safe && validatorMatches && c.status === 200
  const inm = c.cond === 'inm-match' || c.cond === 'inm-weak-list'
  const preconditionFailed = !safe && inm && c.status === 200
  return {
    stored,
    probe,
    notModified,
    preconditionFailed,
    // through a cache, after the origin started failing, only a cached answer can still be a 304
    notModifiedVia: {
      shared: notModified && (!error || probe.shared !== 'miss'),
      cdn: notModified && (!error || probe.cdn !== 'miss'),
    },
    preconditionFailedVia: preconditionFailed && !error,
  }
}

/**
 * All cases. The storable corner (anonymous GET/HEAD 200 on a cacheable route) gets the full Vary x conditional
 * product; everywhere else (credentials, POST, 404/500, authenticated and rule-less routes) Vary and the
 * conditional headers are spread over the product with a multiplicative hash of the index.
 */
export function generateCases(): Case[] {
  const routes: RouteName[] = ['public', 'feed', 'ticker', 'edge', 'me', 'none']
  const identities: Identity[] = ['anon', 'authorization', 'session-cookie', 'set-cookie']
  const statuses: Status[] = [200, 404, 500]
  const ages: Age[] = ['fresh', 'late', 'late-origin-error']
  const methods: Method[] = ['GET', 'HEAD', 'POST']
  const varies: VaryMode[] = ['none', 'same', 'differs']
  const conds: Cond[] = ['none', 'inm-match', 'inm-weak-list', 'inm-miss', 'ims-match']
  const out: Case[] = []
  const add = (base: Omit<Case, 'intent' | 'id' | 'name' | 'path'>): void => {
    const id = out.length
    out.push({
      ...base,
      id,
      name: `#${id} ${base.route} ${base.method} ${base.identity} ${base.status} vary=${base.vary} cond=${base.cond} age=${base.age}`,
      path: `/api/${base.route}/case-${id}`,
      intent: intentOf(base),
    })
  }
  let k = 0
  for (const route of routes)
    for (const identity of identities)
      for (const status of statuses)
        for (const age of ages)
          for (const method of methods) {
            const full =
              identity === 'anon' &&
              status === 200 &&
              method !== 'POST' &&
              ROUTES[route].rule &&
              !ROUTES[route].authenticated
            if (full) {
              for (const vary of varies)
                for (const cond of conds) add({ route, method, identity, status, vary, cond, age })
              continue
            }
            const mix = Math.imul(++k, 0x9e3779b1) >>> 0
            add({
              route,
              method,
              identity,
              status,
              age,
              vary: varies[(mix >>> 8) % 3]!,
              cond: conds[(mix >>> 16) % 5]!,
            })
          }
  return out
}

/** Origin-side state of each case. */
export interface CaseState {
  c: Case
  failing: boolean
  hits: number
}

export const registry: Map<string, CaseState> = new Map()

/** The representation of a case for a given Accept-Language. */
export function bodyOf(c: Case, lang: string | undefined): string {
  return JSON.stringify({ case: c.id, lang: lang ?? null, items: [1, 2, 3] })
}

const middleware = cacheHeaders(policy)

/** The origin: the package's Node middleware in front of a handler that plays each case. */
export function originHandler(req: IncomingMessage, res: ServerResponse): void {
  middleware(req, res, () => {
    const path = (req.url ?? '/').split('?')[0]!
    const state = registry.get(path)
    if (state === undefined) {
      res.statusCode = 404
      res.end('unknown case')
      return
    }
    state.hits++
    const c = state.c
    if (state.failing) {
      // the origin is down: the connection drops (a cache turns this into 502), an RFC 5861 "error"
      req.socket.destroy()
      return
    }
    const lang = req.headers['accept-language'] as string | undefined
    const status = c.status
    const body = status === 200 ? bodyOf(c, lang) : `status ${status}`
    if (c.method === 'POST' && req.method === 'POST') {
      // an unsafe method checks its preconditions before acting
      if (!checkPreconditions(req, res, { etag: computeETag(bodyOf(c, lang)), status })) return
    }
    if (c.identity === 'set-cookie') res.setHeader('Set-Cookie', `sid=s${state.hits}; Path=/; HttpOnly`)
    if (c.vary !== 'none') res.setHeader('Vary', 'Accept-Language')
    if (status === 200 && c.route !== 'none') res.setHeader('Last-Modified', LAST_MODIFIED)
    res.setHeader('Content-Type', 'application/json')
    res.setHeader('Content-Location', path)
    res.statusCode = status
    res.end(body)
  })
}
