/**
 * `pnpm --filter @tierkit/cdn-headers build && pnpm --filter @tierkit/cdn-headers bench`
 *
 * Measures the BUILT package (`dist/`), anchors in the same run, everything reported as ratios:
 * 1. ETag hashing throughput, 1 KB and 100 KB bodies: computeETag vs the `etag` package (1.8.1).
 * 2. One Fastify route (1 KB JSON) with this package's plugin (policy + ETag + conditional check) vs the same route
 *    with @fastify/etag + @fastify/caching (and the bare route for reference), two workloads: plain GETs (200) and
 *    revalidations (If-None-Match → 304):
 *    (a) server CPU per request with light-my-request `inject` loops (no sockets);
 *    (b) over HTTP: each app in its own child process on loopback, autocannon 9 in this process; the server's own
 *        CPU time per request (read over IPC) and wall-clock requests per second.
 * 3. `policy.compile` alone (route matching with path normalisation, safety rule, headers) per call, for plain,
 *    query-string, percent-encoded and upper-case targets, against the BENCH_BASELINE_DIST build when given.
 * Robust on a noisy shared machine: A/B rounds are interleaved (the order rotates every round), each round yields
 * a ratio against the anchor measured in that same round, and the report gives the median ratio (with the range).
 * Knobs: BENCH_ROUNDS (inject rounds, 21), BENCH_HTTP_ROUNDS (7), BENCH_SECONDS (per HTTP run, 2),
 * BENCH_ONLY (hash | compile | inject | http), BENCH_BASELINE_DIST (an older build of the package, measured as one more variant).
 */

import { type ChildProcess, fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import etag from 'etag'
import type { FastifyInstance } from 'fastify'
import type * as MainEntry from '../src/index.js'
import { ANCHOR, BARE, computeETag, policyFor, ROUTE, variants } from './apps.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 21)
const HTTP_ROUNDS = Number(process.env.BENCH_HTTP_ROUNDS ?? 7)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 2)
const NAMES = Object.keys(variants)
const NAMES_304 = NAMES.filter((n) => n !== BARE)
const WORKLOADS = ['200 (full body)', '304 (If-None-Match)'] as const

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

const fmt = (x: number): string => `${x.toFixed(2)}x`
const range = (xs: readonly number[]): string => `[${fmt(Math.min(...xs))}..${fmt(Math.max(...xs))}]`

/** Rotating order: round r starts with variant r mod n, so each variant runs first, middle and last equally. */
function order<T>(items: readonly T[], round: number): T[] {
  const k = round % items.length
  return [...items.slice(k), ...items.slice(0, k)]
}

/** `global.gc` (the bench script runs node with `--expose-gc`). */
const gc = (globalThis as { gc?: () => void }).gc

function cpuNow(): number {
  const u = process.cpuUsage()
  return u.user + u.system
}

function opsPerSec(fn: () => void, minMs = 200): number {
  for (let i = 0; i < 200; i++) fn()
  let n = 0
  const start = cpuNow()
  let cpuMs = 0
  while (cpuMs < minMs) {
    for (let i = 0; i < 100; i++) fn()
    n += 100
    cpuMs = (cpuNow() - start) / 1000
  }
  return (n / cpuMs) * 1000
}

function hashBench(): void {
  console.log('\nETag hashing throughput per CPU-second; ratio = median of 7 interleaved rounds')
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
      const ours: number[] = []
      const ratios: number[] = []
      for (let r = 0; r < 7; r++) {
        const pair =
          r % 2 === 0
            ? [opsPerSec(() => computeETag(body)), opsPerSec(() => etag(body))]
            : [opsPerSec(() => etag(body)), opsPerSec(() => computeETag(body))].reverse()
        ours.push(pair[0]!)
        ratios.push(pair[0]! / pair[1]!)
      }
      const m = median(ours)
      console.log(
        `  ${`${label} ${kind}`.padEnd(14)} computeETag ${(m / 1000).toFixed(0).padStart(5)} k ops/s (${((m * size) / 1e6).toFixed(0)} MB/s)   vs etag@1.8.1 ${fmt(median(ratios))} ${range(ratios)}`,
      )
    }
  }
}

/** The compile() cost per call of this build (and of the baseline build): the part the path normalisation touches. */
async function compileBench(): Promise<void> {
  const load = async (dir: string): Promise<typeof MainEntry> =>
    (await import(new URL('index.js', `file://${dir}/`).href)) as typeof MainEntry
  const builds: [string, typeof MainEntry][] = [
    ['this build', await load(fileURLToPath(new URL('../dist', import.meta.url)))],
  ]
  const baselineDist = process.env.BENCH_BASELINE_DIST
  if (baselineDist !== undefined) builds.push(['baseline build', await load(baselineDist)])
  // the demo's table shape: a private route first, a public API, a catch-all
  const rules: MainEntry.RouteRule[] = [
    { path: '/api/users/*', authenticated: true },
    { path: '/api/public/*', maxAge: 600, cdnMaxAge: 600, staleWhileRevalidate: 60, tags: ['public'] },
    { path: '/*', maxAge: 60 },
  ]
  const targets = [
    ['plain', '/api/public/products/123'],
    ['query string', '/api/public/products?ids=1,2,3,4,5,6,7,8,9,10'],
    ['percent-encoded', '/api/public/caf%C3%A9/%31%32%33'],
    ['upper case', '/api/public/Products/ABC'],
  ] as const
  console.log(
    `
policy.compile per call (3 rules), ops per CPU-second; ratio = this build / baseline build, median of 7 interleaved rounds`,
  )
  for (const [label, target] of targets) {
    const fns = builds.map(([, m]) => {
      const policy = policyFor(m, rules)
      const req = { method: 'GET', path: target, headers: {} }
      const res = { status: 200, setsCookie: false }
      return () => {
        policy.compile(req, res)
      }
    })
    const ops: number[][] = fns.map(() => [])
    for (let r = 0; r < 7; r++) {
      for (const i of order(
        fns.map((_, j) => j),
        r,
      ))
        ops[i]!.push(opsPerSec(fns[i]!, 100))
    }
    const ours = median(ops[0]!)
    const line = `  ${label.padEnd(16)} ${(ours / 1000).toFixed(0).padStart(6)} k ops/s`
    if (ops.length === 1) console.log(line)
    else {
      const ratios = ops[0]!.map((o, r) => o / ops[1]![r]!)
      console.log(
        `${line}   baseline ${(median(ops[1]!) / 1000).toFixed(0).padStart(6)} k ops/s   ${fmt(median(ratios))} ${range(ratios)}`,
      )
    }
  }
}

/** Server-side CPU per request (µs) with `inject` loops: no sockets, no client in the figure. */
async function injectBench(): Promise<void> {
  const apps: Record<string, FastifyInstance> = {}
  const tags: Record<string, string> = {}
  for (const name of NAMES) {
    const app = await variants[name]!()
    await app.ready()
    apps[name] = app
    tags[name] = String((await app.inject({ url: ROUTE })).headers.etag)
  }
  const n = 1000
  for (const workload of WORKLOADS) {
    const names = workload === '304 (If-None-Match)' ? NAMES_304 : NAMES
    const us: Record<string, number[]> = {}
    const ratios: Record<string, number[]> = {}
    // round 0 warms the JIT and is discarded
    for (let round = 0; round <= ROUNDS; round++) {
      const cost: Record<string, number> = {}
      for (const name of order(names, round)) {
        const headers: Record<string, string> =
          workload === '200 (full body)' ? {} : { 'if-none-match': tags[name]! }
        const expected = workload === '200 (full body)' ? 200 : 304
        const first = await apps[name]!.inject({ url: ROUTE, headers })
        if (first.statusCode !== expected) throw new Error(`${name}: ${first.statusCode}, not ${expected}`)
        // collect now, so that a major GC caused by one variant is not billed to the next one
        gc?.()
        const start = cpuNow()
        for (let i = 0; i < n; i++) await apps[name]!.inject({ url: ROUTE, headers })
        cost[name] = (cpuNow() - start) / n
      }
      if (round === 0) continue
      for (const name of names) {
        ;(us[name] ??= []).push(cost[name]!)
        ;(ratios[name] ??= []).push(cost[ANCHOR]! / cost[name]!)
      }
    }
    console.log(
      `\nFastify route via inject, ${workload}: server CPU per request; ratio = anchor CPU / variant CPU (>1: cheaper than the anchors), median of ${ROUNDS} interleaved rounds x ${n} requests`,
    )
    for (const name of names) {
      console.log(
        `  ${name.padEnd(34)} ${median(us[name]!).toFixed(1).padStart(6)} µs   ${fmt(median(ratios[name]!))} ${range(ratios[name]!)}`,
      )
    }
  }
  for (const app of Object.values(apps)) await app.close()
}

interface Server {
  child: ChildProcess
  url: string
}

function startServer(name: string): Promise<Server> {
  const child = fork(fileURLToPath(new URL('./server.ts', import.meta.url)), [name], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  return new Promise((resolve, reject) => {
    child.once('message', (m: { url: string }) => resolve({ child, url: m.url }))
    child.once('error', reject)
    child.once('exit', (code) => reject(new Error(`server ${name} exited with ${code}`)))
  })
}

function serverCpu(s: Server): Promise<number> {
  return new Promise((resolve) => {
    s.child.once('message', (m: { cpu: number }) => resolve(m.cpu))
    s.child.send('cpu')
  })
}

async function load(
  s: Server,
  headers: Record<string, string>,
  expected: '2xx' | '3xx',
  seconds: number,
): Promise<{ rps: number; cpuPerReq: number }> {
  const before = await serverCpu(s)
  const r = await autocannon({ url: `${s.url}${ROUTE}`, connections: 10, duration: seconds, headers })
  const after = await serverCpu(s)
  if (r.errors > 0 || r.timeouts > 0) throw new Error(`errors in run: ${r.errors}, timeouts: ${r.timeouts}`)
  if (r[expected] !== r.requests.total)
    throw new Error(`unexpected statuses: ${JSON.stringify(r.statusCodeStats)}`)
  return { rps: r.requests.total / seconds, cpuPerReq: (after - before) / r.requests.total }
}

async function httpBench(): Promise<void> {
  const servers: Record<string, Server> = {}
  for (const name of NAMES) servers[name] = await startServer(name)
  try {
    const tags: Record<string, string> = {}
    for (const name of NAMES)
      tags[name] = (await fetch(`${servers[name]!.url}${ROUTE}`)).headers.get('etag') ?? ''
    for (const workload of WORKLOADS) {
      const names = workload === '304 (If-None-Match)' ? NAMES_304 : NAMES
      const expected = workload === '200 (full body)' ? '2xx' : '3xx'
      const headersOf = (name: string): Record<string, string> =>
        workload === '200 (full body)' ? {} : { 'if-none-match': tags[name]! }
      // warm-up, discarded
      for (const name of names) await load(servers[name]!, headersOf(name), expected, 1)
      const cpu: Record<string, number[]> = {}
      const rps: Record<string, number[]> = {}
      const cpuRatio: Record<string, number[]> = {}
      const rpsRatio: Record<string, number[]> = {}
      for (let round = 0; round < HTTP_ROUNDS; round++) {
        const res: Record<string, { rps: number; cpuPerReq: number }> = {}
        for (const name of order(names, round))
          res[name] = await load(servers[name]!, headersOf(name), expected, SECONDS)
        for (const name of names) {
          ;(cpu[name] ??= []).push(res[name]!.cpuPerReq)
          ;(rps[name] ??= []).push(res[name]!.rps)
          ;(cpuRatio[name] ??= []).push(res[ANCHOR]!.cpuPerReq / res[name]!.cpuPerReq)
          ;(rpsRatio[name] ??= []).push(res[name]!.rps / res[ANCHOR]!.rps)
        }
      }
      console.log(
        `\nFastify route over HTTP, ${workload}: each app in its own process, autocannon 10 connections, median of ${HTTP_ROUNDS} interleaved rounds x ${SECONDS}s`,
      )
      for (const name of names) {
        console.log(
          `  ${name.padEnd(34)} server CPU ${median(cpu[name]!).toFixed(1).padStart(6)} µs/req ${fmt(median(cpuRatio[name]!))} ${range(cpuRatio[name]!)}   ${median(rps[name]!).toFixed(0).padStart(6)} req/s ${fmt(median(rpsRatio[name]!))} ${range(rpsRatio[name]!)}`,
        )
      }
    }
  } finally {
    for (const s of Object.values(servers)) s.child.send('close')
  }
}

console.log(`@tierkit/cdn-headers benchmark — Node ${process.version}, ${new Date().toISOString()}`)
const only = process.env.BENCH_ONLY
if (only === undefined || only === 'hash') hashBench()
if (only === undefined || only === 'compile') await compileBench()
if (only === undefined || only === 'inject') await injectBench()
if (only === undefined || only === 'http') await httpBench()
