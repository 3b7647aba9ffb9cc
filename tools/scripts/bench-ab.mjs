// A/B benchmark of this checkout's built packages against another build, for the hot paths in
// tools/scripts/ab/cases.ts (l1-cache, redis-aside, invalidation, metrics, cdn-headers, worker-pool).
//   pnpm build && node tools/scripts/bench-ab.mjs --against <checkout dir or git rev> [--runs 10] [--cases a,b]
// A git rev is checked out into a temporary worktree, installed offline from the pnpm store and built.
// Each run of a case is its own process; the two builds alternate (A B, B A, A B, ...), so both see the same
// drift of a shared machine. Reported per case: each build's median and min–max over the runs, the ratio of the
// medians, and the median and min–max of the per-pair ratios (after / before of the two runs of one round).
// Noise: a difference is called one only when the per-pair ratios lie all on one side of 1 and the ratio of the
// medians is off 1 by more than half the wider of the two builds' relative spreads ((max − min) / median).
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

const root = resolve(import.meta.dirname, '../..')
const args = process.argv.slice(2)
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`)
  return i === -1 ? dflt : args[i + 1]
}
const runs = Number(opt('runs', '10'))
const ALL = [
  'l1-zipf',
  'l1-zipf-ttl',
  'l1-zipf-lru',
  'l1-hits',
  'l1-hits-ttl',
  'ra-l1-hit',
  'ra-l2-hit',
  'wb-write',
  'metrics-record',
  'cdn-compile',
  'cdn-compile-query',
  'pool-noop',
]
const cases = (opt('cases', '') || ALL.join(',')).split(',')
const against = opt('against')
if (!against) {
  console.error(
    'usage: node tools/scripts/bench-ab.mjs --against <checkout dir or git rev> [--runs 10] [--cases a,b]',
  )
  process.exit(2)
}

function checkoutOf(ref) {
  try {
    execFileSync('test', ['-d', join(ref, 'packages')])
    return resolve(ref)
  } catch {}
  const dir = mkdtempSync(join(tmpdir(), 'tierkit-ab-'))
  const sh = (cmd, a, cwd) => execFileSync(cmd, a, { cwd, stdio: ['ignore', 'ignore', 'inherit'] })
  sh('git', ['worktree', 'add', '--detach', dir, ref], root)
  sh('pnpm', ['install', '--offline', '--frozen-lockfile'], dir)
  sh('pnpm', ['build'], dir)
  return dir
}

const freePort = () =>
  new Promise((ok) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => ok(port))
    })
  })

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const fmt = (v) =>
  v >= 1e6 ? `${(v / 1e6).toFixed(2)} M` : v >= 1e3 ? `${(v / 1e3).toFixed(1)} k` : v.toFixed(0)

const before = checkoutOf(against)
const port = await freePort()
const redis = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no'], {
  stdio: 'ignore',
})
process.on('exit', () => redis.kill('SIGKILL'))
await new Promise((r) => setTimeout(r, 300))

function once(name, checkout) {
  spawnSync('redis-cli', ['-p', String(port), 'flushall'], { stdio: 'ignore' })
  const r = spawnSync(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', join(root, 'tools/scripts/ab/cases.ts'), name, checkout],
    { cwd: root, encoding: 'utf8', env: { ...process.env, AB_REDIS_PORT: String(port) }, timeout: 300_000 },
  )
  if (r.status !== 0) throw new Error(`${name} on ${checkout} failed: ${r.stderr || r.stdout}`)
  return JSON.parse(r.stdout.trim().split('\n').pop())
}

const results = []
console.log(`A/B: before = ${before}, after = ${root}; ${runs} runs each, alternating, one process per run\n`)
console.log(
  '| case | unit | before median [min–max] | after median [min–max] | after/before (medians) | per-pair ratio median [min–max] | verdict |',
)
console.log('|---|---|---:|---:|---:|---:|---|')
for (const name of cases) {
  const a = []
  const b = []
  let unit = ''
  for (let r = 0; r < runs; r++) {
    const order = r % 2 === 0 ? ['a', 'b'] : ['b', 'a']
    for (const side of order) {
      const res = once(name, side === 'a' ? before : root)
      unit = res.unit
      ;(side === 'a' ? a : b).push(res.value)
    }
  }
  const ma = median(a)
  const mb = median(b)
  const pairs = a.map((x, i) => b[i] / x)
  const spread = Math.max((Math.max(...a) - Math.min(...a)) / ma, (Math.max(...b) - Math.min(...b)) / mb)
  const ratio = mb / ma
  const oneSide = pairs.every((p) => p < 1) || pairs.every((p) => p > 1)
  const verdict =
    oneSide && Math.abs(ratio - 1) > spread / 2 ? (ratio < 1 ? 'slower' : 'faster') : 'within noise'
  results.push({ name, unit, before: a, after: b, ratio, pairs, spread, verdict })
  console.log(
    `| ${name} | ${unit} | ${fmt(ma)} [${fmt(Math.min(...a))}–${fmt(Math.max(...a))}] | ${fmt(mb)} [${fmt(Math.min(...b))}–${fmt(Math.max(...b))}] | ${ratio.toFixed(3)} | ${median(pairs).toFixed(3)} [${Math.min(...pairs).toFixed(3)}–${Math.max(...pairs).toFixed(3)}] | ${verdict} |`,
  )
}
mkdirSync(join(root, 'bench-results'), { recursive: true })
writeFileSync(
  join(root, 'bench-results', 'ab.json'),
  `${JSON.stringify({ before, after: root, runs, results }, null, 2)}\n`,
)
process.exit(0)
