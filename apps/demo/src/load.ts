/**
 * The load generator: autocannon (as a library) against the demo with Zipf-distributed ids, then the per-layer
 * table Layer | Hit Rate | Avg Latency | p99 (docs/demo.md) from the service's own measurements, and a JSON report.
 */
import autocannon from 'autocannon'
import { userToken } from './db/seed.js'
import { seeded, zipf } from './zipf.js'

/** Options of {@link runLoad}. */
export interface LoadOptions {
  /** Target base URLs (the CDN, or one or more instances); connections are split between them. */
  targets: readonly string[]
  /** Instances whose `/api/stats` feed the table (the origins, also when the CDN is the target). */
  origins: readonly string[]
  /** Seconds. @default 20 */
  duration?: number
  /** Seconds of the same load before the measured run (excluded from the table: caches start cold). @default 5 */
  warmup?: number
  /** Concurrent connections in total. @default 16 */
  connections?: number
  /** Zipf exponent of the ids. @default 1.2 */
  zipf?: number
  /** Products / users in the database. @default 100000 / 10000 */
  products?: number
  users?: number
  /** Reads only (no PUT, no views): used by the chaos run. @default false */
  readOnly?: boolean
  /** PRNG seed. @default 1 */
  seed?: number
  /** Show autocannon's progress bar. @default true */
  progress?: boolean
  /** Called with the elapsed fraction once a second (the chaos schedule hooks in here). */
  onTick?: (elapsedMs: number) => void | Promise<void>
}

/** One row of the table. */
export interface LayerRow {
  layer: string
  hitRate: number | null
  avgMs: number | null
  p99Ms: number | null
  hits: number
  misses: number
}

/** The load report. */
export interface LoadReport {
  startedAt: string
  durationS: number
  connections: number
  zipf: number
  targets: readonly string[]
  requests: number
  rps: number
  failed: { errors: number; timeouts: number; non2xx: number; total: number }
  statuses: Record<string, number>
  client: { avgMs: number; p50Ms: number; p99Ms: number; maxMs: number }
  cdn: { hit: number; miss: number; other: number } | null
  layers: LayerRow[]
  circuit: Array<{ atS: number; state: string; instance: string; cache: string }>
}

type Stats = {
  instanceId: string
  now: number
  layers: Record<
    string,
    { hits: number; misses: number; hitRate: number | null; avgMs: number | null; p99Ms: number | null }
  >
  circuit: Array<{ at: number; state: string; cache: string }>
}

async function stats(origin: string): Promise<Stats> {
  const r = await fetch(`${origin}/api/stats`)
  return (await r.json()) as Stats
}

/** Sums the layers of several instances (hit rates from the sums, latencies weighted by lookups, p99 the max). */
export function combineLayers(all: readonly Stats[], before: readonly Stats[]): LayerRow[] {
  const names = Object.keys(all[0]?.layers ?? {})
  return names.map((layer) => {
    let hits = 0
    let misses = 0
    let wsum = 0
    let w = 0
    let p99: number | null = null
    all.forEach((s, i) => {
      const l = s.layers[layer]!
      const b = before[i]?.layers[layer]
      const dh = l.hits - (b?.hits ?? 0)
      const dm = l.misses - (b?.misses ?? 0)
      hits += dh
      misses += dm
      if (l.avgMs !== null) {
        const weight = Math.max(1, dh + dm)
        wsum += l.avgMs * weight
        w += weight
      }
      if (l.p99Ms !== null) p99 = Math.max(p99 ?? 0, l.p99Ms)
    })
    return {
      layer,
      hitRate: hits + misses > 0 ? hits / (hits + misses) : null,
      avgMs: w > 0 ? wsum / w : null,
      p99Ms: p99,
      hits,
      misses,
    }
  })
}

const LABELS: Record<string, string> = { cdn: 'CDN (nginx)', l1: 'L1', l2: 'L2 (Redis)', db: 'DB' }

/** The per-layer table (Layer | Hit Rate | Avg Latency | p99) as Markdown. */
export function formatTable(rows: readonly LayerRow[]): string {
  const fmtMs = (v: number | null): string =>
    v === null ? '—' : v < 1 ? `${v.toFixed(3)} ms` : `${v.toFixed(2)} ms`
  const lines = [
    '| Layer | Hit Rate | Avg Latency | p99 |',
    '| --- | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${LABELS[r.layer] ?? r.layer} | ${r.layer === 'db' || r.hitRate === null ? '—' : `${(r.hitRate * 100).toFixed(1)}%`} | ${fmtMs(r.avgMs)} | ${fmtMs(r.p99Ms)} |`,
    ),
  ]
  return lines.join('\n')
}

/** What the responses of the measured run were (reset after the warm-up). */
interface Tally {
  statuses: Record<string, number>
  cdn: { hit: number; miss: number; other: number }
}

function resetTally(t: Tally): void {
  for (const k of Object.keys(t.statuses)) delete t.statuses[k]
  t.cdn.hit = t.cdn.miss = t.cdn.other = 0
}

/**
 * The request mix: 85% single product reads, 5% batches of 10, 7% authenticated user reads, 2.5% views and 0.5%
 * updates (with `readOnly`, user reads instead of the writes); ids Zipf-distributed.
 */
function requestMix(o: LoadOptions, rand: () => number, tally: Tally): autocannon.Request {
  const productId = zipf(o.products ?? 100_000, o.zipf ?? 1.2, rand)
  const userId = zipf(o.users ?? 10_000, o.zipf ?? 1.2, rand)
  return {
    setupRequest(req) {
      const r = rand()
      req.method = 'GET'
      req.body = undefined
      req.headers = {}
      if (r < 0.85) req.path = `/api/public/products/${productId()}`
      else if (r < 0.9)
        req.path = `/api/public/products?ids=${Array.from({ length: 10 }, productId).join(',')}`
      else if (r < 0.97 || o.readOnly) {
        const id = userId()
        req.path = `/api/users/${id}`
        req.headers = { authorization: `Bearer ${userToken(id)}` }
      } else if (r < 0.995) {
        req.method = 'POST'
        req.path = `/api/products/${productId()}/views`
      } else {
        req.method = 'PUT'
        req.path = `/api/products/${productId()}`
        req.headers = { 'content-type': 'application/json' }
        req.body = JSON.stringify({ stock: Math.floor(rand() * 1000) })
      }
      return req
    },
    onResponse(status, _body, _ctx, headers) {
      tally.statuses[status] = (tally.statuses[status] ?? 0) + 1
      const x = headers?.['x-cache-status'] ?? headers?.['X-Cache-Status']
      if (x === undefined) return
      const v = String(x)
      if (v === 'HIT' || v === 'STALE' || v === 'UPDATING' || v === 'REVALIDATED') tally.cdn.hit++
      else if (v === 'MISS' || v === 'EXPIRED') tally.cdn.miss++
      else tally.cdn.other++
    },
  }
}

/** One autocannon run against `url` (the callback form returns the instance, which `track` needs). */
function fire(
  url: string,
  connections: number,
  seconds: number,
  request: autocannon.Request,
  track: boolean,
): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    const inst = autocannon(
      { url, connections, duration: seconds, requests: [request], timeout: 10 },
      (err: unknown, result: autocannon.Result) => (err ? reject(err) : resolve(result)),
    )
    if (track) autocannon.track(inst, { renderResultsTable: false, renderLatencyTable: false })
  })
}

/** The circuit transitions of every instance since `started`. */
function circuitSince(after: readonly Stats[], started: number): LoadReport['circuit'] {
  return after.flatMap((st) =>
    st.circuit
      .filter((c) => c.at >= started)
      .map((c) => ({
        atS: (c.at - started) / 1000,
        state: c.state,
        instance: st.instanceId,
        cache: c.cache,
      })),
  )
}

/** What the measured run gave. */
interface Measured {
  results: readonly autocannon.Result[]
  before: readonly Stats[]
  after: readonly Stats[]
  started: number
  perTarget: number
  tally: Tally
}

function report(o: LoadOptions, m: Measured): LoadReport {
  const { results, tally } = m
  const sum = (f: (r: autocannon.Result) => number): number => results.reduce((a, r) => a + f(r), 0)
  const errors = sum((r) => r.errors)
  const timeouts = sum((r) => r.timeouts)
  const non2xx = sum((r) => r.non2xx)
  const lat = results[0]!.latency
  const cdn = tally.cdn
  return {
    startedAt: new Date(m.started).toISOString(),
    durationS: o.duration ?? 20,
    connections: m.perTarget * o.targets.length,
    zipf: o.zipf ?? 1.2,
    targets: o.targets,
    requests: sum((r) => r.requests.total),
    rps: sum((r) => r.requests.average),
    failed: { errors, timeouts, non2xx, total: errors + timeouts + non2xx },
    statuses: tally.statuses,
    client: { avgMs: lat.average, p50Ms: lat.p50, p99Ms: lat.p99, maxMs: lat.max },
    cdn: cdn.hit + cdn.miss + cdn.other > 0 ? cdn : null,
    layers: combineLayers(m.after, m.before),
    circuit: circuitSince(m.after, m.started),
  }
}

/** Runs the load and returns the report. */
export async function runLoad(o: LoadOptions): Promise<LoadReport> {
  const duration = o.duration ?? 20
  const connections = o.connections ?? 16
  const tally: Tally = { statuses: {}, cdn: { hit: 0, miss: 0, other: 0 } }
  const request = requestMix(o, seeded(o.seed ?? 1), tally)
  const perTarget = Math.max(1, Math.floor(connections / o.targets.length))
  const warmup = o.warmup ?? 5
  if (warmup > 0) await Promise.all(o.targets.map((url) => fire(url, perTarget, warmup, request, false)))
  resetTally(tally)
  const before = await Promise.all(o.origins.map(stats))
  const started = Date.now()
  const ticker = o.onTick
    ? setInterval(() => {
        void o.onTick?.(Date.now() - started)
      }, 250)
    : undefined
  const results = await Promise.all(
    o.targets.map((url, i) => fire(url, perTarget, duration, request, o.progress !== false && i === 0)),
  )
  if (ticker) clearInterval(ticker)
  const after = await Promise.all(o.origins.map(stats))
  return report(o, { results, before, after, started, perTarget, tally })
}
