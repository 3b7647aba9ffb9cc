/**
 * `pnpm --filter @tierkit/demo bench`: requests per second of GET /api/public/products/:id served from L1 (the
 * whole demo stack: cdn-headers plugin, redis-aside L1 hit, metrics, onResponse hook), against the anchor, a bare
 * Fastify route returning the same JSON from a constant. Both servers run in their own process; rounds alternate;
 * medians of req/s and of req per CPU-second of the server process (the machine is shared) are reported as ratios.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const CONNECTIONS = 10

function start(args: string[], env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  process.on('exit', () => child.kill('SIGKILL'))
  let out = ''
  return new Promise((resolve, reject) => {
    child.once('exit', (c) => reject(new Error(`exited ${c}: ${out}`)))
    child.stdout!.on('data', (d) => {
      out += d
      const m = /listening on (http:\/\/[\d.:]+)/.exec(out)
      if (m) resolve({ child, url: m[1]! })
    })
  })
}

/** CPU seconds (user + system) of a process, from /proc. */
function cpu(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(f[11]) + Number(f[12])) / 100
}

async function round(url: string, pid: number): Promise<{ rps: number; perCpu: number; non2xx: number }> {
  const c0 = cpu(pid)
  const r = (await autocannon({
    url: `${url}/api/public/products/1`,
    connections: CONNECTIONS,
    duration: SECONDS,
  })) as autocannon.Result
  const used = cpu(pid) - c0
  return {
    rps: r.requests.average,
    perCpu: r.requests.total / Math.max(used, 0.01),
    non2xx: r.non2xx + r.errors,
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

async function main(): Promise<void> {
  const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url))
  const bare = fileURLToPath(new URL('./bare.mts', import.meta.url))
  const demo = await start([cli], { PORT: '0', LOG_LEVEL: 'silent' })
  const body = await (await fetch(`${demo.url}/api/public/products/1`)).text() // loads it into L1
  await fetch(`${demo.url}/api/public/products/1`)
  const anchor = await start([bare], { BODY: body })
  const check = await (await fetch(`${anchor.url}/api/public/products/1`)).text()
  if (check !== body) throw new Error('the anchor does not return the same JSON')
  const results = {
    demo: [] as Array<Awaited<ReturnType<typeof round>>>,
    bare: [] as Array<Awaited<ReturnType<typeof round>>>,
  }
  for (let i = 0; i < ROUNDS; i++) {
    results.bare.push(await round(anchor.url, anchor.child.pid!))
    results.demo.push(await round(demo.url, demo.child.pid!))
  }
  const stats = (await (await fetch(`${demo.url}/api/stats`)).json()) as {
    layers: { l1: { hitRate: number } }
  }
  // graceful stop, awaited: the demo stops the redis-server it started
  await Promise.all(
    [demo.child, anchor.child].map((c) => {
      const done = new Promise((r) => c.once('exit', r))
      c.kill('SIGTERM')
      return done
    }),
  )
  const rd = median(results.demo.map((r) => r.rps))
  const rb = median(results.bare.map((r) => r.rps))
  const cd = median(results.demo.map((r) => r.perCpu))
  const cb = median(results.bare.map((r) => r.perCpu))
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
  console.log(
    `GET /api/public/products/1 (${body.length} B JSON), autocannon 9, ${CONNECTIONS} connections, ${ROUNDS} alternating rounds of ${SECONDS} s, load average ${load}`,
  )
  console.log('| server | req/s (median) | req per server CPU-second (median) |')
  console.log('| --- | ---: | ---: |')
  console.log(`| bare Fastify route, constant JSON (anchor) | ${rb.toFixed(0)} | ${cb.toFixed(0)} |`)
  console.log(`| demo route served from L1 | ${rd.toFixed(0)} | ${cd.toFixed(0)} |`)
  console.log(`| **ratio demo / anchor** | **${(rd / rb).toFixed(2)}x** | **${(cd / cb).toFixed(2)}x** |`)
  console.log(
    `non-2xx/errors: demo ${results.demo.reduce((a, r) => a + r.non2xx, 0)}, anchor ${results.bare.reduce((a, r) => a + r.non2xx, 0)}; L1 hit rate of the demo ${(stats.layers.l1.hitRate * 100).toFixed(3)}%`,
  )
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e)
    process.exit(1)
  },
)
