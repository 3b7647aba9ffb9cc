/**
 * Benchmarks of @tierkit/invalidation, each against its anchor in the same run (ratios):
 * 1. write-behind: writes acknowledged per second and end-to-end lag to the database, against writeThrough
 *    on the same Store (a PostgreSQL table) and the same redis-aside cache;
 * 2. bus propagation between two processes (ping/pong round trip, one way = RTT / 2), against raw ioredis
 *    pub/sub between the same two processes.
 * Run: pnpm --filter @tierkit/invalidation bench   (needs PostgreSQL on 127.0.0.1:5432, database `test`)
 */
import { fork } from 'node:child_process'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { createCache } from '@tierkit/redis-aside'
import { reapAll, startRedis } from '@tierkit/testkit'
import { Redis } from 'ioredis'
import { createFlusher, createInvalidationBus, writeBehind, writeThrough } from '../src/index.js'
import { MapL1 } from '../test/helpers/cache.js'
import { PgStore } from '../test/helpers/pg-store.js'

const WRITES = Number(process.env.BENCH_WRITES ?? 4000)
const KEYS = Number(process.env.BENCH_KEYS ?? 400)
const CONCURRENCY = 16
const PINGS = Number(process.env.BENCH_PINGS ?? 2000)

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN
}
const f = (n: number, d = 2): string => n.toFixed(d)

/** Deterministic skewed key choice: 80 % of the writes go to 10 % of the keys (hot keys, as in real traffic). */
function keyOf(i: number): string {
  let x = (i + 1) * 2654435761
  x = (x ^ (x >>> 15)) >>> 0
  const hot = x % 10 < 8
  const span = Math.max(1, Math.floor(KEYS / 10))
  return hot ? `k:${(x >>> 4) % span}` : `k:${span + ((x >>> 4) % (KEYS - span))}`
}

async function run(
  n: number,
  write: (i: number) => Promise<unknown>,
): Promise<{ secs: number; lat: number[] }> {
  let next = 0
  const lat: number[] = []
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (;;) {
        const i = next++
        if (i >= n) return
        const s = performance.now()
        await write(i)
        lat.push(performance.now() - s)
      }
    }),
  )
  return { secs: (performance.now() - t0) / 1000, lat }
}

async function writePath(url: string, label: string): Promise<void> {
  const redis = new Redis(url)
  const store = await PgStore.create('bench')
  try {
    const cache = createCache({ redis, l1: new MapL1(), namespace: 'bench', ttl: 60_000 })
    // warm-up (connections, JIT, PostgreSQL plans)
    const wt = writeThrough({ cache, store })
    await run(300, (i) => wt.write(`w:${i % 50}`, { i }))

    // anchor: writeThrough, the database is written before the ack (ack latency = lag to the database)
    const through = await run(WRITES, (i) => wt.write(keyOf(i), { i, pad: 'x'.repeat(64) }))

    // write-behind, flusher in the same process, same Store and cache
    const lags: number[] = []
    const flusher = createFlusher({
      redis,
      name: 'bench',
      store,
      pollInterval: 100,
      onEvent(e) {
        if (e.type !== 'applied') return
        const nowUs = (performance.timeOrigin + performance.now()) * 1000
        for (const v of e.versions) lags.push((nowUs - v) / 1000) // version = server clock (µs) at enqueue
      },
    })
    const wb = writeBehind({ redis, name: 'bench', cache })
    await run(300, (i) => wb.write(`w:${i % 50}`, { i }))
    await wb.flush()
    lags.length = 0
    const savesBefore = store.saves
    const t0 = performance.now()
    const behind = await run(WRITES, (i) => wb.write(keyOf(i), { i, pad: 'x'.repeat(64) }))
    await wb.flush({ timeout: 120_000 })
    const drained = (performance.now() - t0) / 1000
    await flusher.close()
    await cache.close()

    const tps = WRITES / through.secs
    const bps = WRITES / behind.secs
    console.log(
      `\n## write path (${label}): ${WRITES} writes over ${KEYS} keys (80 % to 10 % of them), ${CONCURRENCY} in flight, PostgreSQL Store`,
    )
    console.log(
      '| strategy | acked writes/s | ack p50 ms | ack p99 ms | lag to DB p50 ms | lag to DB p99 ms |',
    )
    console.log('|---|---|---|---|---|---|')
    console.log(
      `| writeThrough (anchor) | ${f(tps, 0)} | ${f(pct(through.lat, 50))} | ${f(pct(through.lat, 99))} | ${f(pct(through.lat, 50))} | ${f(pct(through.lat, 99))} |`,
    )
    console.log(
      `| writeBehind | ${f(bps, 0)} | ${f(pct(behind.lat, 50))} | ${f(pct(behind.lat, 99))} | ${f(pct(lags, 50))} | ${f(pct(lags, 99))} |`,
    )
    console.log(
      `ratios: throughput writeBehind/writeThrough = ${f(bps / tps)}x; ack p50 = ${f(pct(behind.lat, 50) / pct(through.lat, 50))}x; lag p50 = ${f(pct(lags, 50) / pct(through.lat, 50))}x, lag p99 = ${f(pct(lags, 99) / pct(through.lat, 99))}x of writeThrough's; queue drained ${f(WRITES / drained, 0)} writes/s end to end; ${store.saves - savesBefore} Store row writes for ${WRITES} writes (coalescing)`,
    )
  } finally {
    await store.drop()
    redis.disconnect()
  }
}

async function bus(url: string): Promise<void> {
  const child = fork(fileURLToPath(new URL('./echo.ts', import.meta.url)), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, REDIS_URL: url },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  await new Promise<void>((r) => child.on('message', (m: { ready?: boolean }) => m.ready && r()))
  const redis = new Redis(url)
  const waiting = new Map<string, () => void>()
  const b = createInvalidationBus({
    redis,
    channel: 'bench:bus',
    caches: [{ evictLocal() {} }],
    onEvent(e) {
      if (e.type === 'message') waiting.get(e.message.keys[0] ?? '')?.()
    },
  })
  await b.ready()
  const rawSub = redis.duplicate()
  await rawSub.subscribe('bench:raw-pong')
  rawSub.on('message', (_c: string, msg: string) => waiting.get(`raw:${msg}`)?.())

  const measure = async (kind: 'bus' | 'raw', n: number): Promise<number[]> => {
    const rtts: number[] = []
    for (let i = 0; i < n; i++) {
      const key = kind === 'bus' ? `pong:${i}` : `raw:${i}`
      const got = new Promise<void>((r) => waiting.set(key, r))
      const s = performance.now()
      if (kind === 'bus') await b.publish({ keys: [`ping:${i}`] })
      else await redis.publish('bench:raw-ping', String(i))
      await got
      rtts.push(performance.now() - s)
      waiting.delete(key)
    }
    return rtts
  }
  await measure('bus', 200)
  await measure('raw', 200)
  // interleave rounds so both see the same machine load
  const busR: number[] = []
  const rawR: number[] = []
  for (let round = 0; round < 4; round++) {
    busR.push(...(await measure('bus', PINGS / 4)))
    rawR.push(...(await measure('raw', PINGS / 4)))
  }
  console.log(`\n## bus propagation between two processes (${PINGS} ping/pong each; one way = RTT / 2)`)
  console.log('| channel | one-way p50 ms | one-way p99 ms |')
  console.log('|---|---|---|')
  console.log(`| raw ioredis pub/sub (anchor) | ${f(pct(rawR, 50) / 2, 3)} | ${f(pct(rawR, 99) / 2, 3)} |`)
  console.log(`| createInvalidationBus | ${f(pct(busR, 50) / 2, 3)} | ${f(pct(busR, 99) / 2, 3)} |`)
  console.log(
    `ratios: bus/raw p50 = ${f(pct(busR, 50) / pct(rawR, 50))}x, p99 = ${f(pct(busR, 99) / pct(rawR, 99))}x`,
  )
  child.send({ op: 'exit' })
  await b.close()
  rawSub.disconnect()
  redis.disconnect()
}

console.log(
  `# @tierkit/invalidation bench — Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`,
)
try {
  const durable = await startRedis({ appendonly: true, appendfsync: 'always' })
  await writePath(durable.url, 'Redis appendonly yes + appendfsync always')
  await durable.stop()
  const everysec = await startRedis({ appendonly: true, appendfsync: 'everysec' })
  await writePath(everysec.url, 'Redis appendonly yes + appendfsync everysec')
  await bus(everysec.url)
} finally {
  await reapAll()
}
