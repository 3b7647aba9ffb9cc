/**
 * `pnpm --filter @tierkit/demo load [--duration S] [--connections N] [--zipf S] [--chaos] [--read-only] [--instances N] [--cdn] [--url URL]`
 *
 * Starts Redis (a local redis-server) and the demo in a child process (SQLite unless DATABASE_URL is set), runs
 * the load, prints the table and writes a JSON report to reports/. `--chaos` stops Redis a third of the way in
 * and starts it again at two thirds; the report lists failed requests and when the circuit opened and closed.
 * `--read-only` drops the writes (views, updates) from the mix. `--url` targets a demo that is already running
 * instead (no chaos then).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { formatTable, type LoadReport, runLoad } from './load.js'
import { findRedisServer, type LocalRedis, startLocalRedis } from './redis-server.js'

const here = dirname(fileURLToPath(import.meta.url))
const fromSource = import.meta.url.endsWith('.ts')

function num(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (!Number.isFinite(n) || n < min || n > max)
    throw new Error(`--${name} must be a number from ${min} to ${max}, got "${raw}"`)
  return n
}

async function startChild(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ child: ChildProcess; urls: string[]; cdn: string | undefined }> {
  const cli = join(here, fromSource ? 'cli.ts' : 'cli.js')
  const child = spawn(process.execPath, [...(fromSource ? ['--import', 'tsx'] : []), cli, ...args], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  process.on('exit', () => child.kill('SIGKILL'))
  let out = ''
  const want = Number(args[args.indexOf('--instances') + 1] ?? 1) || 1
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the demo exited with code ${code}:\n${out}`)))
    child.stdout!.on('data', (d: Buffer) => {
      out += d
      process.stderr.write(d)
      const urls = [...out.matchAll(/listening on (http:\/\/\S+)/g)].map((m) => m[1]!)
      const cdn = /CDN \(nginx proxy_cache\) in front: (http:\/\/\S+)/.exec(out)?.[1]
      if (urls.length >= want && (!args.includes('--cdn') || cdn)) resolve({ child, urls, cdn })
    })
  })
}

function cliOptions() {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      zipf: { type: 'string' },
      chaos: { type: 'boolean', default: false },
      'read-only': { type: 'boolean', default: false },
      instances: { type: 'string', default: '1' },
      cdn: { type: 'boolean', default: false },
      url: { type: 'string' },
      out: { type: 'string' },
    },
  })
  return {
    values,
    duration: num('duration', values.duration, values.chaos ? 30 : 20, 1, 3600),
    warmup: num('warmup', values.warmup, 5, 0, 600),
    connections: num('connections', values.connections, 16, 1, 1000),
    zipf: num('zipf', values.zipf, 1.2, 0.1, 5),
  }
}

type CliOptions = ReturnType<typeof cliOptions>

/** What the load runs against: `--url`, or a demo started here (with a local redis-server unless REDIS_URL). */
interface Targets {
  targets: string[]
  origins: string[]
  redis: LocalRedis | undefined
  child: ChildProcess | undefined
}

async function startTargets({ values }: CliOptions): Promise<Targets> {
  if (values.url) return { targets: [values.url], origins: [values.url], redis: undefined, child: undefined }
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' }
  let redis: LocalRedis | undefined
  if (!env.REDIS_URL) {
    const bin = findRedisServer()
    if (bin) {
      redis = await startLocalRedis(bin)
      env.REDIS_URL = redis.url
    } else if (values.chaos) throw new Error('--chaos needs redis-server on the PATH (or REDIS_URL)')
  }
  const args = ['--instances', values.instances!, ...(values.cdn ? ['--cdn'] : [])]
  const started = await startChild(args, { ...env, PORT: env.PORT ?? '0' })
  return {
    targets: started.cdn ? [started.cdn] : started.urls,
    origins: started.urls,
    redis,
    child: started.child,
  }
}

/** Stops the demo started here (SIGTERM, it drains and closes), then its Redis. */
async function stopTargets({ child, redis }: Targets): Promise<void> {
  if (child) {
    const done = new Promise((r) => child.once('exit', r))
    child.kill('SIGTERM')
    await done
  }
  await redis?.close()
}

/** `--chaos`: stops Redis a third of the way in and starts it again at two thirds, noting when. */
function chaosSchedule(
  redis: LocalRedis | undefined,
  duration: number,
  chaos: Array<{ at: number; event: string }>,
): (ms: number) => Promise<void> {
  let phase = 0
  return async (ms) => {
    if (!redis) return
    if (phase === 0 && ms >= (duration * 1000) / 3) {
      phase = 1
      chaos.push({ at: Date.now(), event: 'redis stopped' })
      await redis.stop()
    } else if (phase === 1 && ms >= (duration * 2000) / 3) {
      phase = 2
      await redis.start()
      chaos.push({ at: Date.now(), event: 'redis started' })
    }
  }
}

function printReport(
  report: LoadReport,
  chaosEvents: Array<{ atS: number; event: string }>,
  chaos: boolean,
): void {
  console.log('')
  console.log(formatTable(report.layers))
  console.log('')
  console.log(
    `${report.requests} requests in ${report.durationS} s (${report.rps.toFixed(0)} req/s, ${report.connections} connections, Zipf s=${report.zipf}); client latency avg ${report.client.avgMs.toFixed(2)} ms, p99 ${report.client.p99Ms} ms`,
  )
  console.log(
    `failed requests: ${report.failed.total} (errors ${report.failed.errors}, timeouts ${report.failed.timeouts}, non-2xx ${report.failed.non2xx})`,
  )
  if (report.cdn)
    console.log(
      `CDN answers (X-Cache-Status): ${report.cdn.hit} hits, ${report.cdn.miss} misses, ${report.cdn.other} other`,
    )
  if (chaos) {
    for (const c of chaosEvents) console.log(`chaos: ${c.event} at ${c.atS.toFixed(1)} s`)
    for (const c of report.circuit)
      console.log(`circuit of the ${c.cache} cache ${c.state} at ${c.atS.toFixed(1)} s (${c.instance})`)
  }
}

async function main(): Promise<void> {
  const opts = cliOptions()
  const { values, duration } = opts
  const t = await startTargets(opts)
  const chaos: Array<{ at: number; event: string }> = []
  let report: LoadReport
  try {
    report = await runLoad({
      targets: t.targets,
      origins: t.origins,
      duration,
      warmup: opts.warmup,
      // the id ranges of the seed (SEED_PRODUCTS / SEED_USERS, as the demo reads them)
      products: Number(process.env.SEED_PRODUCTS || 100_000),
      users: Number(process.env.SEED_USERS || 10_000),
      connections: opts.connections,
      zipf: opts.zipf,
      readOnly: values.chaos || values['read-only'],
      onTick: values.chaos ? chaosSchedule(t.redis, duration, chaos) : undefined,
    })
  } finally {
    await stopTargets(t)
  }
  const out =
    values.out ??
    join(process.cwd(), 'reports', `load-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
  mkdirSync(dirname(out), { recursive: true })
  const t0 = Date.parse(report.startedAt)
  const chaosEvents = chaos.map((c) => ({ atS: (c.at - t0) / 1000, event: c.event }))
  writeFileSync(out, `${JSON.stringify({ ...report, chaos: chaosEvents }, null, 2)}\n`)
  printReport(report, chaosEvents, values.chaos === true)
  console.log(`report: ${out}`)
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e)
  process.exit(1)
})
