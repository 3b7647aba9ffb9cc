/**
 * Benchmarks of @tierkit/redis-aside against its anchors, all in the same run on the same real redis-server:
 * - BentoCache 1.6 (memory L1 + Redis L2 on the same ioredis client),
 * - raw ioredis GET + JSON.parse of the same value,
 * - an awaited Map lookup (the floor for an L1 hit).
 *
 * Run: pnpm --filter @tierkit/redis-aside build && pnpm --filter @tierkit/redis-aside bench
 *      (env BENCH_QUICK=1 for a shorter run)
 * Prints p50/p99 per path and ratios; writes bench-results/redis-aside.json.
 * All paths in ONE process, wall-clock: for the headline figures (each contender in its own process, CPU
 * time, median and min–max of 10 alternating runs) see tools/scripts/bench-vs.mjs and the README.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { startRedis } from '@tierkit/testkit'
import { seeded, zipf } from '@tierkit/testkit/random'
import { BentoCache, bentostore } from 'bentocache'
import { memoryDriver } from 'bentocache/drivers/memory'
import { redisDriver } from 'bentocache/drivers/redis'
import { Redis } from 'ioredis'
import type { L1Store } from '../src/index.js'
import { FILL, LEASE } from '../src/scripts.js'

// Measure the built package (what users run), not the sources through tsx (whose helpers add overhead).
// turbo builds it before `bench`; `pnpm --filter @tierkit/redis-aside build` otherwise.
const { createCache } = (await import('../dist/index.js' as string)) as typeof import('../src/index.js')

const QUICK = process.env.BENCH_QUICK === '1'
const ROUNDS = QUICK ? 3 : 5
/** BENCH_ONLY=fill,l2 runs only those sections (l1, l2, zipf, fill). */
const ONLY = process.env.BENCH_ONLY?.split(',')
const section = (name: string): boolean => ONLY === undefined || ONLY.includes(name)

/** A plain LRU with TTL: used only if @tierkit/l1-cache is not built yet. */
class FallbackLru implements L1Store {
  private readonly map = new Map<string, { v: unknown; e: number }>()
  constructor(private readonly max: number) {}
  get(key: string): unknown {
    const hit = this.map.get(key)
    if (hit === undefined) return undefined
    if (hit.e <= Date.now()) {
      this.map.delete(key)
      return undefined
    }
    this.map.delete(key)
    this.map.set(key, hit)
    return hit.v
  }
  set(key: string, v: unknown, o?: { ttl?: number }): void {
    this.map.delete(key)
    this.map.set(key, { v, e: Date.now() + (o?.ttl ?? 3_600_000) })
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value as string)
  }
  delete(key: string): void {
    this.map.delete(key)
  }
  clear(): void {
    this.map.clear()
  }
}

async function makeL1(max: number): Promise<{ l1: L1Store; name: string }> {
  // the built package (turbo builds it before `bench`), else its sources through tsx
  for (const [spec, name] of [
    ['@tierkit/l1-cache', '@tierkit/l1-cache L1Cache (dist)'],
    ['../../l1-cache/src/index.ts', '@tierkit/l1-cache L1Cache (sources)'],
  ] as const) {
    try {
      const mod = (await import(spec)) as Record<string, unknown>
      const L1Cache = mod.L1Cache as (new (o: { max: number }) => L1Store) | undefined
      if (typeof L1Cache === 'function') return { l1: new L1Cache({ max }), name }
    } catch {
      // not there
    }
  }
  return { l1: new FallbackLru(max), name: 'bench-local Map LRU (l1-cache not built)' }
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}
const us = (ms: number) => `${(ms * 1000).toFixed(1)} µs`

/** Awaited ops per second over `ms`, sequential (one in flight). */
async function throughput(fn: (i: number) => Promise<unknown>, ms: number): Promise<number> {
  let n = 0
  const t0 = performance.now()
  let t = t0
  while (t - t0 < ms) {
    for (let i = 0; i < 2000; i++) await fn(n + i)
    n += 2000
    t = performance.now()
  }
  return n / ((t - t0) / 1000)
}

/** Per-call latencies (ms), sequential. */
async function latencies(fn: (i: number) => Promise<unknown>, n: number): Promise<number[]> {
  const out = new Array<number>(n)
  for (let i = 0; i < n; i++) {
    const t0 = performance.now()
    await fn(i)
    out[i] = performance.now() - t0
  }
  return out.sort((a, b) => a - b)
}

/** Per-call latencies of several paths, interleaved call by call (rotating the order) so that they share the machine's noise. */
async function interleaved(
  subjects: Record<string, (i: number) => Promise<unknown>>,
  n: number,
): Promise<Record<string, number[]>> {
  const names = Object.keys(subjects)
  const fns = Object.values(subjects)
  const out = names.map(() => new Array<number>(n))
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < fns.length; j++) {
      const at = (i + j) % fns.length
      const t0 = performance.now()
      await fns[at]!(i)
      out[at]![i] = performance.now() - t0
    }
  }
  return Object.fromEntries(names.map((name, j) => [name, out[j]!.sort((a, b) => a - b)]))
}

/** `count` Zipf(α) draws over keys 0..n-1 (the shared sampler, seeded). */
function zipfSamples(n: number, alpha: number, count: number, seed: number): Uint32Array {
  const rank = zipf(n, alpha, seeded(seed))
  const out = new Uint32Array(count)
  for (let c = 0; c < count; c++) out[c] = rank() - 1
  return out
}

/** Runs `total` calls with `inFlight` concurrent workers; returns ops/s and sorted latencies. */
async function concurrent(
  fn: (i: number) => Promise<unknown>,
  total: number,
  inFlight: number,
): Promise<{ opsPerSec: number; lat: number[] }> {
  const lat: number[] = []
  let next = 0
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      for (;;) {
        const i = next++
        if (i >= total) return
        const s = performance.now()
        await fn(i)
        lat.push(performance.now() - s)
      }
    }),
  )
  const elapsed = performance.now() - t0
  return { opsPerSec: total / (elapsed / 1000), lat: lat.sort((a, b) => a - b) }
}

const user = (i: number) => ({
  id: i,
  name: `user ${i}`,
  email: `user${i}@example.com`,
  roles: ['reader', 'writer'],
  createdAt: '2026-11-27T08:00:00.000Z',
  score: i * 1.5,
  active: i % 2 === 0,
})

async function main(): Promise<void> {
  const server = await startRedis()
  const redis = new Redis({ host: server.host, port: server.port })
  await redis.ping()
  const results: Record<string, unknown> = {
    date: new Date().toISOString(),
    node: process.version,
    quick: QUICK,
  }
  const lines: string[] = []
  const log = (s: string) => {
    lines.push(s)
    console.log(s)
  }

  // ------------------------------------------------------------------ 1. L1-hit getOrLoad
  if (section('l1')) {
    const { l1, name } = await makeL1(10_000)
    log(`L1 used by redis-aside: ${name}`)
    const ours = createCache({ redis, l1, namespace: 'bench-l1', ttl: 3_600_000 })
    const tiered = (serialize: boolean) =>
      new BentoCache({
        default: 'tiered',
        stores: {
          tiered: bentostore()
            .useL1Layer(memoryDriver({ maxItems: 10_000, ...(serialize ? {} : { serialize: false }) }))
            .useL2Layer(redisDriver({ connection: { host: server.host, port: server.port } })),
        },
      })
    // BentoCache's default memory driver (serialize: true): its `serialize: false` mode crashes on an L2 hit
    // (CacheEntry.fromDriver gets a string and no serializer), so it cannot be used with a Redis L2.
    const bento = tiered(true)
    const map = new Map<string, unknown>([['k', user(1)]])
    const loader = () => user(1)
    await ours.getOrLoad('k', loader)
    await bento.getOrSet({ key: 'bench-l1:k', factory: loader, ttl: '1h' })
    const subjects: Record<string, (i: number) => Promise<unknown>> = {
      'redis-aside getOrLoad (L1 hit)': () => ours.getOrLoad('k', loader),
      'bentocache getOrSet (L1 hit)': () => bento.getOrSet({ key: 'bench-l1:k', factory: loader, ttl: '1h' }),
      'awaited Map.get (floor)': async () => map.get('k'),
    }
    const ops: Record<string, number[]> = Object.fromEntries(Object.keys(subjects).map((k) => [k, []]))
    for (const fn of Object.values(subjects)) await throughput(fn, 200) // warm up the JIT
    for (let r = 0; r < ROUNDS; r++) {
      for (const [name, fn] of Object.entries(subjects))
        ops[name]!.push(await throughput(fn, QUICK ? 300 : 600))
    }
    const med = Object.fromEntries(Object.entries(ops).map(([k, v]) => [k, median(v)]))
    log('\n## L1-hit getOrLoad (one in flight, median of rounds)')
    log('| path | ops/s | p50 | p99 |')
    log('|---|---:|---:|---:|')
    const l1res: Record<string, unknown> = {}
    for (const [name, fn] of Object.entries(subjects)) {
      const lat = await latencies(fn, QUICK ? 20_000 : 50_000)
      l1res[name] = { opsPerSec: med[name], p50: pct(lat, 50), p99: pct(lat, 99) }
      log(
        `| ${name} | ${Math.round(med[name]!).toLocaleString('en')} | ${us(pct(lat, 50))} | ${us(pct(lat, 99))} |`,
      )
    }
    const ratioBento = med['redis-aside getOrLoad (L1 hit)']! / med['bentocache getOrSet (L1 hit)']!
    const mapVsBento = med['awaited Map.get (floor)']! / med['bentocache getOrSet (L1 hit)']!
    const oursVsMap = med['redis-aside getOrLoad (L1 hit)']! / med['awaited Map.get (floor)']!
    log(`ratio redis-aside / bentocache: ${ratioBento.toFixed(1)}× ops/s (target ≥ 20×)`)
    log(
      `awaited Map / bentocache: ${mapVsBento.toFixed(1)}×; redis-aside / awaited Map: ${oursVsMap.toFixed(2)}×`,
    )
    results.l1Hit = { ...l1res, ratioVsBento: ratioBento, mapVsBento, oursVsMap }
    await ours.close()
    await bento.disconnectAll().catch(() => {})
  }

  // ------------------------------------------------------------------ 2. L2-hit latency, L1 off
  if (section('l2')) {
    const ours = createCache({ redis, namespace: 'bench-l2', ttl: 3_600_000 })
    const bento = new BentoCache({
      default: 'l2',
      stores: {
        l2: bentostore().useL2Layer(redisDriver({ connection: { host: server.host, port: server.port } })),
      },
    })
    const N = 200
    for (let i = 0; i < N; i++) {
      await ours.set(`u${i}`, user(i))
      await redis.set(`raw:u${i}`, JSON.stringify(user(i)))
      await bento.set({ key: `bench-l2:u${i}`, value: user(i), ttl: '1h' })
    }
    const never = (): never => {
      throw new Error('loader must not run: L2 is warm')
    }
    const subjects: Record<string, (i: number) => Promise<unknown>> = {
      'redis-aside getOrLoad (L2 hit, no L1)': (i) => ours.getOrLoad(`u${i % N}`, never),
      'raw ioredis GET + JSON.parse': async (i) => JSON.parse((await redis.get(`raw:u${i % N}`))!),
      'bentocache getOrSet (L2 only)': (i) =>
        bento.getOrSet({ key: `bench-l2:u${i % N}`, factory: never, ttl: '1h' }),
    }
    const n = QUICK ? 3000 : 8000
    for (const fn of Object.values(subjects)) await latencies(fn, 1000)
    const lats: Record<string, number[][]> = Object.fromEntries(Object.keys(subjects).map((k) => [k, []]))
    for (let r = 0; r < ROUNDS; r++) {
      for (const [name, l] of Object.entries(await interleaved(subjects, n))) lats[name]!.push(l)
    }
    log(
      '\n## L2-hit latency, L1 off (one in flight, paths interleaved call by call; p50/p99 per round, median over rounds)',
    )
    log('| path | p50 | p99 |')
    log('|---|---:|---:|')
    const l2res: Record<string, { p50: number; p99: number }> = {}
    for (const name of Object.keys(subjects)) {
      const p50 = median(lats[name]!.map((l) => pct(l, 50)))
      const p99 = median(lats[name]!.map((l) => pct(l, 99)))
      l2res[name] = { p50, p99 }
      log(`| ${name} | ${us(p50)} | ${us(p99)} |`)
    }
    const ours50 = l2res['redis-aside getOrLoad (L2 hit, no L1)']!
    const raw50 = l2res['raw ioredis GET + JSON.parse']!
    log(
      `ratio redis-aside / raw GET+decode: p50 ${(ours50.p50 / raw50.p50).toFixed(2)}×, p99 ${(ours50.p99 / raw50.p99).toFixed(2)}× (target ≤ 1.2×)`,
    )
    results.l2Hit = { ...l2res, ratioP50: ours50.p50 / raw50.p50, ratioP99: ours50.p99 / raw50.p99 }
    await ours.close()
    await bento.disconnectAll().catch(() => {})
  }

  // ------------------------------------------------------------------ 3. Zipf 0.99 over 100k keys, L1 10k, L2 warm, 64 in flight
  if (section('zipf')) {
    const KEYS = 100_000
    const TOTAL = QUICK ? 100_000 : 300_000
    const WARM = 50_000
    // warm L2 through caches without L1 (same namespace/prefix), so the measured caches start with an empty L1
    const oursWarm = createCache({ redis, namespace: 'bench-zipf', ttl: 3_600_000 })
    const bentoWarm = new BentoCache({
      default: 'l2',
      stores: {
        l2: bentostore().useL2Layer(redisDriver({ connection: { host: server.host, port: server.port } })),
      },
    })
    for (let start = 0; start < KEYS; start += 500) {
      const batch = Array.from({ length: Math.min(500, KEYS - start) }, (_, j) => start + j)
      await Promise.all(
        batch.flatMap((i) => [
          oursWarm.set(`u${i}`, user(i)),
          bentoWarm.set({ key: `bench-zipf:u${i}`, value: user(i), ttl: '1h' }),
        ]),
      )
    }
    await oursWarm.close()
    const { l1 } = await makeL1(10_000)
    const ours = createCache({ redis, l1, namespace: 'bench-zipf', ttl: 3_600_000 })
    const bento = new BentoCache({
      default: 'tiered',
      stores: {
        tiered: bentostore()
          .useL1Layer(memoryDriver({ maxItems: 10_000 }))
          .useL2Layer(redisDriver({ connection: { host: server.host, port: server.port } })),
      },
    })
    const samples = zipfSamples(KEYS, 0.99, WARM + TOTAL, 42)
    let loads = 0
    const loader = (i: number) => () => {
      loads++
      return user(i)
    }
    const runOurs = (off: number) => (i: number) => {
      const k = samples[off + i]!
      return ours.getOrLoad(`u${k}`, loader(k))
    }
    const runBento = (off: number) => (i: number) => {
      const k = samples[off + i]!
      return bento.getOrSet({ key: `bench-zipf:u${k}`, factory: loader(k), ttl: '1h' })
    }
    await concurrent(runOurs(0), WARM, 64)
    await concurrent(runBento(0), WARM, 64)
    loads = 0
    const rounds = QUICK ? 1 : 3
    const per = Math.floor(TOTAL / rounds)
    const o: Array<{ opsPerSec: number; lat: number[] }> = []
    const b: Array<{ opsPerSec: number; lat: number[] }> = []
    for (let r = 0; r < rounds; r++) {
      o.push(await concurrent(runOurs(WARM + r * per), per, 64))
      b.push(await concurrent(runBento(WARM + r * per), per, 64))
    }
    const summary = (xs: Array<{ opsPerSec: number; lat: number[] }>) => ({
      opsPerSec: median(xs.map((x) => x.opsPerSec)),
      p50: median(xs.map((x) => pct(x.lat, 50))),
      p99: median(xs.map((x) => pct(x.lat, 99))),
    })
    const so = summary(o)
    const sb = summary(b)
    log('\n## Zipf α 0.99 over 100k keys, L1 10k, L2 warm, 64 calls in flight')
    log('| path | ops/s | p50 | p99 |')
    log('|---|---:|---:|---:|')
    log(
      `| redis-aside getOrLoad | ${Math.round(so.opsPerSec).toLocaleString('en')} | ${us(so.p50)} | ${us(so.p99)} |`,
    )
    log(
      `| bentocache getOrSet | ${Math.round(sb.opsPerSec).toLocaleString('en')} | ${us(sb.p50)} | ${us(sb.p99)} |`,
    )
    log(
      `ratio redis-aside / bentocache: ${(so.opsPerSec / sb.opsPerSec).toFixed(2)}× ops/s (target ≥ 2×); loader calls during the run: ${loads}`,
    )
    results.zipf = { ours: so, bento: sb, ratio: so.opsPerSec / sb.opsPerSec, loaderCalls: loads }
    await ours.close()
    await bento.disconnectAll().catch(() => {})
    await bentoWarm.disconnectAll().catch(() => {})
  }

  // ------------------------------------------------------------------ 4. the fenced fill vs a plain SET
  if (section('fill')) {
    // the Redis commands of a fill, raw, interleaved call by call: the 0.1.0 fill (plain SET PX), the fenced
    // fill (FILL: compare-and-set against the load's lease), and the lease a cold miss now takes first
    const ttl = 3_600_000
    const payload = `2benchtoken,${(Date.now() + ttl).toString(36)},0,${(Date.now() + ttl).toString(36)},J${JSON.stringify(user(1))}`
    await redis.script('LOAD', FILL.src)
    await redis.script('LOAD', LEASE.src)
    const n = QUICK ? 3000 : 8000
    const lats: Record<string, number[][]> = {}
    const push = (got: Record<string, number[]>) => {
      for (const [name, l] of Object.entries(got)) (lats[name] ??= []).push(l)
    }
    for (let r = -1; r < ROUNDS; r++) {
      // every key of the compare-and-set holds the lease its fill expects (prepared, not timed)
      const prep = redis.pipeline()
      for (let i = 0; i < n; i++) prep.set(`fill:cas:${r}:${i}`, `3lease${i}`, 'PX', 600_000)
      await prep.exec()
      const got = await interleaved(
        {
          'plain SET PX (the 0.1.0 fill)': (i) => redis.set(`fill:set:${r}:${i}`, payload, 'PX', ttl),
          'FILL compare-and-set (EVALSHA)': (i) =>
            redis.evalsha(FILL.sha, 1, `fill:cas:${r}:${i}`, `lease${i}`, payload, ttl),
          'LEASE on an empty key (EVALSHA)': (i) =>
            redis.evalsha(LEASE.sha, 1, `fill:lease:${r}:${i}`, `3lease${i}`, 30_000),
        },
        r < 0 ? 1000 : n,
      )
      if (r >= 0) push(got) // round -1 warms up
    }
    // a whole cold miss, end to end: redis-aside (GET + LEASE + loader + FILL) against the Redis work of
    // the 0.1.0 miss (GET + SET PX), raw
    const ours = createCache({ redis, namespace: 'bench-cold', ttl })
    const coldN = QUICK ? 2000 : 5000
    for (let r = -1; r < ROUNDS; r++) {
      const got = await interleaved(
        {
          'redis-aside getOrLoad, cold key': (i) => ours.getOrLoad(`c${r}:${i}`, () => user(i)),
          'raw GET + SET PX (the 0.1.0 miss)': async (i) => {
            await redis.get(`raw-cold:${r}:${i}`)
            await redis.set(`raw-cold:${r}:${i}`, payload, 'PX', ttl)
          },
        },
        r < 0 ? 500 : coldN,
      )
      if (r >= 0) push(got)
    }
    await ours.close()
    log(
      '\n## The fenced fill (one in flight, paths interleaved call by call; p50/p99 per round, median over rounds)',
    )
    log('| path | p50 | p99 |')
    log('|---|---:|---:|')
    const fillRes: Record<string, { p50: number; p99: number }> = {}
    for (const [name, rounds] of Object.entries(lats)) {
      const p50 = median(rounds.map((l) => pct(l, 50)))
      const p99 = median(rounds.map((l) => pct(l, 99)))
      fillRes[name] = { p50, p99 }
      log(`| ${name} | ${us(p50)} | ${us(p99)} |`)
    }
    const ratio = (a: string, b: string, p: 'p50' | 'p99') => fillRes[a]![p] / fillRes[b]![p]
    const casVsSet = ratio('FILL compare-and-set (EVALSHA)', 'plain SET PX (the 0.1.0 fill)', 'p50')
    const leaseVsSet = ratio('LEASE on an empty key (EVALSHA)', 'plain SET PX (the 0.1.0 fill)', 'p50')
    const coldVsRaw = ratio('redis-aside getOrLoad, cold key', 'raw GET + SET PX (the 0.1.0 miss)', 'p50')
    log(
      `FILL / plain SET: p50 ${casVsSet.toFixed(2)}×, p99 ${ratio('FILL compare-and-set (EVALSHA)', 'plain SET PX (the 0.1.0 fill)', 'p99').toFixed(2)}×; LEASE / plain SET: p50 ${leaseVsSet.toFixed(2)}×`,
    )
    log(
      `cold getOrLoad / raw GET+SET: p50 ${coldVsRaw.toFixed(2)}×, p99 ${ratio('redis-aside getOrLoad, cold key', 'raw GET + SET PX (the 0.1.0 miss)', 'p99').toFixed(2)}× (one more round trip: the lease)`,
    )
    results.fill = { ...fillRes, casVsSetP50: casVsSet, leaseVsSetP50: leaseVsSet, coldVsRawP50: coldVsRaw }
  }

  mkdirSync('bench-results', { recursive: true })
  writeFileSync('bench-results/redis-aside.json', `${JSON.stringify(results, null, 2)}\n`)
  writeFileSync('bench-results/redis-aside.md', `${lines.join('\n')}\n`)
  redis.disconnect()
  await server.stop()
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e)
    process.exit(1)
  },
)
