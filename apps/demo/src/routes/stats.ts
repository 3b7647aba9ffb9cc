/** `GET /metrics` (Prometheus), `GET /api/stats` (the dashboard's JSON) and `GET /` (the dashboard). */
import { availableParallelism } from 'node:os'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import type { InvalidationBus, WriteBehind } from '@tierkit/invalidation'
import { type CacheMetrics, OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE } from '@tierkit/metrics'
import type { WorkerPool } from '@tierkit/worker-pool'
import type { FastifyInstance } from 'fastify'
import type { DemoConfig } from '../config.js'
import { dashboardHtml } from '../dashboard.js'
import type { DemoStore } from '../db/types.js'
import type { LastInvalidation } from '../invalidate.js'
import type { ReadCaches } from '../read-caches.js'
import type { CircuitRecord, InvalidationRecord } from '../records.js'
import type { RedisInfo } from '../redis.js'
import type tasks from '../tasks.js'
import type { ViewCount } from '../writes.js'

/** What the stats read. */
export interface StatsDeps {
  config: DemoConfig
  store: DemoStore
  metrics: CacheMetrics
  /** The HTTP timings (one layer, `http`). */
  http: CacheMetrics<'http'>
  pool: WorkerPool<typeof tasks>
  /** The Redis in use: how it was found, the client library and the topology. */
  redis: RedisInfo
  caches: ReadCaches
  views: WriteBehind<ViewCount> | undefined
  bus: InvalidationBus | undefined
  invalidations: readonly InvalidationRecord[]
  /** This instance's product invalidations, per layer (the last one is shown). */
  lastInvalidations: readonly LastInvalidation[]
  circuit: readonly CircuitRecord[]
}

function layers(metrics: CacheMetrics): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [name, l] of Object.entries(metrics.snapshot().byLayer)) {
    out[name] = {
      hits: l.hits,
      misses: l.misses,
      stale: l.stale,
      errors: l.errors,
      hitRate: l.hitRate,
      avgMs: l.latency?.avg ?? null,
      p99Ms: l.latency?.p99 ?? null,
      // the timed samples and their sum since start: a load generator takes the average of its own run from two reads
      latencyCount: l.latency?.count ?? 0,
      latencySumMs: l.latency?.sum ?? 0,
    }
  }
  return out
}

function httpStats(http: CacheMetrics<'http'>) {
  const h = http.snapshot().byLayer.http
  return {
    requests: h ? h.lookups + h.errors : 0,
    errors: h?.errors ?? 0,
    p50Ms: h?.latency?.p50 ?? null,
    p95Ms: h?.latency?.p95 ?? null,
    p99Ms: h?.latency?.p99 ?? null,
    avgMs: h?.latency?.avg ?? null,
  }
}

function poolStats(pool: WorkerPool<typeof tasks>, maxThreads: number) {
  const ps = pool.stats()
  return {
    threads: ps.threads,
    maxThreads,
    running: ps.running,
    queued: ps.queued,
    completed: ps.completed,
    failed: ps.failed,
    utilization: ps.utilization,
    busyTime: ps.busyTime,
    uptime: ps.uptime,
  }
}

/**
 * How long a ready callback waits for the event loop: a 10 ms timer's lateness, sampled since start (the count and
 * the sum, so a run's mean is the difference of two reads). This is the queueing every awaited reply (Redis, the
 * database) pays on top of its own time.
 */
const LOOP_RESOLUTION_MS = 10
const loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS })
loopDelay.enable()

function eventLoopStats() {
  const count = loopDelay.count
  // the histogram holds the time between two firings of the 10 ms timer: the delay is what exceeds 10 ms
  const late = (ns: number): number => Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS)
  return {
    samples: count,
    delaySumMs: count > 0 ? late(loopDelay.mean) * count : 0,
    meanMs: count > 0 ? late(loopDelay.mean) : null,
    p99Ms: count > 0 ? late(loopDelay.percentile(99)) : null,
  }
}

/** The body of `/api/stats`. */
function stats(deps: StatsDeps, started: number) {
  return {
    instanceId: deps.config.instanceId,
    pid: process.pid,
    uptimeMs: Date.now() - started,
    now: Date.now(),
    database: deps.store.kind,
    /** The simulated cost of each database read (DB_LATENCY_MS), 0 when every read is the real query alone. */
    dbLatencyMs: deps.config.dbLatencyMs,
    cache: deps.config.cacheMode,
    cpus: availableParallelism(),
    eventLoop: eventLoopStats(),
    redis: { ...deps.redis, breaker: deps.caches.redisCaches?.products.breakerState ?? null },
    http: httpStats(deps.http),
    layers: layers(deps.metrics),
    l1: { size: deps.caches.l1Size() },
    pool: poolStats(deps.pool, deps.config.workerThreads),
    writeBehind: deps.views?.flusher?.stats() ?? null,
    bus: deps.bus?.stats() ?? null,
    invalidations: [...deps.invalidations].reverse(),
    /** The last product update made here: per layer (l1, l2, cdn) its mode, latency (ms, null: no such layer), result. */
    lastInvalidation: deps.lastInvalidations.at(-1) ?? null,
    circuit: [...deps.circuit],
  }
}

/**
 * Whether an `Accept` header asks for OpenMetrics text (as Prometheus' scraper does: `application/openmetrics-text`
 * with a q above that of `text/plain`, or alone). Anything else gets the Prometheus text format 0.0.4.
 */
export function wantsOpenMetrics(accept: string | undefined): boolean {
  if (!accept) return false
  let open = -1
  let text = -1
  for (const part of accept.split(',')) {
    const [type = '', ...params] = part.split(';').map((p) => p.trim().toLowerCase())
    const qParam = params.find((p) => p.startsWith('q='))
    const q = qParam === undefined ? 1 : Number(qParam.slice(2))
    if (!Number.isFinite(q) || q <= 0) continue
    if (type === 'application/openmetrics-text') open = Math.max(open, q)
    else if (type === 'text/plain' || type === 'text/*' || type === '*/*') text = Math.max(text, q)
  }
  return open > 0 && open >= text
}

/** Registers the metrics, the stats and the dashboard. */
export function registerStats(app: FastifyInstance, deps: StatsDeps): void {
  app.get('/metrics', (req, reply) => {
    const open = wantsOpenMetrics(req.headers.accept)
    reply
      .header('content-type', open ? OPENMETRICS_CONTENT_TYPE : PROMETHEUS_CONTENT_TYPE)
      .header('vary', 'accept')
      .header('cache-control', 'no-store')
    return reply.send(open ? deps.metrics.toOpenMetrics() : deps.metrics.toPrometheus())
  })
  const started = Date.now()
  app.get('/api/stats', (_req, reply) => {
    reply.header('cache-control', 'no-store')
    return stats(deps, started)
  })
  app.get('/', (_req, reply) => {
    reply.header('cache-control', 'no-store').type('text/html; charset=utf-8')
    return reply.send(dashboardHtml)
  })
}
