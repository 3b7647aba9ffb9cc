/**
 * The load generator: autocannon (as a library) against the demo with Zipf-distributed ids, then the design
 * notes' table Layer | Hit Rate | Avg Latency | p99 from the service's own measurements, and a JSON report.
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

/** The notes' table as Markdown. */
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

/** Runs the load and returns the report. */
export async function runLoad(o: LoadOptions): Promise<LoadReport> {
  const duration = o.duration ?? 20
  const connections = o.connections ?? 16
  const s = o.zipf ?? 1.2
  const rand = seeded(o.seed ?? 1)
  const productId = zipf(o.products ?? 100_000, s, rand)
  const userId = zipf(o.users ?? 10_000, s, rand)
  const cdnCounts = { hit: 0, miss: 0, other: 0 }
  const statuses: Record<string, number> = {}

  const request: autocannon.Request = {
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
      statuses[status] = (statuses[status] ?? 0) + 1
      const x = headers?.['x-cache-status'] ?? headers?.['X-Cache-Status']
      if (x !== undefined) {
        const v = String(x)
        if (v === 'HIT' || v === 'STALE' || v === 'UPDATING' || v === 'REVALIDATED') cdnCounts.hit++
        else if (v === 'MISS' || v === 'EXPIRED') cdnCounts.miss++
        else cdnCounts.other++
      }
    },
  }

  const per = Math.max(1, Math.floor(connections / o.targets.length))
  const warmup = o.warmup ?? 5
  /** One autocannon run against `url` (the callback form returns the instance, which `track` needs). */
  const fire = (url: string, seconds: number, track: boolean): Promise<autocannon.Result> =>
    new Promise((resolve, reject) => {
      const inst = autocannon(
        { url, connections: per, duration: seconds, requests: [request], timeout: 10 },
        (err: unknown, result: autocannon.Result) => (err ? reject(err) : resolve(result)),
      )
      if (track) autocannon.track(inst, { renderResultsTable: false, renderLatencyTable: false })
    })
  if (warmup > 0) await Promise.all(o.targets.map((url) => fire(url, warmup, false)))
  for (const k of Object.keys(statuses)) delete statuses[k]
  cdnCounts.hit = cdnCounts.miss = cdnCounts.other = 0
  const before = await Promise.all(o.origins.map(stats))
  const started = Date.now()
  const ticker = o.onTick
    ? setInterval(() => {
        void o.onTick?.(Date.now() - started)
      }, 250)
    : undefined
  const results = await Promise.all(
    o.targets.map((url, i) => fire(url, duration, o.progress !== false && i === 0)),
  )
  if (ticker) clearInterval(ticker)
  const after = await Promise.all(o.origins.map(stats))
  const requests = results.reduce((a, r) => a + r.requests.total, 0)
  const errors = results.reduce((a, r) => a + r.errors, 0)
  const timeouts = results.reduce((a, r) => a + r.timeouts, 0)
  const non2xx = results.reduce((a, r) => a + r.non2xx, 0)
  const lat = results[0]!.latency
  const layers = combineLayers(after, before)
  const circuit = after.flatMap((st) =>
    st.circuit
      .filter((c) => c.at >= started)
      .map((c) => ({
        atS: (c.at - started) / 1000,
        state: c.state,
        instance: st.instanceId,
        cache: c.cache,
      })),
  )
  return {
    startedAt: new Date(started).toISOString(),
    durationS: duration,
    connections: per * o.targets.length,
    zipf: s,
    targets: o.targets,
    requests,
    rps: results.reduce((a, r) => a + r.requests.average, 0),
    failed: { errors, timeouts, non2xx, total: errors + timeouts + non2xx },
    statuses,
    client: { avgMs: lat.average, p50Ms: lat.p50, p99Ms: lat.p99, maxMs: lat.max },
    cdn: cdnCounts.hit + cdnCounts.miss + cdnCounts.other > 0 ? cdnCounts : null,
    layers,
    circuit,
  }
}
