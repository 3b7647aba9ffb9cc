/**
 * Policy study: runs the hit-ratio targets (traces, Zipf, synthetic recency-heavy and shifting workloads) for a
 * list of W-TinyLFU tunings and prints which targets each misses. This is how the defaults in src/tuning.ts
 * (TUNING) were chosen. Usage: node --import tsx bench/policy-study.ts '[{}, {"step": 0.1}]'
 */
import { LRUCache } from 'lru-cache'
import { L1Cache } from '../src/index.js'
import { TUNING } from '../src/tuning.js'
import { distinct, hitRatio, loadTrace, recencyHeavy, type SimCache, shifting, zipf } from './workloads.js'

const rows: [string, Int32Array, number, number][] = []
const OPT: Record<string, number> = {
  'loop@5': 4.9,
  'loop@20': 19.9,
  'multi1@5': 49.3,
  'multi1@20': 59.3,
  'gli@5': 9.4,
  'gli@20': 34.7,
}
for (const t of ['loop', 'multi1', 'gli', 'web07'] as const) {
  const s = loadTrace(t)
  const d = distinct(s)
  for (const p of [1, 5, 20]) rows.push([`${t}@${p}`, s, Math.max(1, Math.round((d * p) / 100)), 0])
}
for (const a of [0.8, 0.99, 1.2]) rows.push([`zipf${a}`, zipf(100000, a, 2000000), 1000, 0])
rows.push(['rec1k', recencyHeavy(500000, 300, 0.1), 1000, 0])
rows.push(['rec100', recencyHeavy(200000, 40, 0.2), 100, 0])
rows.push(['rec5k', recencyHeavy(500000, 2000, 0.05, 9), 5000, 0])
rows.push(['shift', shifting(20000, 0.9, 100000, 600000), 1000, 0])
const lru = rows.map(([, s, cap]) =>
  hitRatio(new LRUCache<number, number>({ max: cap }) as unknown as SimCache, s),
)
const grid = JSON.parse(process.argv[2] ?? '[{}]') as Record<string, number | boolean>[]
for (const g of grid) {
  Object.assign(TUNING, g)
  let out = '',
    fails: string[] = [],
    worst = 99
  rows.forEach(([name, s, cap], i) => {
    const ours = hitRatio(new L1Cache<number, number>({ max: cap }), s)
    const l = lru[i]!
    const d = ours - l
    if (d < worst) worst = d
    if (d < -1) fails.push(`${name}:${d.toFixed(2)}`)
    if (OPT[name] !== undefined && ours < (l + OPT[name]!) / 2)
      fails.push(`${name}:half(${ours.toFixed(2)}<${((l + OPT[name]!) / 2).toFixed(2)})`)
    if (name.startsWith('zipf')) {
      const red = 1 - (100 - ours) / (100 - l)
      if (red < 0.15) fails.push(`${name}:red ${(red * 100).toFixed(1)}%`)
      out += ` ${name}=${(red * 100).toFixed(1)}%`
    } else out += ` ${name}=${d.toFixed(1)}`
  })
  console.log(JSON.stringify(g), 'worst', worst.toFixed(2), 'FAILS', fails.join(' ') || 'none', '\n   ', out)
}
