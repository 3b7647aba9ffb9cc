// The redis-aside cases of tools/scripts/bench-vs.mjs (issue 18), each contender in its own process:
//   ra-l1-hit  200,000 sequential awaits of one hot key held in the L1 (L1 of 10,000, Redis L2 on loopback),
//              after a warm-up of 500,000 awaits (or 2 CPU-seconds, whichever ends first: BentoCache stops at
//              about 200,000); ops per CPU-second of the process. Baseline: an `await` of an
//              async function returning `Map.get` (the floor of any awaited in-process lookup).
//   ra-zipf    Zipf 0.99 over 100,000 keys, 200,000 calls in batches of 64 in flight (`Promise.all`), L1 of
//              10,000, L2 warm (every key written beforehand through an instance without L1, so the L1 starts
//              empty), after 50,000 calls of warm-up from the same stream; ops per CPU-second and per
//              wall-second. Baseline: BentoCache.
//   ra-l2-hit-clients  200 keys written to L2, then 20,000 sequential getOrLoad L2 hits (no L1) round-robin
//              over them, after 2,000 of warm-up: ops per wall-second (a round trip each: the clock is the
//              wall), p50 and p99 in µs (as negative figures: higher is better); one contender per client
//              library, redis-aside the same build. Baseline: ioredis.
//   ra-zipf-clients  ra-zipf's mix, one contender per client library. Baseline: ioredis.
// Each call is a closure made per key before the clock starts (see Subject.caller); a full GC runs just
// before the clock starts; the clock is process.cpuUsage() (user + system, all threads of the process).
// tierkit is the built package (dist/); BentoCache 1.6.1 and ioredis are redis-aside's devDependencies.
import { createRequire } from 'node:module'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { seeded, zipf } from '../../testkit/src/random.ts'
import { type Case, cpuSeconds, type Result } from './shared.ts'

const root = resolve(import.meta.dirname, '../../..')
const dist = (pkg: string) => import(pathToFileURL(join(root, 'packages', pkg, 'dist', 'index.js')).href)
const fromRa = createRequire(join(root, 'packages', 'redis-aside', 'package.json'))
const esm = (name: string) => import(pathToFileURL(fromRa.resolve(name)).href)
const port = () => Number(process.env.VS_REDIS_PORT)

const user = (i: number) => ({
  id: i,
  name: `user ${i}`,
  email: `user${i}@example.com`,
  roles: ['reader', 'writer'],
  createdAt: '2026-11-27T08:00:00.000Z',
  score: i * 1.5,
  active: i % 2 === 0,
})

/** A full collection before the clock starts (the runner passes --expose-gc), so that no contender is charged for the garbage of its set-up. */
const collect = (): void => (globalThis as { gc?: () => void }).gc?.()

/** A contender, seen as getOrLoad-shaped calls. */
interface Subject {
  /**
   * The call of `key` (whose loader builds user `i`), made once per key before the clock starts, so that
   * every contender pays one closure call per operation and no loader is built inside the timed loop.
   */
  caller(key: string, i: number): () => Promise<unknown>
  /** writes `key` to L2 only (the warm fill) */
  fill?(key: string, i: number): Promise<unknown>
  loads(): number
  close(): Promise<void>
}

/** Another build of redis-aside (a built index.js), measured as the contender `tierkit-before`. */
const before = process.env.VS_REDIS_ASIDE_BEFORE || undefined

/** The client library of a `tierkit-<client>` contender, connected to the runner's redis-server. */
async function client(library: string): Promise<{ redis: unknown; close(): Promise<void> }> {
  if (library === 'node-redis') {
    const { createClient } = fromRa('redis') as typeof import('redis')
    const c = createClient({ url: `redis://127.0.0.1:${port()}` })
    await c.connect()
    return { redis: c, close: async () => void (await c.quit()) }
  }
  const { Redis } = (
    library === 'iovalkey' ? fromRa('iovalkey') : fromRa('ioredis')
  ) as typeof import('ioredis')
  const r = new Redis({ host: '127.0.0.1', port: port() })
  return { redis: r, close: async () => r.disconnect() }
}

async function tierkit(
  namespace: string,
  build?: string,
  library = 'ioredis',
  withL1 = true,
): Promise<Subject> {
  const { createCache } = build ? await import(pathToFileURL(resolve(build)).href) : await dist('redis-aside')
  const { L1Cache } = await dist('l1-cache')
  const { redis, close } = await client(library)
  const l1 = withL1 ? { l1: new L1Cache({ max: 10_000 }) } : {}
  const cache = createCache({ redis, ...l1, namespace, ttl: 3_600_000 })
  const l2only = createCache({ redis, namespace, ttl: 3_600_000 })
  let loads = 0
  return {
    caller: (key, i) => {
      const loader = () => {
        loads++
        return user(i)
      }
      return () => cache.getOrLoad(key, loader)
    },
    fill: (key, i) => l2only.set(key, user(i)),
    loads: () => loads,
    close: async () => {
      await cache.close()
      await l2only.close()
      await close()
    },
  }
}

/** BentoCache 1.6.1: memory L1 of 10,000 (`serialize: false` keeps references) + its Redis driver as L2. */
async function bento(serialize: boolean): Promise<Subject> {
  const { BentoCache, bentostore } = await esm('bentocache')
  const { memoryDriver } = await esm('bentocache/drivers/memory')
  const { redisDriver } = await esm('bentocache/drivers/redis')
  const connection = { host: '127.0.0.1', port: port() }
  const l1 = memoryDriver({ maxItems: 10_000, ...(serialize ? {} : { serialize: false }) })
  const cache = new BentoCache({
    default: 'tiered',
    stores: { tiered: bentostore().useL1Layer(l1).useL2Layer(redisDriver({ connection })) },
  })
  const l2only = new BentoCache({
    default: 'tiered',
    stores: { tiered: bentostore().useL2Layer(redisDriver({ connection })) },
  })
  let loads = 0
  return {
    caller: (key, i) => {
      const factory = () => {
        loads++
        return user(i)
      }
      return () => cache.getOrSet({ key, factory, ttl: '1h' })
    },
    fill: (key, i) => l2only.set({ key, value: user(i), ttl: '1h' }),
    loads: () => loads,
    close: async () => {
      await cache.disconnectAll()
      await l2only.disconnectAll()
    },
  }
}

/** The floor: an async function returning `Map.get`, awaited. */
async function asyncMap(): Promise<Subject> {
  const map = new Map<string, unknown>([['k', user(1)]])
  return { caller: (key) => async () => map.get(key), loads: () => 0, close: async () => {} }
}

const subjects: Record<string, (ns: string) => Promise<Subject>> = {
  tierkit: (ns) => tierkit(ns),
  'tierkit-before': (ns) => tierkit(ns, before),
  'bentocache-ref': () => bento(false),
  bentocache: () => bento(true),
  'async-map': asyncMap,
  ioredis: (ns) => tierkit(ns, undefined, 'ioredis'),
  iovalkey: (ns) => tierkit(ns, undefined, 'iovalkey'),
  'node-redis': (ns) => tierkit(ns, undefined, 'node-redis'),
  'ioredis-l2': (ns) => tierkit(ns, undefined, 'ioredis', false),
  'iovalkey-l2': (ns) => tierkit(ns, undefined, 'iovalkey', false),
  'node-redis-l2': (ns) => tierkit(ns, undefined, 'node-redis', false),
}

const CLIENTS = ['ioredis', 'iovalkey', 'node-redis']

/** L2 hits, one at a time: the cost of a round trip through each client library. */
async function l2Hit(contender: string): Promise<Result> {
  const s = await subjects[`${contender}-l2`]!('vs-l2')
  const KEYS = 200
  await Promise.all(Array.from({ length: KEYS }, (_, i) => s.fill!(`u${i}`, i)))
  const callers = Array.from({ length: KEYS }, (_, i) => s.caller(`u${i}`, i))
  for (let i = 0; i < 2000; i++) await callers[i % KEYS]!()
  const n = 20_000
  const lat = new Float64Array(n)
  collect()
  const w0 = performance.now()
  for (let i = 0; i < n; i++) {
    const t = performance.now()
    await callers[i % KEYS]!()
    lat[i] = performance.now() - t
  }
  const wall = (performance.now() - w0) / 1000
  const loads = s.loads()
  await s.close()
  lat.sort()
  const at = (p: number) => lat[Math.min(n - 1, Math.floor((p / 100) * n))]! * 1000
  return { metrics: { 'ops/s (wall)': n / wall, '-p50 µs': -at(50), '-p99 µs': -at(99) }, notes: { loads } }
}

async function l1Hit(contender: string): Promise<Result> {
  const s = await subjects[contender]!('vs-l1')
  const call = s.caller('k', 1)
  // warm-up (the first call loads the key): until the JIT has settled, which takes a few 100,000 calls of
  // an awaited lookup; 500,000 calls, or 2 CPU-seconds for a contender too slow for that
  const w0 = cpuSeconds()
  for (let i = 0; i < 500_000; i++) {
    await call()
    if ((i & 1023) === 0 && cpuSeconds() - w0 > 2) break
  }
  const n = 200_000
  collect()
  const t = cpuSeconds()
  for (let i = 0; i < n; i++) await call()
  const cpu = cpuSeconds() - t
  const loads = s.loads()
  await s.close()
  return { metrics: { 'ops/CPU-s': n / cpu }, notes: { loads } }
}

async function zipfMix(contender: string): Promise<Result> {
  const KEYS = 100_000
  const s = await subjects[contender]!('vs-zipf')
  for (let start = 0; start < KEYS; start += 250) {
    const batch = []
    for (let i = start; i < start + 250; i++) batch.push(s.fill!(`u${i}`, i))
    await Promise.all(batch)
  }
  const next = zipf(KEYS, 0.99, seeded(42))
  const stream = Uint32Array.from({ length: 250_048 }, () => next() - 1)
  const callers = Array.from({ length: KEYS }, (_, i) => s.caller(`u${i}`, i))
  const run = async (from: number, to: number) => {
    const batch = new Array<Promise<unknown>>(64)
    for (let i = from; i < to; i += 64) {
      for (let j = 0; j < 64; j++) batch[j] = callers[stream[i + j]!]!()
      await Promise.all(batch)
    }
  }
  await run(0, 50_048) // 782 batches of 64
  const loadsBefore = s.loads()
  collect()
  const c0 = cpuSeconds()
  const w0 = performance.now()
  const n = 200_000 // 3,125 batches of 64
  await run(50_048, 50_048 + n)
  const wall = (performance.now() - w0) / 1000
  const cpu = cpuSeconds() - c0
  const loads = s.loads() - loadsBefore
  await s.close()
  return { metrics: { 'ops/CPU-s': n / cpu, 'ops/s (wall)': n / wall }, notes: { loads } }
}

const withBefore = before === undefined ? [] : ['tierkit-before']

export const cases: Record<string, Case> = {
  'ra-l1-hit': {
    contenders: ['tierkit', ...withBefore, 'async-map', 'bentocache-ref', 'bentocache'],
    baseline: 'async-map',
    redis: true,
    run: l1Hit,
  },
  'ra-l2-hit-clients': { contenders: CLIENTS, baseline: 'ioredis', redis: true, run: l2Hit },
  'ra-zipf-clients': { contenders: CLIENTS, baseline: 'ioredis', redis: true, run: zipfMix },
  'ra-zipf': {
    // BentoCache's `serialize: false` L1 crashes on an L2 hit (CacheEntry.fromDriver gets a string and no
    // serializer), so this case has its default, serialising, L1 only
    contenders: ['tierkit', ...withBefore, 'bentocache'],
    baseline: 'bentocache',
    redis: true,
    run: zipfMix,
  },
}
