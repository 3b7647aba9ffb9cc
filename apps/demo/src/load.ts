/**
 * The load generator: autocannon (as a library) against the demo with Zipf-distributed ids (one seeded stream, so
 * runs of the same length send the same requests), and a report of one run from the service's own measurements
 * (`/api/stats` before and after), Redis' own (`INFO commandstats`) and the client's. load-table.ts compares a
 * cached run with the no-cache baseline and prints the table.
 */
import autocannon from 'autocannon'
import { CATEGORIES, userToken } from './db/seed.js'
import { type RedisClock, type RedisTime, redisTime } from './load-redis.js'
import { seeded, zipf } from './zipf.js'

/** Options of {@link runLoad}. */
export interface LoadOptions {
  /** Target base URLs (the CDN, or one or more instances); connections are split between them. */
  targets: readonly string[]
  /** Instances whose `/api/stats` feed the table (the origins, also when the CDN is the target). */
  origins: readonly string[]
  /** Seconds (when `requests` is not set). @default 20 */
  duration?: number
  /** Seconds of the same load before the measured run (excluded from the table: caches start cold). @default 5 */
  warmup?: number
  /**
   * Requests of the measured run (instead of `duration`): the same count of the same seeded stream in every run,
   * which is what makes the no-cache baseline comparable. @default none (duration)
   */
  requests?: number
  /** Requests of the warm-up, with `requests`. @default requests / 4 */
  warmupRequests?: number
  /** The Redis the instances use: its GET/MGET time (`INFO commandstats`) is the L2 row's latency. @default none */
  redis?: RedisClock
  /** Reset Redis' statistics before the measured run (a redis-server of this run alone): its p99 becomes known. */
  resetRedisStats?: boolean
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
  /** The run's average of the timed lookups (what the app waited, for l2 too), ms. */
  avgMs: number | null
  /** p99 since the instance started, ms. */
  p99Ms: number | null
  hits: number
  misses: number
}

/** A running sum of client latencies. */
export interface LatencySum {
  count: number
  sumMs: number
}

/** The category listings of a run, at the client. */
export interface ListingSum extends LatencySum {
  /** The largest latency, ms. */
  maxMs: number
  /** The 99th percentile of their latencies, ms (`null`: none in the run). */
  p99Ms: number | null
  /** Answers other than 200. */
  non200: number
  /** Answers nginx served from its cache (HIT, STALE, UPDATING, REVALIDATED). */
  cdnHits: number
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
  /** Client-side latency (autocannon): averages weighted by requests, the largest p50/p99/max of the targets. */
  client: { avgMs: number; p50Ms: number; p99Ms: number; maxMs: number }
  cdn: { hit: number; miss: number; other: number } | null
  /** Client-side latency of the answers nginx served from its cache (HIT) and of the others, when through the CDN. */
  clientByCdn: { hit: LatencySum; other: LatencySum } | null
  /**
   * The category listings of the mix (`GET /api/categories/:category/products`): their client latency and
   * statuses, and how many nginx answered from its cache (`cdnHits`, through the CDN).
   */
  listing: ListingSum

  layers: LayerRow[]
  circuit: Array<{ atS: number; state: string; instance: string; cache: string }>
  /** Instances behind the load (their `/api/stats` summed). */
  instances: number
  /** CPUs of the machine (os.availableParallelism of the instances). */
  cpus: number | null
  /** The database and the simulated cost of each of its reads (DB_LATENCY_MS; 0: the real query alone). */
  db: { kind: string; latencyMs: number }
  /** Read caches on or off (`DEMO_CACHE`). */
  cache: string
  /** Mean event-loop delay of the instances in the run (the queueing an awaited reply pays), ms. */
  eventLoop: { meanMs: number | null }
  /** GET/MGET time inside Redis in the run, when the Redis was given. */
  redisTime: RedisTime | null
}

type Stats = {
  instanceId: string
  now: number
  database: string
  dbLatencyMs: number
  cache: string
  cpus: number
  eventLoop: { samples: number; delaySumMs: number }
  layers: Record<
    string,
    {
      hits: number
      misses: number
      hitRate: number | null
      avgMs: number | null
      p99Ms: number | null
      latencyCount: number
      latencySumMs: number
    }
  >
  circuit: Array<{ at: number; state: string; cache: string }>
}

async function stats(origin: string): Promise<Stats> {
  const r = await fetch(`${origin}/api/stats`)
  return (await r.json()) as Stats
}

/**
 * Sums the layers of several instances over the run (`before` → `after`): hit rates from the summed counts, the
 * average from the summed timed samples of the run, p99 the largest since start.
 */
export function combineLayers(all: readonly Stats[], before: readonly Stats[]): LayerRow[] {
  const names = Object.keys(all[0]?.layers ?? {})
  return names.map((layer) => {
    let hits = 0
    let misses = 0
    let sum = 0
    let n = 0
    let p99: number | null = null
    all.forEach((s, i) => {
      const l = s.layers[layer]!
      const b = before[i]?.layers[layer]
      hits += l.hits - (b?.hits ?? 0)
      misses += l.misses - (b?.misses ?? 0)
      sum += l.latencySumMs - (b?.latencySumMs ?? 0)
      n += l.latencyCount - (b?.latencyCount ?? 0)
      if (l.p99Ms !== null) p99 = Math.max(p99 ?? 0, l.p99Ms)
    })
    return {
      layer,
      hitRate: hits + misses > 0 ? hits / (hits + misses) : null,
      avgMs: n > 0 ? sum / n : null,
      p99Ms: p99,
      hits,
      misses,
    }
  })
}

/** The instances' mean event-loop delay over the run. */
function eventLoopSince(after: readonly Stats[], before: readonly Stats[]): number | null {
  let sum = 0
  let n = 0
  after.forEach((s, i) => {
    sum += s.eventLoop.delaySumMs - (before[i]?.eventLoop.delaySumMs ?? 0)
    n += s.eventLoop.samples - (before[i]?.eventLoop.samples ?? 0)
  })
  return n > 0 ? sum / n : null
}

/** What the responses of the measured run were (reset after the warm-up). */
interface Tally {
  statuses: Record<string, number>
  cdn: { hit: number; miss: number; other: number }
  /** The X-Cache-Status of the response being completed (autocannon reports its latency right after). */
  last: string | undefined
  /** Whether the response being completed is a category listing's. */
  lastListing: boolean
  clientByCdn: { hit: LatencySum; other: LatencySum }
  listing: ListingSum
  /** The listings' latencies (for their p99). */
  listingMs: number[]
}

function newTally(): Tally {
  const sum = (): LatencySum => ({ count: 0, sumMs: 0 })
  return {
    statuses: {},
    cdn: { hit: 0, miss: 0, other: 0 },
    last: undefined,
    lastListing: false,
    clientByCdn: { hit: sum(), other: sum() },
    listing: { count: 0, sumMs: 0, maxMs: 0, p99Ms: null, non200: 0, cdnHits: 0 },
    listingMs: [],
  }
}

function resetTally(t: Tally): void {
  for (const k of Object.keys(t.statuses)) delete t.statuses[k]
  t.cdn.hit = t.cdn.miss = t.cdn.other = 0
  for (const s of [t.clientByCdn.hit, t.clientByCdn.other]) s.count = s.sumMs = 0
  Object.assign(t.listing, { count: 0, sumMs: 0, maxMs: 0, p99Ms: null, non200: 0, cdnHits: 0 })
  t.listingMs.length = 0
}

/** A response's client latency, by whether nginx answered it from its cache. */
function onLatency(t: Tally, ms: number): void {
  const into = t.last === 'HIT' ? t.clientByCdn.hit : t.clientByCdn.other
  into.count++
  into.sumMs += ms
  if (t.lastListing) {
    t.listing.count++
    t.listing.sumMs += ms
    t.listing.maxMs = Math.max(t.listing.maxMs, ms)
    t.listingMs.push(ms)
  }
  t.last = undefined
  t.lastListing = false
}

/** The per-connection context of autocannon: what the request in flight on it is. */
interface RequestContext {
  listing?: boolean
}

const CDN_HIT: ReadonlySet<string> = new Set(['HIT', 'STALE', 'UPDATING', 'REVALIDATED'])

/** Counts a response (its status, its X-Cache-Status) and notes what its latency, reported next, belongs to. */
function onAnswer(tally: Tally, status: number, ctx: RequestContext, cache: string | undefined): void {
  tally.statuses[status] = (tally.statuses[status] ?? 0) + 1
  tally.last = cache
  tally.lastListing = ctx.listing === true
  if (tally.lastListing) {
    if (status !== 200) tally.listing.non200++
    if (cache !== undefined && CDN_HIT.has(cache)) tally.listing.cdnHits++
  }
  if (cache === undefined) return
  if (CDN_HIT.has(cache)) tally.cdn.hit++
  else if (cache === 'MISS' || cache === 'EXPIRED') tally.cdn.miss++
  else tally.cdn.other++
}

/**
 * The request mix: 83% single product reads, 2% category listings (the category Zipf-distributed too), 5% batches
 * of 10, 7% authenticated user reads, 2.5% views and 0.5% updates (with `readOnly`, user reads instead of the
 * writes); ids Zipf-distributed.
 */
function requestMix(o: LoadOptions, rand: () => number, tally: Tally): autocannon.Request {
  const productId = zipf(o.products ?? 100_000, o.zipf ?? 1.2, rand)
  const userId = zipf(o.users ?? 10_000, o.zipf ?? 1.2, rand)
  const categoryIndex = zipf(CATEGORIES.length, o.zipf ?? 1.2, rand)
  return {
    setupRequest(req, context) {
      const r = rand()
      const ctx = context as RequestContext
      ctx.listing = false
      req.method = 'GET'
      req.body = undefined
      req.headers = {}
      if (r < 0.83) req.path = `/api/public/products/${productId()}`
      else if (r < 0.85) {
        ctx.listing = true
        req.path = `/api/categories/${CATEGORIES[categoryIndex() - 1]}/products`
      } else if (r < 0.9)
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
    onResponse(status, _body, context, headers) {
      const x = headers?.['x-cache-status'] ?? headers?.['X-Cache-Status']
      onAnswer(tally, status, context as RequestContext, x === undefined ? undefined : String(x))
    },
  }
}

/** How long a run lasts: seconds, or a count of requests. */
type Span = { seconds: number } | { amount: number }

/** One autocannon run against `url` (the callback form returns the instance, which `track` needs). */
function fire(
  url: string,
  connections: number,
  span: Span,
  request: autocannon.Request,
  track: boolean,
  tally: Tally,
): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    const length = 'amount' in span ? { amount: span.amount } : { duration: span.seconds }
    const inst = autocannon(
      { url, connections, ...length, requests: [request], timeout: 10 },
      (err: unknown, result: autocannon.Result) => (err ? reject(err) : resolve(result)),
    )
    inst.on('response', (_client: unknown, _status: number, _bytes: number, ms: number) =>
      onLatency(tally, ms),
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
  redisTime: RedisTime | null
}

/** The 99th percentile (nearest rank) of `values`, `null` for none. */
export function p99(values: readonly number[]): number | null {
  if (values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)]!
}

/** Client latency over several targets: averages weighted by requests, the largest percentiles. */
function clientLatency(results: readonly autocannon.Result[]): LoadReport['client'] {
  let n = 0
  let sum = 0
  const out = { avgMs: 0, p50Ms: 0, p99Ms: 0, maxMs: 0 }
  for (const r of results) {
    n += r.requests.total
    sum += r.latency.average * r.requests.total
    out.p50Ms = Math.max(out.p50Ms, r.latency.p50)
    out.p99Ms = Math.max(out.p99Ms, r.latency.p99)
    out.maxMs = Math.max(out.maxMs, r.latency.max)
  }
  out.avgMs = n > 0 ? sum / n : 0
  return out
}

function report(o: LoadOptions, m: Measured): LoadReport {
  const { results, tally } = m
  const sum = (f: (r: autocannon.Result) => number): number => results.reduce((a, r) => a + f(r), 0)
  const errors = sum((r) => r.errors)
  const timeouts = sum((r) => r.timeouts)
  const non2xx = sum((r) => r.non2xx)
  const cdn = tally.cdn
  const first = m.after[0]
  return {
    startedAt: new Date(m.started).toISOString(),
    durationS: o.requests === undefined ? (o.duration ?? 20) : (Date.now() - m.started) / 1000,
    connections: m.perTarget * o.targets.length,
    zipf: o.zipf ?? 1.2,
    targets: o.targets,
    requests: sum((r) => r.requests.total),
    rps: sum((r) => r.requests.average),
    failed: { errors, timeouts, non2xx, total: errors + timeouts + non2xx },
    statuses: { ...tally.statuses },
    client: clientLatency(results),
    cdn: cdn.hit + cdn.miss + cdn.other > 0 ? { ...cdn } : null,
    clientByCdn:
      cdn.hit + cdn.miss + cdn.other > 0
        ? { hit: { ...tally.clientByCdn.hit }, other: { ...tally.clientByCdn.other } }
        : null,
    listing: { ...tally.listing, p99Ms: p99(tally.listingMs) },
    layers: combineLayers(m.after, m.before),
    circuit: circuitSince(m.after, m.started),
    instances: m.after.length,
    cpus: first?.cpus ?? null,
    db: { kind: first?.database ?? 'unknown', latencyMs: first?.dbLatencyMs ?? 0 },
    cache: first?.cache ?? 'on',
    eventLoop: { meanMs: eventLoopSince(m.after, m.before) },
    redisTime: m.redisTime,
  }
}

/** The warm-up and the measured run's length. */
function spans(o: LoadOptions, targets: number): { warmup: Span | undefined; run: Span } {
  if (o.requests !== undefined) {
    const per = (n: number): number => Math.max(1, Math.ceil(n / targets))
    const w = o.warmupRequests ?? Math.floor(o.requests / 4)
    return { warmup: w > 0 ? { amount: per(w) } : undefined, run: { amount: per(o.requests) } }
  }
  const w = o.warmup ?? 5
  return { warmup: w > 0 ? { seconds: w } : undefined, run: { seconds: o.duration ?? 20 } }
}

/** Runs the load and returns the report. */
export async function runLoad(o: LoadOptions): Promise<LoadReport> {
  const connections = o.connections ?? 16
  const tally = newTally()
  const request = requestMix(o, seeded(o.seed ?? 1), tally)
  const perTarget = Math.max(1, Math.floor(connections / o.targets.length))
  const { warmup, run } = spans(o, o.targets.length)
  if (warmup) await Promise.all(o.targets.map((url) => fire(url, perTarget, warmup, request, false, tally)))
  resetTally(tally)
  if (o.redis && o.resetRedisStats) await o.redis.reset()
  const redisBefore = o.redis ? await o.redis.read() : undefined
  const before = await Promise.all(o.origins.map(stats))
  const started = Date.now()
  const ticker = o.onTick
    ? setInterval(() => {
        void o.onTick?.(Date.now() - started)
      }, 250)
    : undefined
  const results = await Promise.all(
    o.targets.map((url, i) => fire(url, perTarget, run, request, o.progress !== false && i === 0, tally)),
  )
  if (ticker) clearInterval(ticker)
  const after = await Promise.all(o.origins.map(stats))
  const redisAfter = o.redis && redisBefore ? await o.redis.read().catch(() => undefined) : undefined
  const redis =
    redisBefore && redisAfter ? redisTime(redisBefore, redisAfter, o.resetRedisStats === true) : null
  return report(o, { results, before, after, started, perTarget, tally, redisTime: redis })
}
