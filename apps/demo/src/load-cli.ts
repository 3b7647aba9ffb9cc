/**
 * `pnpm --filter @tierkit/demo load [--requests N] [--warmup-requests N] [--duration S] [--connections N] [--zipf S]
 * [--chaos] [--read-only] [--instances N] [--cdn] [--skip-baseline] [--url URL]`
 *
 * Starts Redis (a local redis-server) and the demo in a child process (SQLite unless DATABASE_URL is set; two
 * instances by default, so L2 serves what the other one loaded; each database read costs DB_LATENCY_MS, 15 ms by
 * default here), and runs the same seeded requests twice: with the read caches off (`DEMO_CACHE=off`, the no-cache
 * baseline), then with them (and with `--cdn` a third time, the same caches without nginx). It prints the table of
 * load-table.ts and writes a JSON report to reports/. `--duration` runs for a time instead of a count (no
 * baseline then: the runs would not send the same requests). `--chaos` stops Redis a third of the way in
 * and starts it again at two thirds; the report lists failed requests and when the circuit opened and closed.
 * `--read-only` drops the writes (views, updates) from the mix. `--url` targets a demo that is already running
 * instead (no chaos then).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { type LoadOptions, type LoadReport, runLoad } from './load.js'
import { RedisClock } from './load-redis.js'
import { dbCost, formatTable, type Runs, tableRows } from './load-table.js'
import { findRedisServer, type LocalRedis, startLocalRedis } from './redis-server.js'
import { parseRedisTarget, type RedisClientName, redisClientOf } from './redis-url.js'

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
      instances: { type: 'string', default: '2' },
      cdn: { type: 'boolean', default: false },
      requests: { type: 'string' },
      'warmup-requests': { type: 'string' },
      'skip-baseline': { type: 'boolean', default: false },
      url: { type: 'string' },
      out: { type: 'string' },
    },
  })
  // a count of requests unless a duration is asked for (or chaos, which is scheduled in time)
  const byCount = values.duration === undefined && !values.chaos
  const requests = num('requests', values.requests, 20_000, 10, 10_000_000)
  return {
    values,
    requests: byCount ? requests : undefined,
    warmupRequests: num(
      'warmup-requests',
      values['warmup-requests'],
      Math.floor(requests / 4),
      0,
      10_000_000,
    ),
    baseline: byCount && !values['skip-baseline'] && !values.url,
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
  /** The Redis the instances use, when known. */
  redisUrl: string | undefined
  /** The client library the instances use (`REDIS_CLIENT`). */
  redisClient: RedisClientName
  child: ChildProcess | undefined
}

/**
 * Starts the demo (and its Redis) for one run; `extraEnv` on top (`DEMO_CACHE=off` for the baseline), `cdn` whether
 * nginx goes in front.
 */
async function startTargets(
  { values }: CliOptions,
  extraEnv: NodeJS.ProcessEnv = {},
  cdn = values.cdn === true,
): Promise<Targets> {
  if (values.url)
    return {
      targets: [values.url],
      origins: [values.url],
      redis: undefined,
      redisUrl: undefined,
      redisClient: 'ioredis',
      child: undefined,
    }
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    // a database read costs about what a fetch from a database server does
    DB_LATENCY_MS: process.env.DB_LATENCY_MS ?? '15',
    ...extraEnv,
  }
  // the demo's own checks, before anything starts: a Sentinel URL, a node-redis client...
  const redisClient = redisClientOf(env)
  if (env.REDIS_URL) parseRedisTarget(env.REDIS_URL, redisClient)
  let redis: LocalRedis | undefined
  if (!env.REDIS_URL) {
    const bin = findRedisServer()
    if (bin) {
      redis = await startLocalRedis(bin)
      env.REDIS_URL = redis.url
    } else if (values.chaos) throw new Error('--chaos needs redis-server on the PATH (or REDIS_URL)')
  }
  const args = ['--instances', values.instances!, ...(cdn ? ['--cdn'] : [])]
  const started = await startChild(args, { ...env, PORT: env.PORT ?? '0' }).catch(async (e: unknown) => {
    await redis?.close()
    throw e
  })
  return {
    targets: started.cdn ? [started.cdn] : started.urls,
    origins: started.urls,
    redis,
    redisUrl: env.REDIS_URL || undefined,
    redisClient,
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

function printReport(runs: Runs, chaosEvents: Array<{ atS: number; event: string }>, chaos: boolean): void {
  const report = runs.cached
  console.log('')
  console.log(formatTable(tableRows(runs)))
  console.log('')
  console.log(
    `database: ${dbCost(report)}; ${report.instances} instance(s) on ${report.cpus ?? '?'} cores; event-loop delay ${report.eventLoop.meanMs?.toFixed(3) ?? '—'} ms on average`,
  )
  for (const [name, r] of [
    ['cached', report],
    ['no-cache', runs.baseline],
    ['no CDN', runs.direct],
  ] as const) {
    if (!r) continue
    console.log(
      `${name} run: ${r.requests} requests in ${r.durationS.toFixed(1)} s (${r.rps.toFixed(0)} req/s, ${r.connections} connections, Zipf s=${r.zipf}); client latency avg ${r.client.avgMs.toFixed(2)} ms, p99 ${r.client.p99Ms} ms; failed ${r.failed.total}`,
    )
  }
  if (!runs.baseline) console.log('no-cache run: skipped (--duration, --chaos, --url or --skip-baseline)')
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

/** The load options every run shares. */
function loadOptions(opts: CliOptions): Omit<LoadOptions, 'targets' | 'origins'> {
  const { values } = opts
  return {
    duration: opts.duration,
    warmup: opts.warmup,
    requests: opts.requests,
    warmupRequests: opts.warmupRequests,
    // the id ranges of the seed (SEED_PRODUCTS / SEED_USERS, as the demo reads them)
    products: Number(process.env.SEED_PRODUCTS || 100_000),
    users: Number(process.env.SEED_USERS || 10_000),
    connections: opts.connections,
    zipf: opts.zipf,
    readOnly: values.chaos || values['read-only'],
  }
}

/** The no-cache baseline: the same requests, the read caches off, no CDN. */
async function runBaseline(opts: CliOptions): Promise<LoadReport | undefined> {
  if (!opts.baseline) return undefined
  console.error('no-cache run (DEMO_CACHE=off), the same requests:')
  const t = await startTargets(opts, { DEMO_CACHE: 'off' }, false)
  try {
    return await runLoad({ ...loadOptions(opts), targets: t.origins, origins: t.origins })
  } finally {
    await stopTargets(t)
  }
}

/** The cached run (and with `--cdn` the same caches without nginx). */
async function runCached(
  opts: CliOptions,
  chaos: Array<{ at: number; event: string }>,
): Promise<{ cached: LoadReport; direct: LoadReport | undefined }> {
  const { values, duration } = opts
  console.error('cached run:')
  const t = await startTargets(opts)
  const clock = t.redisUrl ? new RedisClock(t.redisUrl, t.redisClient) : undefined
  try {
    const common = { ...loadOptions(opts), redis: clock, resetRedisStats: t.redis !== undefined }
    const cached = await runLoad({
      ...common,
      targets: t.targets,
      origins: t.origins,
      onTick: values.chaos ? chaosSchedule(t.redis, duration, chaos) : undefined,
    })
    let direct: LoadReport | undefined
    if (values.cdn && !values.url) {
      console.error('the same caches without the CDN:')
      direct = await runLoad({ ...common, targets: t.origins, origins: t.origins })
    }
    return { cached, direct }
  } finally {
    await clock?.close()
    await stopTargets(t)
  }
}

async function main(): Promise<void> {
  const opts = cliOptions()
  const chaos: Array<{ at: number; event: string }> = []
  const baseline = await runBaseline(opts)
  const { cached, direct } = await runCached(opts, chaos)
  const runs: Runs = { cached, baseline, direct }
  const out =
    opts.values.out ??
    join(process.cwd(), 'reports', `load-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
  mkdirSync(dirname(out), { recursive: true })
  const t0 = Date.parse(cached.startedAt)
  const chaosEvents = chaos.map((c) => ({ atS: (c.at - t0) / 1000, event: c.event }))
  const json = {
    ...cached,
    baseline: baseline ?? null,
    direct: direct ?? null,
    table: tableRows(runs),
    chaos: chaosEvents,
  }
  writeFileSync(out, `${JSON.stringify(json, null, 2)}\n`)
  printReport(runs, chaosEvents, opts.values.chaos === true)
  console.log(`report: ${out}`)
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e)
  process.exit(1)
})
