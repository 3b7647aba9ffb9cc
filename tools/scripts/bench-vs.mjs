// tierkit against its anchors, each contender in its own process, alternating (issue 18):
//   pnpm build && node tools/scripts/bench-vs.mjs [--cases ra-l1-hit,ra-zipf] [--runs 10]   (no --cases: all)
// `pnpm bench` runs it after the packages' own benchmarks. VS_REDIS_ASIDE_BEFORE=<a built index.js> adds
// another build of redis-aside (an older commit's) to the redis-aside cases as `tierkit-before`, so that a
// before/after is measured in the same run, by the same method.
// The cases are defined in tools/scripts/vs/*.ts (the `cases` export of each module; shared.ts says what a case
// is); `node --import tsx tools/scripts/vs/point.ts --list` lists them. One run of one contender is one fresh
// process, `node --expose-gc --import tsx tools/scripts/vs/point.ts <case> <contender>`, printing one JSON line
// of metrics (higher is better; the first is the headline, usually operations per CPU-second of that process)
// and notes. The contenders of a case alternate in a rotating order, round by round, so that all of them see
// the same drift of a shared machine; each warms up inside its process before its clock starts (see the case).
// tierkit is loaded from the built packages (dist/), the anchors from the packages that pin them.
// Cases that need Redis get one redis-server for the whole run (@tierkit/testkit, on a free port, stopped at
// exit), flushed before each run. Reported per case and metric: each contender's median and min–max over the
// runs, its median as a ratio to the case's baseline, and tierkit ÷ that contender (median and min–max of the
// per-round ratios). Results also go to bench-results/vs.json (not committed).
import { spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { join, resolve } from 'node:path'
import { tsImport } from 'tsx/esm/api'

const root = resolve(import.meta.dirname, '../..')
const point = join(root, 'tools/scripts/vs/point.ts')
const args = process.argv.slice(2)
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`)
  return i === -1 ? dflt : args[i + 1]
}
const runs = Number(opt('runs', '10'))

const node = (argv, env = {}) =>
  spawnSync(process.execPath, argv, {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 600_000,
  })
const listed = node(['--import', 'tsx', point, '--list'])
if (listed.status !== 0) throw new Error(`point.ts --list failed: ${listed.stderr}`)
const catalogue = JSON.parse(listed.stdout.trim().split('\n').pop())
// no --cases: every case (what `pnpm bench` runs)
const cases = (opt('cases', '') || Object.keys(catalogue).join(',')).split(',').filter(Boolean)
if (cases.length === 0 || cases.some((c) => !catalogue[c]) || !(runs >= 1)) {
  console.error(
    `usage: node tools/scripts/bench-vs.mjs [--cases a,b] [--runs 10]; cases: ${Object.keys(catalogue).join(', ')}`,
  )
  process.exit(2)
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const fmt = (v) =>
  v >= 1e6 ? `${(v / 1e6).toFixed(2)} M` : v >= 1e3 ? `${(v / 1e3).toFixed(1)} k` : v.toFixed(1)
const range = (xs, f) => `${f(Math.min(...xs))}–${f(Math.max(...xs))}`
const x2 = (v) => `${v.toFixed(2)}×`

let redis
if (cases.some((c) => catalogue[c].redis)) {
  const { startRedis } = await tsImport('../testkit/src/core.ts', import.meta.url)
  redis = await startRedis()
}
const flush = () => {
  if (redis) spawnSync('redis-cli', ['-p', String(redis.port), 'flushall'], { stdio: 'ignore' })
}

function once(name, contender) {
  flush()
  const r = node(['--expose-gc', '--import', 'tsx', point, name, contender], {
    VS_REDIS_PORT: redis ? String(redis.port) : '',
  })
  if (r.status !== 0) throw new Error(`${name} ${contender} failed: ${r.stderr || r.stdout}`)
  return JSON.parse(r.stdout.trim().split('\n').pop())
}

/** The rows of one metric of one case: per contender, median [min–max], ×baseline, tierkit ÷ it. */
function rows(name, c, raw, metric) {
  const values = (who) => raw[who].map((r) => r.metrics[metric])
  const base = median(values(c.baseline))
  const out = []
  for (const who of c.contenders) {
    const v = values(who)
    const m = median(v)
    let vs = ''
    if (who !== 'tierkit' && raw.tierkit) {
      const per = values('tierkit').map((t, i) => t / v[i])
      vs = `${x2(median(per))} [${range(per, x2)}]`
    }
    out.push({
      who,
      m,
      v,
      line: `| ${name} | ${metric} | ${who} | ${fmt(m)} [${range(v, fmt)}] | ${x2(m / base)} | ${vs} |`,
    })
  }
  return out
}

const results = {}
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')
const machine = `${cpus().length} cores, Node ${process.versions.node}, ${new Date().toISOString().slice(0, 16)}Z`
console.log(
  `bench-vs: ${runs} runs per contender, one process each, alternating (rotating order); ${machine}`,
)
const before = process.env.VS_REDIS_ASIDE_BEFORE
console.log(`load average at start: ${load()}${before ? `; tierkit-before: ${before}` : ''}\n`)
console.log(
  '| case | metric | contender | median [min–max] | ÷ baseline | tierkit ÷ it, per round: median [min–max] |',
)
console.log('|---|---|---|---:|---:|---:|')
for (const name of cases) {
  const c = catalogue[name]
  const raw = Object.fromEntries(c.contenders.map((who) => [who, []]))
  for (let r = 0; r < runs; r++) {
    const order = c.contenders.map((_, j) => c.contenders[(j + r) % c.contenders.length])
    for (const who of order) raw[who].push(once(name, who))
  }
  const metrics = Object.keys(raw[c.baseline][0].metrics)
  const summary = {}
  for (const metric of metrics) {
    for (const row of rows(name, c, raw, metric)) {
      console.log(row.line)
      ;(summary[row.who] ??= {})[metric] = { median: row.m, values: row.v }
    }
  }
  const notes = Object.fromEntries(c.contenders.map((who) => [who, raw[who].map((r) => r.notes ?? {})]))
  results[name] = { baseline: c.baseline, summary, notes }
}
console.log(`\nload average at the end: ${load()}`)
mkdirSync(join(root, 'bench-results'), { recursive: true })
writeFileSync(
  join(root, 'bench-results', 'vs.json'),
  `${JSON.stringify({ machine, runs, results }, null, 2)}\n`,
)
await redis?.close()
process.exit(0)
