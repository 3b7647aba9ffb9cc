// How cost grows as work grows: the curves of docs/benchmarks.md, measured and drawn (SVG) by one script.
//   pnpm build && node tools/scripts/curves/index.mjs        (run by `pnpm bench` after the packages' benchmarks)
//   CURVES_RUNS=N (default 3) runs per point; BENCH_FULL=1 adds the 10M-entry points of the l1-cache curves.
// Every point is its own process (tools/scripts/curves/point.ts); the contenders of a point alternate in a
// rotating order, and the median of the runs is drawn. The charts say the machine and the date.
import { spawn, spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { cpus } from 'node:os'
import { join, resolve } from 'node:path'

const root = resolve(import.meta.dirname, '../../..')
const runs = Number(process.env.CURVES_RUNS ?? 3)
const full = process.env.BENCH_FULL === '1'
const only = process.env.CURVES_ONLY?.split(',')
const outDir = join(root, 'docs', 'benchmarks')
const date = new Date().toISOString().slice(0, 10)
const machine = `${cpus().length} cores (${cpus()[0]?.model.replace(/\s+/g, ' ').trim()}), Node ${process.version}, shared`

const CURVES = [
  {
    id: 'l1-throughput',
    title: 'l1-cache: Zipf 0.99 get/set-on-miss by cache size',
    xs: full ? [10_000, 100_000, 1_000_000, 10_000_000] : [10_000, 100_000, 1_000_000],
    xLabel: 'entries (key space 10x, string keys)',
    contenders: ['tierkit', 'lru-cache'],
    unit: 'M ops per CPU-second',
    scale: 1e-6,
  },
  {
    id: 'l1-bytes',
    title: 'l1-cache: heap bytes per entry by cache size',
    xs: full ? [10_000, 100_000, 1_000_000, 10_000_000] : [10_000, 100_000, 1_000_000],
    xLabel: 'entries (16-character string keys, integer values)',
    contenders: ['tierkit', 'lru-cache'],
    unit: 'bytes per entry (lower is better)',
    scale: 1,
  },
  {
    id: 'redis-in-flight',
    title: 'redis-aside: L2 hits (no L1) by calls in flight',
    xs: [1, 16, 64, 256],
    xLabel: 'calls in flight (Redis on loopback)',
    contenders: ['tierkit', 'bentocache', 'ioredis'],
    unit: 'k ops per second',
    scale: 1e-3,
    second: {
      id: 'redis-in-flight-p99',
      title: 'redis-aside: p99 latency of an L2 hit by calls in flight',
      unit: 'p99 ms (lower is better)',
      field: 'p99',
    },
  },
  {
    id: 'pool-threads',
    title: 'worker-pool: small CPU tasks by threads',
    xs: [1, 2, 4, 8],
    xLabel: 'worker threads (4 tasks in flight per thread; this machine has 2 cores)',
    contenders: ['tierkit', 'tinypool', 'piscina'],
    unit: 'tasks per second',
    scale: 1,
  },
  {
    id: 'metrics-record',
    title: 'metrics: cost of one record by label sets',
    xs: [1, 4, 16, 64],
    xLabel: 'layers recorded round-robin',
    contenders: ['tierkit', 'prom-client'],
    unit: 'ns per call (lower is better)',
    scale: 1,
  },
].filter((c) => !only || only.includes(c.id))

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const freePort = () =>
  new Promise((ok) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => ok(port))
    })
  })

const port = await freePort()
const redis = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no'], {
  stdio: 'ignore',
})
process.on('exit', () => redis.kill('SIGKILL'))
await new Promise((r) => setTimeout(r, 300))

function point(curve, contender, x) {
  spawnSync('redis-cli', ['-p', String(port), 'flushall'], { stdio: 'ignore' })
  const r = spawnSync(
    process.execPath,
    [
      '--expose-gc',
      '--max-old-space-size=8192',
      '--import',
      'tsx',
      join(import.meta.dirname, 'point.ts'),
      curve,
      contender,
      String(x),
    ],
    {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, CURVES_REDIS_PORT: String(port) },
      timeout: 600_000,
    },
  )
  if (r.status !== 0) throw new Error(`${curve} ${contender} ${x}: ${r.stderr || r.stdout}`)
  return JSON.parse(r.stdout.trim().split('\n').pop())
}

const COLORS = ['#1f6feb', '#d1242f', '#1a7f37', '#8250df']
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;')
const human = (x) => (x >= 1e6 ? `${x / 1e6}M` : x >= 1e3 ? `${x / 1e3}k` : String(x))
const num = (v) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2))

/** A line chart: x categorical (the measured sizes, evenly spaced), y linear from 0. */
function svg({ title, xLabel, unit, xs, series }) {
  const W = 680
  const H = 380
  const m = { l: 64, r: 150, t: 58, b: 58 }
  const w = W - m.l - m.r
  const h = H - m.t - m.b
  const max = Math.max(...series.flatMap((s) => s.values)) * 1.1 || 1
  const px = (i) => m.l + (xs.length === 1 ? w / 2 : (i * w) / (xs.length - 1))
  const py = (v) => m.t + h - (v / max) * h
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<title>${esc(title)}</title>`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${m.l}" y="22" font-size="15" font-weight="bold">${esc(title)}</text>`,
    `<text x="${m.l}" y="40" fill="#555">${esc(`${machine}, ${date}; median of ${runs} runs, one process each`)}</text>`,
  ]
  for (let k = 0; k <= 5; k++) {
    const v = (max * k) / 5
    out.push(`<line x1="${m.l}" x2="${m.l + w}" y1="${py(v)}" y2="${py(v)}" stroke="#eee"/>`)
    out.push(`<text x="${m.l - 6}" y="${py(v) + 4}" text-anchor="end" fill="#555">${num(v)}</text>`)
  }
  xs.forEach((x, i) => {
    out.push(`<text x="${px(i)}" y="${m.t + h + 18}" text-anchor="middle">${human(x)}</text>`)
  })
  out.push(`<text x="${m.l + w / 2}" y="${H - 12}" text-anchor="middle" fill="#333">${esc(xLabel)}</text>`)
  out.push(
    `<text transform="translate(16 ${m.t + h / 2}) rotate(-90)" text-anchor="middle" fill="#333">${esc(unit)}</text>`,
  )
  series.forEach((s, j) => {
    const c = COLORS[j % COLORS.length]
    const pts = s.values.map((v, i) => `${px(i)},${py(v)}`).join(' ')
    out.push(`<polyline points="${pts}" fill="none" stroke="${c}" stroke-width="2"/>`)
    s.values.forEach((v, i) => {
      out.push(`<circle cx="${px(i)}" cy="${py(v)}" r="3.5" fill="${c}"/>`)
    })
    out.push(`<rect x="${m.l + w + 18}" y="${m.t + j * 20}" width="12" height="12" fill="${c}"/>`)
    out.push(`<text x="${m.l + w + 36}" y="${m.t + j * 20 + 10}">${esc(s.name)}</text>`)
  })
  out.push('</svg>')
  return `${out.join('\n')}\n`
}

mkdirSync(outDir, { recursive: true })
const tables = []
for (const c of CURVES) {
  const raw = Object.fromEntries(c.contenders.map((n) => [n, c.xs.map(() => [])]))
  for (const [i, x] of c.xs.entries()) {
    for (let r = 0; r < runs; r++) {
      const order = c.contenders.map((_, j) => c.contenders[(j + r) % c.contenders.length])
      for (const who of order) raw[who][i].push(point(c.id, who, x))
    }
    console.error(
      `${c.id} ${human(x)}: ${c.contenders.map((n) => `${n} ${num(median(raw[n][i].map((p) => p.value)) * c.scale)}`).join(', ')}`,
    )
  }
  const charts = [{ id: c.id, title: c.title, unit: c.unit, field: 'value', scale: c.scale }]
  if (c.second) charts.push({ ...c.second, scale: 1 })
  for (const chart of charts) {
    const series = c.contenders.map((name) => ({
      name,
      values: raw[name].map((ps) => median(ps.map((p) => p[chart.field])) * chart.scale),
    }))
    writeFileSync(
      join(outDir, `${chart.id}.svg`),
      svg({ title: chart.title, xLabel: c.xLabel, unit: chart.unit, xs: c.xs, series }),
    )
    const head = `| ${chart.unit} | ${c.xs.map(human).join(' | ')} |\n|---|${c.xs.map(() => '---:').join('|')}|`
    const rows = series.map((s) => `| ${s.name} | ${s.values.map(num).join(' | ')} |`).join('\n')
    tables.push({ id: chart.id, text: `![${chart.title}](benchmarks/${chart.id}.svg)\n\n${head}\n${rows}\n` })
  }
}

// the figures beside the charts, between the markers of each chart in docs/benchmarks.md
const doc = join(root, 'docs', 'benchmarks.md')
let text = readFileSync(doc, 'utf8')
for (const t of tables) {
  const re = new RegExp(`(<!-- curve:${t.id} -->\\n)[\\s\\S]*?(<!-- /curve:${t.id} -->)`)
  if (re.test(text)) text = text.replace(re, `$1${t.text}$2`)
}
text = text.replace(/(<!-- curves-machine -->)[^\n]*/, `$1 ${machine}, ${date}, ${runs} runs per point`)
writeFileSync(doc, text)
console.error(`curves: ${tables.length} charts in docs/benchmarks/, figures in docs/benchmarks.md`)
process.exit(0)
