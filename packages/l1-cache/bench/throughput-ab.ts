/**
 * Throughput A/B, each contender in its own process, alternating:
 * `node --expose-gc --import tsx bench/throughput-ab.ts [runs] [before-src]`. A run builds the key stream (Zipf
 * 0.99 over 100k keys, 2M get-then-set-on-miss operations, capacity 10k), warms up with one whole pass on a
 * cache of its own (the same stream: every path the timed pass takes, the first ageing at 400k lookups
 * included, has run and been compiled), then times one pass on a fresh cache in CPU time (user + system).
 * Keys: string keys `'key:' + n` (the headline) and integer keys `n`, each timed in processes of their own.
 * Contenders: `@tierkit/l1-cache` as it is (`tinylfu`, TTL off, 60 s and 10 min; nothing expires during a pass),
 * optionally another copy of its `src/index.ts` (`before`, e.g. the previous commit's sources unpacked next
 * to this package), and lru-cache 11 (TTL off and 10 min). Prints, per key type, the median and min-max of Mops
 * per CPU-second, of the ratio to lru-cache within each round, and the TTL cost (1 - speed with TTL / without,
 * within each round). The machine is shared: say so beside the figures. `AB_ONLY=tinylfu,lru-cache` times
 * some contenders only, `AB_KEYS=string` one key type only. `L1_TUNING='{"probeWait":1e9}'` times `tinylfu`
 * with other tuning constants (src/tuning.ts). `AB_KEEP=1` keeps the warm-up cache referenced through the timed
 * pass: by default it is collected just before (`gc()`), and V8 then throws away the optimized code that held
 * its objects as constants (`--trace-deopt`: "weak objects", 34 functions of `tinylfu`, 7 of lru-cache), so the
 * timed pass also re-optimizes; with a TTL the cache's clock keeps it referenced anyway (no such deopt), which
 * made TTL look faster than no TTL. State which one a figure used.
 */
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const self = fileURLToPath(import.meta.url)
const OPS = 2_000_000
const N_KEYS = 100_000

interface Sim {
  get(k: unknown): unknown
  set(k: unknown, v: unknown): unknown
}

/** Contender name -> [module ('l1', 'before', 'lru-cache'), TTL in ms (0: none)]. */
const CONTENDERS: Record<string, [string, number]> = {
  tinylfu: ['l1', 0],
  'tinylfu ttl 60s': ['l1', 60_000],
  'tinylfu ttl 10min': ['l1', 600_000],
  before: ['before', 0],
  'before ttl 60s': ['before', 60_000],
  'lru-cache': ['lru-cache', 0],
  'lru-cache ttl 10min': ['lru-cache', 600_000],
}

async function child(which: string, keyType: string, src: string): Promise<void> {
  const { zipf } = await import('./workloads.js')
  const ranks = zipf(N_KEYS, 0.99, OPS, 5)
  const keys: unknown[] =
    keyType === 'int'
      ? Array.from({ length: N_KEYS }, (_, i) => i)
      : Array.from({ length: N_KEYS }, (_, i) => `key:${i}`)
  const stream = Array.from(ranks, (r) => keys[r])
  const [mod, ttl] = CONTENDERS[which]!
  let make: () => Sim
  if (mod === 'lru-cache') {
    const { LRUCache } = await import('lru-cache')
    make = () =>
      new LRUCache<never, object>(ttl > 0 ? { max: 10_000, ttl } : { max: 10_000 }) as unknown as Sim
  } else {
    // L1_TUNING (JSON): tuning constants for `tinylfu`, to time a policy variant (see src/tuning.ts)
    if (mod === 'l1' && process.env.L1_TUNING) {
      const { TUNING } = await import('../src/tuning.js')
      Object.assign(TUNING, JSON.parse(process.env.L1_TUNING) as object)
    }
    const m = (await import(mod === 'before' ? src : '../src/index.js')) as {
      L1Cache: new (o: { max: number; ttl?: number }) => Sim
    }
    make = () => new m.L1Cache(ttl > 0 ? { max: 10_000, ttl } : { max: 10_000 })
  }
  const value = { v: 1 }
  const pass = (c: Sim): number => {
    const t0 = process.cpuUsage()
    for (let i = 0; i < stream.length; i++) {
      const k = stream[i]
      if (c.get(k) === undefined) c.set(k, value)
    }
    const d = process.cpuUsage(t0)
    return (d.user + d.system) / 1000
  }
  // AB_KEEP=1: the warm-up cache stays referenced during the timed pass (else it is collected before it, and
  // optimized code that held its objects as constants is thrown away at that collection: see the README)
  let warm: Sim | null = make()
  pass(warm)
  if (process.env.AB_KEEP !== '1') warm = null
  ;(globalThis as { gc?: () => void }).gc?.()
  process.stdout.write(JSON.stringify({ ms: pass(make()), kept: warm !== null }))
}

const med = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
const span = (xs: number[], d: number): string =>
  `${med(xs).toFixed(d)} (${Math.min(...xs).toFixed(d)}-${Math.max(...xs).toFixed(d)})`

function report(keyType: string, names: string[], ms: Map<string, number[]>, runs: number): void {
  console.log(
    `\n### ${keyType} keys: ${runs} runs per contender, own process each, alternating; Zipf 0.99, 100k keys, cap 10k, 2M ops\n`,
  )
  console.log(
    '| contender | Mops per CPU-s, median (min-max) | vs lru-cache in the same round, median (min-max) |',
  )
  console.log('|---|---|---|')
  const base = ms.get('lru-cache')
  for (const n of names) {
    const xs = ms.get(n)!
    const vs = base
      ? span(
          xs.map((t, i) => base[i]! / t),
          3,
        )
      : '-'
    console.log(
      `| ${n} | ${span(
        xs.map((t) => OPS / t / 1000),
        2,
      )} | ${vs} |`,
    )
  }
  console.log('\nTTL cost (1 - speed with TTL / without, in the same round), median (min-max):\n')
  for (const n of names) {
    const plain = ms.get(n.replace(/ ttl .*$/, ''))
    if (n.includes(' ttl ') && plain) {
      const xs = ms.get(n)!
      console.log(
        `- ${n}: ${span(
          xs.map((t, i) => (1 - plain[i]! / t) * 100),
          1,
        )}%`,
      )
    }
  }
  const was = ms.get('before')
  if (was) {
    const now = ms.get('tinylfu')!
    console.log(
      `\ntinylfu vs before in the same round (speed ratio): ${span(
        now.map((t, i) => was[i]! / t),
        3,
      )}`,
    )
  }
}

function parent(runs: number, before: string | undefined): void {
  const only = process.env.AB_ONLY?.split(',')
  const names = Object.keys(CONTENDERS).filter(
    (n) => (before || !n.startsWith('before')) && (!only || only.includes(n)),
  )
  const keyTypes = (process.env.AB_KEYS ?? 'string,int').split(',')
  const ms = new Map<string, number[]>()
  for (const kt of keyTypes) for (const n of names) ms.set(`${kt}|${n}`, [])
  for (let r = 0; r < runs; r++) {
    for (const kt of keyTypes) {
      const order = names.map((_, i) => names[(i + r) % names.length]!)
      for (const n of order) {
        const out = execFileSync(
          process.execPath,
          ['--expose-gc', '--import', 'tsx', self, 'child', n, kt, before ?? ''],
          { encoding: 'utf8' },
        )
        ms.get(`${kt}|${n}`)!.push((JSON.parse(out) as { ms: number }).ms)
      }
    }
  }
  console.log(
    `${new Date().toISOString()}, Node ${process.version}; warm-up: one whole pass on a cache of its own`,
  )
  for (const kt of keyTypes) {
    const sub = new Map(names.map((n) => [n, ms.get(`${kt}|${n}`)!]))
    report(kt, names, sub, runs)
  }
}

if (process.argv[2] === 'child') await child(process.argv[3]!, process.argv[4]!, process.argv[5]!)
else parent(Number(process.argv[2] ?? 10), process.argv[3] || undefined)
