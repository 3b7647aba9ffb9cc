/**
 * `pnpm --filter @tierkit/cdn-headers bench`
 *
 * 1. One Fastify route (1 KB JSON) with this package's plugin (policy + ETag + conditional check) vs the same route
 *    with @fastify/etag + @fastify/caching, same run, alternating rounds: (a) autocannon 9 as a library on
 *    loopback, (b) server-side CPU per request with `inject` loops. Two workloads: plain GETs (200) and
 *    revalidations (If-None-Match → 304).
 * 2. ETag hashing throughput, 1 KB and 100 KB bodies: computeETag vs the `etag` package (1.8.1).
 * Everything is reported as ratios against the anchors; absolute figures depend on the (shared) machine.
 * On a shared VM wall-clock rates swing with other tenants, so each figure is also given per CPU-second of this
 * process (process.cpuUsage): work done per unit of CPU, which other processes do not distort.
 */

import { randomBytes } from 'node:crypto'
import fastifyCaching from '@fastify/caching'
import fastifyEtag from '@fastify/etag'
import autocannon from 'autocannon'
import etag from 'etag'
import Fastify, { type FastifyInstance } from 'fastify'
import { fastifyCdnHeaders } from '../src/fastify.js'
import { computeETag, definePolicy } from '../src/index.js'

const DURATION = Number(process.env.BENCH_SECONDS ?? 3)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const payload = {
  users: Array.from({ length: 12 }, (_, i) => ({
    id: i,
    name: `user-${i}`,
    email: `user${i}@example.com`,
    active: i % 2 === 0,
  })),
}

async function ours(): Promise<FastifyInstance> {
  const app = Fastify()
  const policy = definePolicy([{ path: '/api/public/*', browserTtl: 600, edgeTtl: 600, tags: ['public'] }])
  await app.register(fastifyCdnHeaders, { policy })
  app.get('/api/public/users', async () => payload)
  return app
}

async function anchors(): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(fastifyCaching, { privacy: 'public', expiresIn: 600 })
  await app.register(fastifyEtag)
  app.get('/api/public/users', async () => payload)
  return app
}

async function bare(): Promise<FastifyInstance> {
  const app = Fastify()
  app.get('/api/public/users', async () => payload)
  return app
}

interface Rate {
  /** requests per wall-clock second */
  wall: number
  /** requests per CPU-second of this process (client and server share it) */
  cpu: number
}

async function rps(app: FastifyInstance, headers: Record<string, string>): Promise<Rate> {
  const url = await app.listen({ host: '127.0.0.1', port: 0 })
  const before = process.cpuUsage()
  const r = await autocannon({ url: `${url}/api/public/users`, connections: 10, duration: DURATION, headers })
  const used = process.cpuUsage(before)
  if (r.errors > 0) throw new Error(`errors in run: ${r.errors}`)
  const expected = headers['if-none-match'] === undefined ? '2xx' : '3xx'
  if (r[expected] !== r.requests.total)
    throw new Error(`unexpected statuses: ${JSON.stringify(r.statusCodeStats)}`)
  return { wall: r.requests.total / DURATION, cpu: r.requests.total / ((used.user + used.system) / 1e6) }
}

const variants = {
  'tierkit plugin': ours,
  '@fastify/etag + @fastify/caching': anchors,
  'bare route (no caching)': bare,
}

async function fastifyBench(): Promise<void> {
  // the ETag of each variant, for the 304 workload
  const tags: Record<string, string> = {}
  for (const [name, make] of Object.entries(variants)) {
    const app = await make()
    const r = await app.inject({ url: '/api/public/users' })
    tags[name] = String(r.headers.etag ?? '"none"')
    if (name !== 'bare route (no caching)') {
      const c = await app.inject({ url: '/api/public/users', headers: { 'if-none-match': tags[name]! } })
      if (c.statusCode !== 304) throw new Error(`${name}: no 304`)
    }
    await app.close()
  }
  for (const workload of ['200 (full body)', '304 (If-None-Match)'] as const) {
    const results: Record<string, Rate[]> = {}
    // round 0 warms the process (JIT of fastify, autocannon and the plugins) and is discarded
    for (let round = 0; round <= ROUNDS; round++) {
      // alternate the order between rounds so that neither side always runs first
      const order = Object.entries(variants)
      if (round % 2 === 0) order.reverse()
      for (const [name, make] of order) {
        if (workload !== '200 (full body)' && name === 'bare route (no caching)') continue
        const app = await make()
        const headers: Record<string, string> =
          workload === '200 (full body)' ? {} : { 'if-none-match': tags[name]! }
        const rate = await rps(app, headers)
        if (round > 0) (results[name] ??= []).push(rate)
        await app.close()
      }
    }
    const mean = median
    const anchor = results['@fastify/etag + @fastify/caching']!
    const aw = mean(anchor.map((x) => x.wall))
    const ac = mean(anchor.map((x) => x.cpu))
    console.log(
      `\nFastify route over HTTP, ${workload}: median of ${ROUNDS} x ${DURATION}s rounds, autocannon, 10 connections`,
    )
    for (const [name, xs] of Object.entries(results)) {
      const w = mean(xs.map((x) => x.wall))
      const c = mean(xs.map((x) => x.cpu))
      console.log(
        `  ${name.padEnd(34)} ${w.toFixed(0).padStart(7)} req/s (${(w / aw).toFixed(2)}x)   ${c.toFixed(0).padStart(7)} req/CPU-s (${(c / ac).toFixed(2)}x)`,
      )
    }
  }
}

/** Operations per CPU-second (user + system time of this process). */
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

/** Server-side CPU per request (µs) with light-my-request `inject` loops: no sockets, no client in the figure. */
async function injectBench(): Promise<void> {
  const apps: Record<string, FastifyInstance> = {}
  for (const [name, make] of Object.entries(variants)) {
    apps[name] = await make()
    await apps[name]!.ready()
  }
  const tags: Record<string, string> = {}
  for (const name of Object.keys(apps))
    tags[name] = String((await apps[name]!.inject({ url: '/api/public/users' })).headers.etag)
  for (const workload of ['200 (full body)', '304 (If-None-Match)'] as const) {
    const results: Record<string, number[]> = {}
    for (let round = 0; round <= 5; round++) {
      const order = Object.keys(apps)
      if (round % 2 === 0) order.reverse()
      for (const name of order) {
        if (workload !== '200 (full body)' && name === 'bare route (no caching)') continue
        const headers: Record<string, string> =
          workload === '200 (full body)' ? {} : { 'if-none-match': tags[name]! }
        const n = 3000
        const before = process.cpuUsage()
        for (let i = 0; i < n; i++) await apps[name]!.inject({ url: '/api/public/users', headers })
        const used = process.cpuUsage(before)
        if (round > 0) (results[name] ??= []).push((used.user + used.system) / n)
      }
    }
    const anchor = median(results['@fastify/etag + @fastify/caching']!)
    console.log(
      `\nFastify route via inject, ${workload}: server CPU per request, median of 5 alternating rounds x 3000`,
    )
    for (const [name, xs] of Object.entries(results)) {
      const m = median(xs)
      console.log(
        `  ${name.padEnd(34)} ${m.toFixed(1).padStart(7)} µs   requests per CPU-s vs anchors ${(anchor / m).toFixed(2)}x`,
      )
    }
  }
  for (const app of Object.values(apps)) await app.close()
}

function opsPerSec(fn: () => void, minMs = 300): number {
  for (let i = 0; i < 200; i++) fn()
  let n = 0
  const before = process.cpuUsage()
  let cpuMs = 0
  while (cpuMs < minMs) {
    for (let i = 0; i < 100; i++) fn()
    n += 100
    const u = process.cpuUsage(before)
    cpuMs = (u.user + u.system) / 1000
  }
  return (n / cpuMs) * 1000
}

function hashBench(): void {
  console.log('\nETag hashing throughput, per CPU-second (median of 5 alternating rounds)')
  for (const [label, size] of [
    ['1 KB', 1024],
    ['100 KB', 100 * 1024],
  ] as const) {
    const buf = randomBytes(size)
    const str = buf.toString('base64').slice(0, size)
    for (const [kind, body] of [
      ['Buffer', buf],
      ['string', str],
    ] as const) {
      const a: number[] = []
      const b: number[] = []
      for (let r = 0; r < 5; r++) {
        a.push(opsPerSec(() => computeETag(body)))
        b.push(opsPerSec(() => etag(body)))
      }
      const med = (xs: number[]) => xs.sort((x, y) => x - y)[2]!
      const ma = med(a)
      const mb = med(b)
      console.log(
        `  ${label} ${kind.padEnd(6)}  computeETag ${ma.toFixed(0).padStart(9)} ops/s (${((ma * size) / 1e6).toFixed(0)} MB/s)   etag@1.8.1 ${mb.toFixed(0).padStart(9)} ops/s   ratio ${(ma / mb).toFixed(2)}x`,
      )
    }
  }
}

console.log(`@tierkit/cdn-headers benchmark — Node ${process.version}, ${new Date().toISOString()}`)
hashBench()
await injectBench()
await fastifyBench()
