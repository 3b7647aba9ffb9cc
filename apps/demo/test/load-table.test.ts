import { describe, expect, it } from 'vitest'
import type { LayerRow, LoadReport } from '../src/load.js'
import { parseRedisReads, redisTime } from '../src/load-redis.js'
import { dbCost, formatTable, TABLE_HEADER, type TableRow, tableRows } from '../src/load-table.js'

const layer = (name: string, hits: number, misses: number, avgMs: number | null): LayerRow => ({
  layer: name,
  hitRate: hits + misses > 0 ? hits / (hits + misses) : null,
  avgMs,
  p99Ms: avgMs === null ? null : avgMs * 3,
  hits,
  misses,
})

function report(over: Partial<LoadReport> = {}): LoadReport {
  return {
    startedAt: '2026-12-07T00:00:00.000Z',
    durationS: 2,
    connections: 16,
    zipf: 1.2,
    targets: ['http://a'],
    requests: 1000,
    rps: 500,
    failed: { errors: 0, timeouts: 0, non2xx: 0, total: 0 },
    statuses: { 200: 1000 },
    client: { avgMs: 4, p50Ms: 1, p99Ms: 20, maxMs: 30 },
    cdn: null,
    clientByCdn: null,
    listing: { count: 20, sumMs: 40, maxMs: 9, p99Ms: 8, non200: 0, cdnHits: 0 },
    layers: [
      layer('cdn', 0, 0, null),
      layer('l1', 800, 200, 0.01),
      layer('l2', 50, 150, 0.5),
      layer('db', 150, 0, 16),
    ],
    circuit: [],
    instances: 2,
    cpus: 2,
    db: { kind: 'sqlite', latencyMs: 15 },
    cache: 'on',
    eventLoop: { meanMs: 0.3 },
    redisTime: { calls: 180, avgMs: 0.002, p99Ms: 0.01 },
    ...over,
  }
}

const baseline = report({
  cache: 'off',
  client: { avgMs: 16, p50Ms: 16, p99Ms: 25, maxMs: 40 },
  listing: { count: 20, sumMs: 640, maxMs: 60, p99Ms: 55, non200: 0, cdnHits: 0 },
  layers: [
    layer('cdn', 0, 0, null),
    layer('l1', 0, 0, null),
    layer('l2', 0, 0, null),
    layer('db', 1400, 0, 15.5),
  ],
  redisTime: null,
})
const row = (rows: TableRow[], name: string): TableRow => rows.find((r) => r.layer === name)!

describe('the load table', () => {
  it('reductions against the no-cache run; L2 as Redis time with the app wait apart; the db reason', () => {
    const rows = tableRows({ cached: report(), baseline })
    expect(rows.map((r) => r.layer)).toEqual(['cdn', 'l1', 'l2', 'db', 'listing', 'client'])
    expect(row(rows, 'l1').reduction).toBeCloseTo(1 - 0.01 / 15.5, 9)
    expect(row(rows, 'l2').avgMs).toBe(0.002)
    expect(row(rows, 'l2').p99Ms).toBe(0.01)
    expect(row(rows, 'l2').reduction).toBeCloseTo(1 - 0.51 / 15.5, 9)
    expect(row(rows, 'l2').note).toContain('the app waited 0.500 ms per L2 read, 0.498 ms of it')
    expect(row(rows, 'l2').note).toContain('what the other of 2 instances loaded')
    expect(row(rows, 'db').reduction).toBeCloseTo(1 - 16.51 / 15.5, 9)
    expect(row(rows, 'db').note).toContain('no cache makes the database itself faster')
    expect(row(rows, 'db').note).toContain('89.3% of the database queries off it (150 against 1400)')
    expect(row(rows, 'client').reduction).toBeCloseTo(0.75, 9)
    expect(row(rows, 'cdn').note).toContain('not in this run')
    const table = formatTable(rows)
    expect(table.split('\n')[0]).toBe(TABLE_HEADER)
    expect(table).toContain('| L1 | 80.0% | 0.010 ms | 0.030 ms | 15.50 ms | 99.9% |')
    expect(table).toContain('| All requests (client) | — | 4.00 ms | 20.00 ms | 16.00 ms | 75.0% |')
  })

  it('the client row: a run whose caches did not pay says so and why (a loaded machine), one that did does not', () => {
    const slow = tableRows({
      cached: report({ client: { avgMs: 20, p50Ms: 18, p99Ms: 60, maxMs: 90 } }),
      baseline,
    })
    const client = row(slow, 'client')
    expect(client.reduction).toBeCloseTo(1 - 20 / 16, 9)
    expect(client.note).toContain('does not pay on this machine in this run')
    expect(client.note).toContain('20.00 ms at the client against 16.00 ms without caches')
    expect(row(tableRows({ cached: report(), baseline }), 'client').note).not.toContain('does not pay')
  })

  it('the CDN: judged end to end against the same caches without it, pays or says why not', () => {
    const withCdn = (clientMs: number) =>
      report({
        client: { avgMs: clientMs, p50Ms: 1, p99Ms: 20, maxMs: 30 },
        cdn: { hit: 80, miss: 20, other: 0 },
        clientByCdn: { hit: { count: 80, sumMs: 80 }, other: { count: 20, sumMs: 100 } },
        layers: [
          layer('cdn', 80, 20, 0.2),
          layer('l1', 10, 10, 0.01),
          layer('l2', 1, 9, 0.5),
          layer('db', 9, 0, 16),
        ],
      })
    const direct = report({ client: { avgMs: 3, p50Ms: 1, p99Ms: 10, maxMs: 20 } })
    const slower = row(tableRows({ cached: withCdn(5), baseline, direct }), 'cdn')
    expect(slower.reduction).toBeCloseTo(1 - 1 / 16, 9)
    expect(slower.note).toContain('does not pay on this machine (2 cores)')
    expect(slower.note).toContain('averaged 5.00 ms at the client against 3.00 ms')
    const faster = row(tableRows({ cached: withCdn(2), baseline, direct }), 'cdn')
    expect(faster.note).toContain('pays: 2.00 ms at the client through nginx against 3.00 ms without it')
    // without the no-CDN run there is nothing to judge it by, and no baseline: no reduction
    const alone = row(tableRows({ cached: withCdn(2), baseline: undefined }), 'cdn')
    expect([alone.reduction, alone.noCacheMs]).toEqual([null, null])
  })

  it('the category listing: its own row, end to end at the client against the no-cache run’s listings', () => {
    const rows = tableRows({ cached: report(), baseline })
    const l = row(rows, 'listing')
    expect([l.avgMs, l.p99Ms, l.noCacheMs, l.hitRate]).toEqual([2, 8, 32, null])
    expect(l.reduction).toBeCloseTo(1 - 2 / 32, 9)
    expect(l.note).toMatch(/^20 listings \(2% of the mix\) at the client/)
    expect(formatTable(rows)).toContain(
      '| Category listing (client) | — | 2.00 ms | 8.00 ms | 32.00 ms | 93.8% |',
    )
    // through nginx: the share it answered from its cache is the row's hit rate
    const through = report({
      cdn: { hit: 10, miss: 10, other: 0 },
      listing: { count: 20, sumMs: 20, maxMs: 3, p99Ms: 3, non200: 1, cdnHits: 15 },
    })
    const t = row(tableRows({ cached: through, baseline }), 'listing')
    expect(t.hitRate).toBe(0.75)
    expect(t.note).toContain('15 answered by nginx from its cache; 1 not 200')
    // slower than without caches: said so
    const slow = report({ listing: { count: 2, sumMs: 80, maxMs: 41, p99Ms: 41, non200: 0, cdnHits: 0 } })
    expect(row(tableRows({ cached: slow, baseline }), 'listing').note).toContain(
      'does not pay on this machine',
    )
    // none sampled: said so, no figures
    const none = report({ listing: { count: 0, sumMs: 0, maxMs: 0, p99Ms: null, non200: 0, cdnHits: 0 } })
    expect(row(tableRows({ cached: none, baseline }), 'listing')).toMatchObject({
      avgMs: null,
      reduction: null,
      note: 'not in this run: no category listing among its requests',
    })
  })

  it('one instance, no Redis time, no simulated delay, PostgreSQL: said so', () => {
    const r = report({
      instances: 1,
      redisTime: null,
      db: { kind: 'postgres', latencyMs: 0 },
      layers: [
        layer('cdn', 0, 0, null),
        layer('l1', 9, 1, 0.01),
        layer('l2', 0, 1, 0.5),
        layer('db', 1, 0, 1),
      ],
    })
    const rows = tableRows({ cached: r, baseline: undefined })
    expect(row(rows, 'l2').avgMs).toBe(0.5)
    expect(row(rows, 'l2').note).toContain('Redis time unknown')
    expect(row(rows, 'l2').note).toContain('no hits: one instance finds in Redis only')
    expect(row(rows, 'l1').reduction).toBeNull()
    expect(dbCost(r)).toBe('a real PostgreSQL query, no simulated delay (DB_LATENCY_MS=0)')
    expect(formatTable(rows)).toContain('| DB | 100.0% | 1.00 ms | 3.00 ms | — | — |')
  })
})

describe('Redis time from INFO', () => {
  it('sums GET and MGET, takes the larger p99, and the difference of two reads', () => {
    const cmd = (g: number, gu: number, m: number, mu: number) =>
      `# Commandstats\r\ncmdstat_get:calls=${g},usec=${gu},usec_per_call=1.00\r\ncmdstat_mget:calls=${m},usec=${mu},usec_per_call=2.00\r\ncmdstat_set:calls=9,usec=99\r\n`
    const lat =
      '# Latencystats\r\nlatency_percentiles_usec_get:p50=1.003,p99=5.023,p99.9=9\r\nlatency_percentiles_usec_mget:p50=2,p99=12.031,p99.9=20\r\n'
    const a = parseRedisReads(cmd(10, 10, 5, 10), '')
    expect(a).toEqual({ calls: 15, usec: 20, p99Usec: null })
    const b = parseRedisReads(cmd(110, 130, 15, 30), lat)
    expect(b).toEqual({ calls: 125, usec: 160, p99Usec: 12.031 })
    expect(redisTime(a, b, true)).toEqual({ calls: 110, avgMs: 140 / 110 / 1000, p99Ms: 0.012031 })
    expect(redisTime(a, b, false).p99Ms).toBeNull()
    expect(redisTime(a, a, true)).toEqual({ calls: 0, avgMs: null, p99Ms: null })
  })
})
