// One point of one curve of docs/benchmarks.md, measured in a fresh process:
//   node --expose-gc --import tsx tools/scripts/curves/point.ts <curve> <contender> <x>   → JSON { value, p99? }
// tierkit is loaded from the built packages (dist/); the anchors from the packages that pin them as
// devDependencies (lru-cache in l1-cache, BentoCache and ioredis in redis-aside, tinypool and piscina in
// worker-pool, prom-client in metrics), so the versions are the lockfile's.
import { createRequire } from 'node:module'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { seeded, zipf } from '../../testkit/src/random.ts'

const root = resolve(import.meta.dirname, '../../..')
const [curve, contender, xArg] = process.argv.slice(2) as [string, string, string]
const x = Number(xArg)
const dist = (pkg: string, entry = 'index.js') =>
  import(pathToFileURL(join(root, 'packages', pkg, 'dist', entry)).href)
const from = (pkg: string) => createRequire(join(root, 'packages', pkg, 'package.json'))
const fromEsm = async (pkg: string, name: string) => import(pathToFileURL(from(pkg).resolve(name)).href)
const cpu = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
}
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})

type Point = { value: number; p99?: number }

/** l1-cache against lru-cache: Zipf 0.99 over 10x `x` string keys, a cache of `x` entries, get then set on a miss. */
async function l1Throughput(): Promise<Point> {
  const next = zipf(10 * x, 0.99, seeded(7))
  const keys = Array.from({ length: 2_000_000 }, () => `key:${next()}`)
  let get: (k: string) => unknown
  let set: (k: string, v: number) => unknown
  if (contender === 'tierkit') {
    const { L1Cache } = await dist('l1-cache')
    const c = new L1Cache({ max: x })
    get = (k) => c.get(k)
    set = (k, v) => c.set(k, v)
  } else {
    const { LRUCache } = from('l1-cache')('lru-cache')
    const c = new LRUCache({ max: x })
    get = (k) => c.get(k)
    set = (k, v) => c.set(k, v)
  }
  // warm-up: one whole pass of the stream (fills the cache, and the adaptive policy has adapted)
  for (let i = 0; i < keys.length; i++) if (get(keys[i]!) === undefined) set(keys[i]!, i)
  const t = cpu()
  for (let i = 0; i < keys.length; i++) if (get(keys[i]!) === undefined) set(keys[i]!, i)
  return { value: keys.length / (cpu() - t) }
}

/** Bytes of heap per entry once `x` entries of 16-character string keys and small integer values are held. */
async function l1Bytes(): Promise<Point> {
  const keys = Array.from({ length: x }, (_, i) => `key:${String(i).padStart(12, '0')}`)
  gc()
  gc()
  const before = process.memoryUsage().heapUsed
  let keep: unknown
  if (contender === 'tierkit') {
    const { L1Cache } = await dist('l1-cache')
    const c = new L1Cache({ max: x })
    for (let i = 0; i < x; i++) c.set(keys[i]!, i)
    keep = c
  } else {
    const { LRUCache } = from('l1-cache')('lru-cache')
    const c = new LRUCache({ max: x })
    for (let i = 0; i < x; i++) c.set(keys[i]!, i)
    keep = c
  }
  gc()
  gc()
  const bytes = (process.memoryUsage().heapUsed - before) / x
  if (keep === undefined) throw new Error('unreachable')
  return { value: bytes }
}

/** L2 hits (no L1) with `x` calls in flight: operations per second and the p99 latency in ms. */
async function redisInFlight(): Promise<Point> {
  const { Redis } = from('redis-aside')('ioredis')
  const port = Number(process.env.CURVES_REDIS_PORT)
  const redis = new Redis({ host: '127.0.0.1', port })
  const N = 1000
  const value = { id: 1, name: 'Ada Lovelace', roles: ['admin', 'author'], since: 1843 }
  let call: (i: number) => Promise<unknown>
  let close = async () => {}
  if (contender === 'tierkit') {
    const { createCache } = await dist('redis-aside')
    const cache = createCache({ redis, namespace: 'curve', ttl: 3_600_000 })
    for (let i = 0; i < N; i++) await cache.getOrLoad(`u${i}`, () => value)
    const never = () => Promise.reject(new Error('not an L2 hit'))
    call = (i) => cache.getOrLoad(`u${i % N}`, never)
    close = () => cache.close()
  } else if (contender === 'bentocache') {
    const { BentoCache, bentostore } = await fromEsm('redis-aside', 'bentocache')
    const { redisDriver } = await fromEsm('redis-aside', 'bentocache/drivers/redis')
    const bento = new BentoCache({
      default: 'l2',
      stores: { l2: bentostore().useL2Layer(redisDriver({ connection: { host: '127.0.0.1', port } })) },
    })
    for (let i = 0; i < N; i++) await bento.getOrSet({ key: `b${i}`, factory: () => value, ttl: '1h' })
    const never = () => {
      throw new Error('not an L2 hit')
    }
    call = (i) => bento.getOrSet({ key: `b${i % N}`, factory: never, ttl: '1h' })
    close = () => bento.disconnectAll()
  } else {
    for (let i = 0; i < N; i++) await redis.set(`r${i}`, JSON.stringify(value))
    call = async (i) => JSON.parse((await redis.get(`r${i % N}`)) as string)
  }
  const run = async (total: number, lat?: number[]) => {
    let next = 0
    const worker = async () => {
      while (next < total) {
        const i = next++
        const t = performance.now()
        await call(i)
        lat?.push(performance.now() - t)
      }
    }
    await Promise.all(Array.from({ length: x }, worker))
  }
  await run(5000)
  const lat: number[] = []
  const total = 40_000
  const t = performance.now()
  await run(total, lat)
  const seconds = (performance.now() - t) / 1000
  lat.sort((a, b) => a - b)
  await close()
  redis.disconnect()
  return { value: total / seconds, p99: lat[Math.floor(lat.length * 0.99)]! }
}

/** Tasks per second through `x` worker threads: a small CPU task (sum of i*i below 200,000), 4x `x` in flight. */
async function poolThreads(): Promise<Point> {
  const fixtures = join(root, 'packages', 'worker-pool', 'bench', 'fixtures')
  let run: (i: number) => Promise<unknown>
  let close: () => Promise<unknown>
  if (contender === 'tierkit') {
    const { createPool } = await dist('worker-pool')
    const pool = createPool({
      tasks: pathToFileURL(join(fixtures, 'pool-tasks.mjs')),
      minThreads: x,
      maxThreads: x,
    })
    run = () => pool.run('sumSquares', 200_000)
    close = () => pool.close()
  } else if (contender === 'tinypool') {
    const { Tinypool } = await fromEsm('worker-pool', 'tinypool')
    const pool = new Tinypool({
      filename: pathToFileURL(join(fixtures, 'raw-tinypool.mjs')).href,
      minThreads: x,
      maxThreads: x,
    })
    run = () => pool.run(200_000, { name: 'sumSquares' })
    close = () => pool.destroy()
  } else {
    const mod = await fromEsm('worker-pool', 'piscina')
    const Piscina = mod.Piscina ?? mod.default
    const pool = new Piscina({
      filename: pathToFileURL(join(fixtures, 'raw-tinypool.mjs')).href,
      minThreads: x,
      maxThreads: x,
    })
    run = () => pool.run(200_000, { name: 'sumSquares' })
    close = () => pool.destroy()
  }
  const drive = async (total: number) => {
    let next = 0
    const lane = async () => {
      while (next < total) {
        next++
        await run(next)
      }
    }
    await Promise.all(Array.from({ length: 4 * x }, lane))
  }
  await drive(200)
  const t = performance.now()
  const total = 2000
  await drive(total)
  const value = total / ((performance.now() - t) / 1000)
  await close()
  return { value }
}

/** ns per record of a hit with a duration, spread over `x` layers (label sets), against prom-client. */
async function metricsRecord(): Promise<Point> {
  const layers = Array.from({ length: x }, (_, i) => `layer${i}`)
  const calls = 5_000_000
  let record: (i: number) => void
  if (contender === 'tierkit') {
    const { createCacheMetrics } = await dist('metrics')
    const m = createCacheMetrics({ layers })
    const r = m.observer.record
    record = (i) => r(layers[i % x]!, 'hit', 0.05)
  } else {
    const { Histogram, Registry } = from('metrics')('prom-client')
    const h = new Histogram({
      name: 'h',
      help: 'h',
      labelNames: ['layer', 'outcome'],
      registers: [new Registry()],
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
    })
    record = (i) => h.observe({ layer: layers[i % x]!, outcome: 'hit' }, 0.00005)
  }
  for (let i = 0; i < 500_000; i++) record(i)
  const t = cpu()
  for (let i = 0; i < calls; i++) record(i)
  return { value: ((cpu() - t) * 1e9) / calls }
}

const curves: Record<string, () => Promise<Point>> = {
  'l1-throughput': l1Throughput,
  'l1-bytes': l1Bytes,
  'redis-in-flight': redisInFlight,
  'pool-threads': poolThreads,
  'metrics-record': metricsRecord,
}
const fn = curves[curve]
if (fn === undefined) {
  console.error(`unknown curve ${curve}`)
  process.exit(2)
}
console.log(JSON.stringify(await fn()))
process.exit(0)
