/**
 * One contender of the tags benchmark, in its own process: `getOrLoad` of one key, OPS times in a row,
 * after a warm-up (a fifth of OPS); prints `{ variant, opsPerSec }` as JSON, ops per second of CPU time
 * (user + system, `process.cpuUsage`: what another process on the shared machine takes is not counted).
 * env: REDIS_URL, VARIANT (`l1-tagged` | `l1-plain` | `l2-tagged` | `l2-plain`), L1 (`l1-cache`: the
 * family's `L1Cache` of 10,000 entries, the default; `map`: a bare `Map`, the cheapest L1 there is), OPS.
 *  - l1-*: redis-aside cache with an L1; every call is an L1 hit. tagged = `tags.getOrLoad` with 3 tags
 *    (with the bus: the versions come from this process's map), plain = `cache.getOrLoad` (the anchor).
 *  - l2-*: the same without an L1: every call is an L2 hit (a Redis round trip for the value, wall time).
 */
import { performance } from 'node:perf_hooks'
import { L1Cache } from '@tierkit/l1-cache'
import { createCache } from '@tierkit/redis-aside'
import { Redis } from 'ioredis'
import { createInvalidationBus, createTags } from '../src/index.js'
import { MapL1 } from '../test/helpers/cache.js'

const variant = process.env.VARIANT ?? 'l1-tagged'
const OPS = Number(process.env.OPS ?? 1_000_000)
const TAGS = ['products', 'brand:7', 'category:3']

const redis = new Redis(process.env.REDIS_URL!)
const withL1 = variant.startsWith('l1')
const l1 = process.env.L1 === 'map' ? new MapL1() : new L1Cache<string, unknown>({ max: 10_000 })
const cache = createCache({ redis, namespace: 'bench', ttl: 600_000, ...(withL1 ? { l1 } : {}) })
const bus = createInvalidationBus({ redis, channel: 'bench:tags', caches: [cache] })
await bus.ready()
const tags = createTags<{ n: number }>({ redis, cache, namespace: 'bench', bus })
const loader = async () => ({ n: 1 })
const call: () => Promise<unknown> = variant.endsWith('tagged')
  ? () => tags.getOrLoad('p:1', loader, { tags: TAGS })
  : () => cache.getOrLoad('q:1', loader)

const n = withL1 ? OPS : Number(process.env.L2_OPS ?? 3000)
for (let i = 0; i < n / 5; i++) await call() // warm-up (and the first store)
const t0 = performance.now()
const cpu0 = process.cpuUsage()
for (let i = 0; i < n; i++) await call()
const cpu = process.cpuUsage(cpu0)
// an L2 hit waits on Redis (wall time); an L1 hit is all CPU
const secs = withL1 ? (cpu.user + cpu.system) / 1e6 : (performance.now() - t0) / 1000
process.stdout.write(`${JSON.stringify({ variant, opsPerSec: n / secs })}\n`)
await bus.close()
await cache.close()
redis.disconnect()
