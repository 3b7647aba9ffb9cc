/**
 * The load table: the cached run against the no-cache baseline (the same seeded requests, `DEMO_CACHE=off`), one
 * row per layer and one for the client, with the latency reduction and, where a layer does not pay, why.
 *
 * - Without caches every read is a database read: the baseline's average `db` lookup is the cost each cached read
 *   is compared with ("No-cache run").
 * - A read answered by a layer paid the lookups above it too: L1 → its own time; L2 → L1 + what the app waited for
 *   Redis; DB → L1 + L2 + the database. Reduction = 1 − that / the no-cache read.
 * - L2's latency is Redis time (GET/MGET inside Redis); what the app waited beyond it (loopback, parsing, event-loop
 *   queueing) is shown apart, with the instances' event-loop delay.
 * - The CDN is judged end to end, by the client: its hits against the baseline's requests, and the whole run
 *   through nginx against the same caches without it (measured in the same `--cdn` run).
 */
import type { LayerRow, LoadReport } from './load.js'

/** One row of the table. */
export interface TableRow {
  layer: 'cdn' | 'l1' | 'l2' | 'db' | 'listing' | 'client'
  hitRate: number | null
  avgMs: number | null
  p99Ms: number | null
  /** What the same read cost in the no-cache run, ms. */
  noCacheMs: number | null
  /** 1 − cost with caches / cost without (negative: slower). */
  reduction: number | null
  note: string
}

/** The runs of one `demo:load`. */
export interface Runs {
  cached: LoadReport
  /** The no-cache run of the same requests. */
  baseline: LoadReport | undefined
  /** With `--cdn`: the same caches without nginx, right after the CDN run. */
  direct?: LoadReport | undefined
}

const ms = (v: number | null | undefined): string =>
  v === null || v === undefined ? '—' : v < 1 ? `${v.toFixed(3)} ms` : `${v.toFixed(2)} ms`
const pct = (v: number | null | undefined): string =>
  v === null || v === undefined ? '—' : `${(v * 100).toFixed(1)}%`
const layerOf = (r: LoadReport, name: string): LayerRow | undefined => r.layers.find((l) => l.layer === name)
const reduce = (cost: number | null, base: number | null): number | null =>
  cost === null || base === null || base <= 0 ? null : 1 - cost / base
const avgOf = (s: { count: number; sumMs: number }): number | null => (s.count > 0 ? s.sumMs / s.count : null)

/** What one database read costs in this run, in words. */
export function dbCost(r: LoadReport): string {
  const kind = r.db.kind === 'postgres' ? 'PostgreSQL' : r.db.kind === 'sqlite' ? 'SQLite' : r.db.kind
  return r.db.latencyMs > 0
    ? `simulated delay ${r.db.latencyMs} ms (DB_LATENCY_MS) + a real ${kind} query`
    : `a real ${kind} query, no simulated delay (DB_LATENCY_MS=0)`
}

function cdnRow({ cached, baseline, direct }: Runs): TableRow {
  const layer = layerOf(cached, 'cdn')
  if (!cached.clientByCdn || !layer)
    return {
      layer: 'cdn',
      hitRate: null,
      avgMs: null,
      p99Ms: null,
      noCacheMs: null,
      reduction: null,
      note: 'not in this run: `--cdn` puts nginx in front',
    }
  const hitMs = avgOf(cached.clientByCdn.hit)
  const base = baseline?.client.avgMs ?? null
  const parts = [`latency inside nginx; its hits took ${ms(hitMs)} at the client`]
  if (direct) {
    const through = cached.client.avgMs
    const without = direct.client.avgMs
    if (through >= without)
      parts.push(
        `does not pay on this machine (${cached.cpus ?? '?'} cores): the run through nginx averaged ${ms(through)} at the client against ${ms(without)} with the same caches and no CDN, because nginx's workers, ${cached.instances} instances and the load generator share the cores, so every answer waits for CPU, and an L1 hit is already cheaper than the extra hop`,
      )
    else parts.push(`pays: ${ms(through)} at the client through nginx against ${ms(without)} without it`)
  }
  return {
    layer: 'cdn',
    hitRate: layer.hitRate,
    avgMs: layer.avgMs,
    p99Ms: layer.p99Ms,
    noCacheMs: base,
    reduction: reduce(hitMs, base),
    note: parts.join('; '),
  }
}

function l2Note(cached: LoadReport, l2: LayerRow | undefined): string {
  const parts: string[] = []
  const rt = cached.redisTime
  if (rt && rt.avgMs !== null && l2?.avgMs != null) {
    parts.push(
      `Redis time (GET/MGET inside Redis, ${rt.calls} calls); the app waited ${ms(l2.avgMs)} per L2 read, ${ms(Math.max(0, l2.avgMs - rt.avgMs))} of it loopback, parsing and event-loop queueing (event-loop delay ${ms(cached.eventLoop.meanMs)} on average)`,
    )
  } else parts.push('what the app waited (Redis time unknown: no Redis URL for the load generator)')
  if ((l2?.hits ?? 0) === 0)
    parts.push(
      cached.instances < 2
        ? 'no hits: one instance finds in Redis only what its own L1 evicted or lost (`--instances 2`)'
        : 'no hits in this run',
    )
  else if (cached.instances > 1)
    parts.push(`its hits are what the other of ${cached.instances} instances loaded`)
  return parts.join('; ')
}

function dbNote(runs: Runs, reduction: number | null): string {
  const { cached, baseline } = runs
  const parts = [dbCost(cached)]
  const db = layerOf(cached, 'db')
  const base = baseline ? layerOf(baseline, 'db') : undefined
  if (db && base) {
    const reads = db.hits + db.misses
    const before = base.hits + base.misses
    parts.push(
      `the caches took ${pct(before > 0 ? 1 - reads / before : null)} of the database queries off it (${reads} against ${before})`,
    )
  }
  if (reduction !== null && reduction <= 0)
    parts.push(
      'a read that still reaches it pays the L1 and L2 lookups first: no cache makes the database itself faster',
    )
  return parts.join('; ')
}

/** The category listings of the mix, end to end at the client, against the same listings in the no-cache run. */
export function listingRow({ cached, baseline }: Runs): TableRow {
  const l = cached.listing
  if (l === undefined || l.count === 0)
    return {
      layer: 'listing',
      hitRate: null,
      avgMs: null,
      p99Ms: null,
      noCacheMs: null,
      reduction: null,
      note: 'not in this run: no category listing among its requests',
    }
  const avg = l.sumMs / l.count
  const b = baseline?.listing
  const base = b !== undefined && b.count > 0 ? b.sumMs / b.count : null
  const reduction = reduce(avg, base)
  const through = cached.cdn !== null
  const parts = [
    `${l.count} listings (2% of the mix) at the client, each the members' read and 20 product reads through the tags (L1 on a hit)`,
  ]
  if (through) parts.push(`${l.cdnHits} answered by nginx from its cache`)
  if (l.non200 > 0) parts.push(`${l.non200} not 200`)
  if (reduction !== null && reduction <= 0)
    parts.push(
      'does not pay on this machine: the listing waited longer than its 21 database reads without caches',
    )
  return {
    layer: 'listing',
    hitRate: through ? l.cdnHits / l.count : null,
    avgMs: avg,
    p99Ms: l.p99Ms,
    noCacheMs: base,
    reduction,
    note: parts.join('; '),
  }
}

/** The rows of the table. */
export function tableRows(runs: Runs): TableRow[] {
  const { cached, baseline } = runs
  const d0 = baseline ? (layerOf(baseline, 'db')?.avgMs ?? null) : null
  const l1 = layerOf(cached, 'l1')
  const l2 = layerOf(cached, 'l2')
  const db = layerOf(cached, 'db')
  const l1Ms = l1?.avgMs ?? 0
  const l2Ms = l2?.avgMs ?? 0
  const dbReduction = reduce(db?.avgMs == null ? null : l1Ms + l2Ms + db.avgMs, d0)
  const rt = cached.redisTime
  return [
    cdnRow(runs),
    {
      layer: 'l1',
      hitRate: l1?.hitRate ?? null,
      avgMs: l1?.avgMs ?? null,
      p99Ms: l1?.p99Ms ?? null,
      noCacheMs: d0,
      reduction: reduce(l1?.avgMs ?? null, d0),
      note: 'in-process: a hit costs a Map lookup',
    },
    {
      layer: 'l2',
      hitRate: l2?.hitRate ?? null,
      avgMs: rt?.avgMs ?? l2?.avgMs ?? null,
      p99Ms: rt?.avgMs != null ? rt.p99Ms : (l2?.p99Ms ?? null),
      noCacheMs: d0,
      reduction: reduce(l2?.avgMs == null ? null : l1Ms + l2.avgMs, d0),
      note: l2Note(cached, l2),
    },
    {
      layer: 'db',
      hitRate: db?.hitRate ?? null,
      avgMs: db?.avgMs ?? null,
      p99Ms: db?.p99Ms ?? null,
      noCacheMs: d0,
      reduction: dbReduction,
      note: dbNote(runs, dbReduction),
    },
    listingRow(runs),
    clientRow(runs),
  ]
}

/** Every request at the client against the no-cache run; when the caches did not pay in this run, why. */
function clientRow(runs: Runs): TableRow {
  const { cached, baseline } = runs
  const base = baseline?.client.avgMs ?? null
  const reduction = reduce(cached.client.avgMs, base)
  const parts = [
    `every request, end to end (autocannon); ${cached.requests} requests, the no-cache run ${baseline?.requests ?? '—'}`,
  ]
  if (reduction !== null && reduction <= 0)
    parts.push(
      `does not pay on this machine in this run (${cached.cpus ?? '?'} cores): ${ms(cached.client.avgMs)} at the client against ${ms(base)} without caches, because ${cached.instances} instances, Redis and the load generator share the cores with whatever else runs, so the answers wait for CPU rather than for the database`,
    )
  return {
    layer: 'client',
    hitRate: null,
    avgMs: cached.client.avgMs,
    p99Ms: cached.client.p99Ms,
    noCacheMs: base,
    reduction,
    note: parts.join('; '),
  }
}

const LABELS: Record<TableRow['layer'], string> = {
  cdn: 'CDN (nginx)',
  l1: 'L1',
  l2: 'L2 (Redis)',
  db: 'DB',
  listing: 'Category listing (client)',
  client: 'All requests (client)',
}

/** The header of the table. */
export const TABLE_HEADER =
  '| Layer | Hit Rate | Avg Latency | p99 | No-cache run | Latency reduction | Note |'

/** The table as Markdown. */
export function formatTable(rows: readonly TableRow[]): string {
  return [
    TABLE_HEADER,
    '| --- | ---: | ---: | ---: | ---: | ---: | --- |',
    ...rows.map(
      (r) =>
        `| ${LABELS[r.layer]} | ${pct(r.hitRate)} | ${ms(r.avgMs)} | ${ms(r.p99Ms)} | ${ms(r.noCacheMs)} | ${pct(r.reduction)} | ${r.note} |`,
    ),
  ].join('\n')
}
