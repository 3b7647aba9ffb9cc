/**
 * Policy study: the hit ratio of the default policy against LRU and Belady's optimum (OPT) on every real trace
 * of bench/traces at 1%, 5% and 20% of its distinct keys, and on the synthetic workloads (recency-heavy, phase
 * changes, a loop larger than the cache, recency bursts, scans over a hot set, a shifting working set, Zipf),
 * for a list of W-TinyLFU tunings (src/tuning.ts). Prints a markdown table per tuning and the two targets:
 * the worst cell against LRU (never more than 0.5 point below) and the median share of the LRU->OPT gap closed.
 * This is how the defaults in src/tuning.ts (TUNING) were chosen.
 *
 * Usage (from packages/l1-cache): `node --import tsx bench/policy-study.ts` (the defaults), or with tunings:
 * `node --import tsx bench/policy-study.ts '[{}, {"bias": 0}]'`. Reads only bench/traces; OPT is computed
 * offline here (orm-night's 5M references take a few seconds). Deterministic: no clock, seeded streams.
 */
import { L1Cache } from '../src/index.js'
import { TUNING } from '../src/tuning.js'
import {
  distinct,
  hitRatio,
  loadTrace,
  loopOver,
  optHitRatio,
  phaseChanges,
  recencyBursts,
  recencyHeavy,
  shifting,
  TRACES,
  zipf,
  zipfWithScans,
} from './workloads.js'

interface Row {
  name: string
  stream: Int32Array
  cap: number
  /** One of the 24 trace x size cells the targets are judged on. */
  real: boolean
  lru: number
  opt: number
}

const rows: Row[] = []
for (const t of TRACES) {
  const s = loadTrace(t)
  const d = distinct(s)
  for (const p of [1, 5, 20]) {
    const cap = Math.max(1, Math.round((d * p) / 100))
    rows.push({ name: `${t} ${p}%`, stream: s, cap, real: true, lru: 0, opt: 0 })
  }
}
const synthetic: [string, Int32Array, number][] = [
  ['phase changes (recency, loop, Zipf; 9 x 100k)', phaseChanges(9, 100_000, 1500), 1000],
  ['loop over 1.5 x capacity', loopOver(1500, 300_000), 1000],
  ['recency bursts over Zipf 0.8', recencyBursts(50_000, 0.8, 500_000, 0.2, 200), 1000],
  ['Zipf 0.9 hot set + 3k-key scans', zipfWithScans(5000, 0.9, 500_000, 10_000, 3000), 1000],
  ['recency-heavy, depth 40', recencyHeavy(200_000, 40, 0.2), 100],
  ['recency-heavy, depth 300', recencyHeavy(500_000, 300, 0.1), 1000],
  ['recency-heavy, depth 2000', recencyHeavy(500_000, 2000, 0.05, 9), 5000],
  ['shifting Zipf 0.9 (new set every 100k)', shifting(20_000, 0.9, 100_000, 600_000), 1000],
  ['Zipf 0.8, 100k keys', zipf(100_000, 0.8, 2_000_000), 1000],
]
for (const [name, stream, cap] of synthetic) rows.push({ name, stream, cap, real: false, lru: 0, opt: 0 })
for (const r of rows) {
  r.lru = hitRatio(new L1Cache<number, number>({ max: r.cap, policy: 'lru' }), r.stream)
  r.opt = optHitRatio(r.stream, r.cap)
}

/** Share of the LRU->OPT gap closed; where LRU is optimal (no gap), 1 if at LRU (to 0.05 point), else -1. */
function closed(ours: number, r: Row): number {
  const gap = r.opt - r.lru
  if (gap > 0.05) return (ours - r.lru) / gap
  return ours - r.lru >= -0.05 ? 1 : -1
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2
}
const f = (x: number): string => x.toFixed(2)

const grid = JSON.parse(process.argv[2] ?? '[{}]') as Record<string, unknown>[]
const defaults = { ...TUNING }
for (const g of grid) {
  Object.assign(TUNING, defaults, g)
  console.log(`\n### tuning ${JSON.stringify(g)}\n`)
  console.log(
    '| workload | capacity | LRU % | OPT % | tierkit % | vs LRU (points) | gap closed | final window |',
  )
  console.log('|---|---|---|---|---|---|---|---|')
  const shares: number[] = []
  let worst = Number.POSITIVE_INFINITY
  let worstName = ''
  for (const r of rows) {
    const c = new L1Cache<number, number>({ max: r.cap })
    const ours = hitRatio(c, r.stream)
    const d = ours - r.lru
    const share = closed(ours, r)
    if (r.real) {
      shares.push(share)
      if (d < worst) {
        worst = d
        worstName = r.name
      }
    }
    const window = `${(c.stats().windowRatio * 100).toFixed(0)}%`
    console.log(
      `| ${r.name} | ${r.cap} | ${f(r.lru)} | ${f(r.opt)} | ${f(ours)} | ${d >= 0 ? '+' : ''}${f(d)} | ${(share * 100).toFixed(0)}% | ${window} |`,
    )
  }
  console.log(
    `\nTraces x sizes: worst ${f(worst)} points against LRU (${worstName}; target >= -0.5), median gap closed ${(median(shares) * 100).toFixed(1)}% (target >= 50%)`,
  )
}
