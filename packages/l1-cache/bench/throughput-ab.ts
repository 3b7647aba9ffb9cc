/**
 * Throughput A/B of the default policy, each contender in its own process, alternating:
 * `node --import tsx bench/throughput-ab.ts [runs] [before-src]`. A run builds the key stream (Zipf 0.99 over
 * 100k string keys `'key:' + n`, 2M get-then-set-on-miss operations, capacity 10k), warms up with one whole
 * pass on a cache of its own, then times one pass on a fresh cache in CPU time (user + system). Contenders:
 * `@tierkit/l1-cache` as it is (`tinylfu`), optionally another copy of its `src/index.ts` (`before`, e.g. the
 * previous commit's sources unpacked next to this package), and lru-cache 11. Prints the median and min-max of
 * Mops per CPU-second and of the ratio to lru-cache within each round. The machine is shared: say so beside
 * the figures. `L1_TUNING='{"probeWait":1e9}'` times `tinylfu` with other tuning constants (src/tuning.ts).
 */
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const self = fileURLToPath(import.meta.url)
const OPS = 2_000_000

interface Sim {
  get(k: string): unknown
  set(k: string, v: unknown): unknown
}

async function child(which: string, src: string): Promise<void> {
  const { zipf } = await import('./workloads.js')
  const keys = Array.from({ length: 100_000 }, (_, i) => `key:${i}`)
  const stream = Array.from(zipf(100_000, 0.99, OPS, 5), (r) => keys[r]!)
  let make: () => Sim
  if (which === 'lru-cache') {
    const { LRUCache } = await import('lru-cache')
    make = () => new LRUCache<string, object>({ max: 10_000 }) as unknown as Sim
  } else {
    // L1_TUNING (JSON): tuning constants for `tinylfu`, to time a policy variant (see src/tuning.ts)
    if (which === 'tinylfu' && process.env.L1_TUNING) {
      const { TUNING } = await import('../src/tuning.js')
      Object.assign(TUNING, JSON.parse(process.env.L1_TUNING) as object)
    }
    const mod = (await import(which === 'before' ? src : '../src/index.js')) as {
      L1Cache: new (o: { max: number }) => Sim
    }
    make = () => new mod.L1Cache({ max: 10_000 })
  }
  const value = { v: 1 }
  const pass = (c: Sim): number => {
    const t0 = process.cpuUsage()
    for (let i = 0; i < stream.length; i++) {
      const k = stream[i]!
      if (c.get(k) === undefined) c.set(k, value)
    }
    const d = process.cpuUsage(t0)
    return (d.user + d.system) / 1000
  }
  pass(make())
  ;(globalThis as { gc?: () => void }).gc?.()
  process.stdout.write(JSON.stringify({ ms: pass(make()) }))
}

function parent(runs: number, before: string | undefined): void {
  const names = before ? ['tinylfu', 'before', 'lru-cache'] : ['tinylfu', 'lru-cache']
  const ms = new Map<string, number[]>(names.map((n) => [n, []]))
  for (let r = 0; r < runs; r++) {
    const order = names.map((_, i) => names[(i + r) % names.length]!)
    for (const n of order) {
      const out = execFileSync(
        process.execPath,
        ['--expose-gc', '--import', 'tsx', self, 'child', n, before ?? ''],
        {
          encoding: 'utf8',
        },
      )
      ms.get(n)!.push((JSON.parse(out) as { ms: number }).ms)
    }
  }
  const med = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b)
    return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
  }
  const span = (xs: number[], d: number): string =>
    `${med(xs).toFixed(d)} (${Math.min(...xs).toFixed(d)}-${Math.max(...xs).toFixed(d)})`
  console.log(
    `${runs} runs per contender, own process each, alternating; Zipf 0.99, 100k string keys, cap 10k, 2M ops`,
  )
  console.log(
    '| contender | Mops per CPU-s, median (min-max) | vs lru-cache in the same round, median (min-max) |',
  )
  console.log('|---|---|---|')
  const base = ms.get('lru-cache')!
  for (const n of names) {
    const xs = ms.get(n)!
    const ratios = xs.map((t, i) => base[i]! / t)
    console.log(
      `| ${n} | ${span(
        xs.map((t) => OPS / t / 1000),
        2,
      )} | ${span(ratios, 3)} |`,
    )
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

if (process.argv[2] === 'child') await child(process.argv[3]!, process.argv[4]!)
else parent(Number(process.argv[2] ?? 10), process.argv[3] || undefined)
