// The hot paths the A/B benchmark (tools/scripts/bench-ab.mjs) times, one case per child process. A case loads
// the BUILT packages (`dist/`) of the checkout it is given, so the same case code times two builds:
//   node --import tsx tools/scripts/ab/cases.ts <case> <checkout root>   → one line of JSON { value, unit }
// Values are "higher is better" (operations per CPU-second of this process, or per wall-clock second where the
// work waits on another process). Key streams are precomputed before the clock starts; each case warms up first.
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { seeded, zipf } from '../../testkit/src/random.ts'

const [name, root] = process.argv.slice(2) as [string, string]
const load = async (pkg: string, entry = 'index.js') =>
  import(pathToFileURL(join(root, 'packages', pkg, 'dist', entry)).href)
const cpu = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
}
const now = () => performance.now() / 1000

/** `fn` run `n` times after `warm` runs; operations per CPU-second. */
function perCpuSecond(fn: (i: number) => void, n: number, warm: number): number {
  for (let i = 0; i < warm; i++) fn(i)
  const t = cpu()
  for (let i = 0; i < n; i++) fn(i)
  return n / (cpu() - t)
}
async function perCpuSecondAsync(
  fn: (i: number) => Promise<unknown>,
  n: number,
  warm: number,
): Promise<number> {
  for (let i = 0; i < warm; i++) await fn(i)
  const t = cpu()
  for (let i = 0; i < n; i++) await fn(i)
  return n / (cpu() - t)
}
async function perWallSecondAsync(
  fn: (i: number) => Promise<unknown>,
  n: number,
  warm: number,
): Promise<number> {
  for (let i = 0; i < warm; i++) await fn(i)
  const t = now()
  for (let i = 0; i < n; i++) await fn(i)
  return n / (now() - t)
}

/** A Zipf(0.99) stream of string keys over 100,000 distinct keys, as real keys are (`'key:' + n`). */
function zipfKeys(length: number): string[] {
  const next = zipf(100_000, 0.99, seeded(42))
  return Array.from({ length }, () => `key:${next()}`)
}

async function redisClient() {
  const require = createRequire(join(root, 'packages', 'redis-aside', 'package.json'))
  const { Redis } = require('ioredis') as typeof import('ioredis')
  const redis = new Redis({ host: '127.0.0.1', port: Number(process.env.AB_REDIS_PORT), lazyConnect: true })
  await redis.connect()
  return redis
}

/** l1-cache with `options`: get, then set on a miss, over the Zipf stream of string keys. */
async function l1Zipf(options: object) {
  const { L1Cache } = await load('l1-cache')
  const keys = zipfKeys(2_000_000)
  const c = new L1Cache(options)
  const step = (i: number) => {
    const k = keys[i % keys.length]!
    if (c.get(k) === undefined) c.set(k, i)
  }
  return { value: perCpuSecond(step, 2_000_000, 500_000), unit: 'ops/CPU-s' }
}

/** l1-cache with `options`: gets of 10,000 keys that are all present. */
async function l1Hits(options: object) {
  const { L1Cache } = await load('l1-cache')
  const keys = Array.from({ length: 10_000 }, (_, i) => `key:${i}`)
  const c = new L1Cache(options)
  for (const k of keys) c.set(k, 1)
  let sum = 0
  const value = perCpuSecond(
    (i) => {
      sum += c.get(keys[(i * 7919) % 10_000]!) as number
    },
    5_000_000,
    1_000_000,
  )
  if (sum === 0) throw new Error('no hits')
  return { value, unit: 'ops/CPU-s' }
}

const cases: Record<string, () => Promise<{ value: number; unit: string }>> = {
  // l1-cache: get, then set on a miss, 10,000 entries (the default adaptive policy / exact LRU / TTL 60 s)
  'l1-zipf': () => l1Zipf({ max: 10_000 }),
  'l1-zipf-ttl': () => l1Zipf({ max: 10_000, ttl: 60_000 }),
  'l1-zipf-lru': () => l1Zipf({ max: 10_000, policy: 'lru' }),
  // l1-cache: all hits (10,000 keys, all present), get only, without and with a TTL of 60 s
  'l1-hits': () => l1Hits({ max: 10_000 }),
  'l1-hits-ttl': () => l1Hits({ max: 10_000, ttl: 60_000 }),
  // redis-aside: 200,000 sequential awaits of one hot key in the L1; and L2 hits with no L1 (Redis on loopback)
  async 'ra-l1-hit'() {
    const { createCache } = await load('redis-aside')
    const { L1Cache } = await load('l1-cache')
    const redis = await redisClient()
    const cache = createCache({ redis, l1: new L1Cache({ max: 10_000 }), namespace: 'ab-l1', ttl: 3_600_000 })
    const loader = () => ({ id: 1, name: 'Ada' })
    const value = await perCpuSecondAsync(() => cache.getOrLoad('k', loader), 200_000, 50_000)
    await cache.close()
    redis.disconnect()
    return { value, unit: 'ops/CPU-s' }
  },
  async 'ra-l2-hit'() {
    const { createCache } = await load('redis-aside')
    const redis = await redisClient()
    const cache = createCache({ redis, namespace: `ab-l2-${process.pid}`, ttl: 3_600_000 })
    for (let i = 0; i < 500; i++)
      await cache.getOrLoad(`u${i}`, () => ({ id: i, name: 'Ada', tags: ['a', 'b'] }))
    const never = () => {
      throw new Error('not an L2 hit')
    }
    const value = await perWallSecondAsync((i) => cache.getOrLoad(`u${i % 500}`, never), 10_000, 2_000)
    await cache.close()
    redis.disconnect()
    return { value, unit: 'ops/s (wall)' }
  },
  // invalidation: write-behind writes acknowledged, one after the other (queued in Redis; no flusher)
  async 'wb-write'() {
    const { writeBehind } = await load('invalidation')
    const redis = await redisClient()
    const wb = writeBehind({ redis, name: `ab-${process.pid}` })
    const value = await perWallSecondAsync(
      (i) => wb.write(`w:${i % 1000}`, { i, pad: 'xxxxxxxxxxxxxxxx' }),
      5_000,
      1_000,
    )
    redis.disconnect()
    return { value, unit: 'writes/s (wall)' }
  },
  // metrics: one observer.record per call
  async 'metrics-record'() {
    const { createCacheMetrics } = await load('metrics')
    const m = createCacheMetrics()
    const record = m.observer.record
    const outcomes = ['hit', 'hit', 'hit', 'miss'] as const
    const value = perCpuSecond((i) => record('l1', outcomes[i & 3]!, 0.05), 10_000_000, 1_000_000)
    return { value, unit: 'records/CPU-s' }
  },
  // cdn-headers: policy.compile of a public route with a percent-encoded path (the normalisation path)
  async 'cdn-compile'() {
    const { definePolicy } = await load('cdn-headers')
    const policy = definePolicy([
      { path: '/api/users/*', authenticated: true },
      { path: '/api/public/*', maxAge: 600, cdnMaxAge: 600, staleWhileRevalidate: 60, tags: ['public'] },
      { path: '/*', maxAge: 60 },
    ])
    const reqs = ['/api/public/products/123', '/api/public/caf%C3%A9/%31%32%33', '/api/users/1'].map(
      (path) => ({
        method: 'GET',
        path,
        headers: {},
      }),
    )
    const res = { status: 200, setsCookie: false }
    return {
      value: perCpuSecond((i) => policy.compile(reqs[i % 3], res), 1_000_000, 200_000),
      unit: 'ops/CPU-s',
    }
  },
  // cdn-headers: policy.compile of a public route with a query string (the matcher strips it before matching)
  async 'cdn-compile-query'() {
    const { definePolicy } = await load('cdn-headers')
    const policy = definePolicy([
      { path: '/api/users/*', authenticated: true },
      { path: '/api/public/*', maxAge: 600, cdnMaxAge: 600, staleWhileRevalidate: 60, tags: ['public'] },
      { path: '/*', maxAge: 60 },
    ])
    const req = { method: 'GET', path: '/api/public/products?ids=1,2,3,4,5,6,7,8,9,10', headers: {} }
    const res = { status: 200, setsCookie: false }
    return { value: perCpuSecond(() => policy.compile(req, res), 1_000_000, 200_000), unit: 'ops/CPU-s' }
  },
  // worker-pool: a noop task, one in flight (the pool's own overhead on top of a thread hop)
  async 'pool-noop'() {
    const { createPool } = await load('worker-pool')
    const tasks = pathToFileURL(join(root, 'packages', 'worker-pool', 'bench', 'fixtures', 'pool-tasks.mjs'))
    const pool = createPool({ tasks, minThreads: 1, maxThreads: 1 })
    const value = await perWallSecondAsync((i) => pool.run('noop', i), 5_000, 1_000)
    await pool.close()
    return { value, unit: 'tasks/s (wall)' }
  },
}

const run = cases[name]
if (run === undefined) {
  console.error(`unknown case ${name}; cases: ${Object.keys(cases).join(', ')}`)
  process.exit(2)
}
console.log(JSON.stringify(await run()))
process.exit(0)
