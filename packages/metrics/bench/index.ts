// pnpm --filter @tierkit/metrics bench   (node --expose-gc --import tsx bench/index.ts)
//
// The cost of one observer.record(layer, outcome, durationMs) call against, in the same run:
//   - an empty function with the same arguments (the floor of a call from the same loop),
//   - prom-client 15.1 labelled Histogram.observe({ layer }, seconds),
//   - the OpenTelemetry SDK 2.12 Histogram.record(seconds, { layer }),
// and, on their own, the clock reads a caller makes to time an operation (performance.now, hrtime.bigint).
// Each contender runs in its own freshly compiled loop of 10^6 calls; rounds are interleaved and the median
// ns per call is reported, in CPU time of the process and in wall time. Allocation: heap growth per call from bench/alloc-probe.ts in a child process.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics'
import { seeded } from '@tierkit/testkit/random'
import { Histogram, Registry } from 'prom-client'
import { createCacheMetrics } from '../src/index.js'
import { registerOpenTelemetryInstruments } from '../src/opentelemetry.js'
import { registerPrometheusCollectors } from '../src/prometheus.js'

type Call = (layer: string, outcome: string, ms: number) => unknown

const CALLS = 1_000_000
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 11)
const LAYERS = ['l1', 'l2', 'db', 'cdn']
const OUTCOMES = ['hit', 'miss', 'hit', 'set']
const DURATIONS = (() => {
  // a lognormal spread of durations around 1.5 ms, fixed seed
  const r = seeded(42)
  return Float64Array.from({ length: 1024 }, () => {
    const n = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r())
    return Math.exp(Math.log(1.5) + n)
  })
})()

function freshLoop(): (call: Call, n: number) => void {
  // A new function per contender, so each call site has its own type feedback and is optimised on its own.
  const body =
    'return function loop(call, n) {\n' +
    '  for (let i = 0; i < n; i++) call(layers[i & 3], outcomes[(i >> 2) & 3], d[i & 1023])\n' +
    '}'
  return new Function('layers', 'outcomes', 'd', body)(LAYERS, OUTCOMES, DURATIONS)
}

class BenchReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

// Contenders.
const metrics = createCacheMetrics({ layers: ['cdn', 'l1', 'l2', 'db'] })
const promRegistry = new Registry()
// Both adapters are registered on the measured instance: they must not change the cost of record.
registerPrometheusCollectors(metrics, { registry: promRegistry })
const otelProvider = new MeterProvider({ readers: [new BenchReader()] })
registerOpenTelemetryInstruments(metrics, { meter: otelProvider.getMeter('tierkit-bench') })
const promHistogram = new Histogram({
  name: 'bench_latency_seconds',
  help: 'bench',
  labelNames: ['layer'],
  registers: [new Registry()],
})
const otelHistogram = otelProvider.getMeter('bench').createHistogram('bench.latency', { unit: 's' })
let sink = 0

const contenders: Record<string, Call> = {
  'empty function': () => {},
  'observer.record': metrics.observer.record as Call,
  'prom-client Histogram.observe': (layer, _outcome, ms) => promHistogram.observe({ layer }, ms / 1000),
  'OTel SDK Histogram.record': (layer, _outcome, ms) => otelHistogram.record(ms / 1000, { layer }),
  'clock: performance.now()': () => {
    sink += performance.now()
  },
  'clock: process.hrtime.bigint()': () => {
    sink += Number(process.hrtime.bigint() & 0xffn)
  },
}

// Two clocks per round: wall time, and CPU time of this process (user + system), which does not count the time
// the process waits for a core on a shared machine.
const loops = new Map(Object.keys(contenders).map((name) => [name, freshLoop()]))
const wallSamples = new Map<string, number[]>(Object.keys(contenders).map((name) => [name, []]))
const cpuSamples = new Map<string, number[]>(Object.keys(contenders).map((name) => [name, []]))
for (let round = -2; round < ROUNDS; round++) {
  for (const [name, call] of Object.entries(contenders)) {
    const loop = loops.get(name)!
    const c0 = process.cpuUsage()
    const t0 = process.hrtime.bigint()
    loop(call, CALLS)
    const wall = Number(process.hrtime.bigint() - t0) / CALLS
    const c1 = process.cpuUsage(c0)
    if (round >= 0) {
      wallSamples.get(name)!.push(wall)
      cpuSamples.get(name)!.push(((c1.user + c1.system) * 1000) / CALLS)
    }
  }
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
const med = new Map([...cpuSamples].map(([name, xs]) => [name, median(xs)]))
const wallMed = new Map([...wallSamples].map(([name, xs]) => [name, median(xs)]))
const empty = med.get('empty function')!
const record = med.get('observer.record')!
const prom = med.get('prom-client Histogram.observe')!
const otel = med.get('OTel SDK Histogram.record')!

// Allocation, in a child process with a young generation large enough that nothing is collected mid-round.
const probe = fileURLToPath(new URL('./alloc-probe.ts', import.meta.url))
const alloc = spawnSync(
  process.execPath,
  [
    '--expose-gc',
    '--min-semi-space-size=64',
    '--max-semi-space-size=64',
    '--import',
    'tsx',
    probe,
    'noop',
    'record',
    'prom-client',
    'otel',
  ],
  { encoding: 'utf8' },
)
const bytes = alloc.status === 0 ? (JSON.parse(alloc.stdout) as Record<string, { min: number }>) : undefined

const load = (await import('node:os')).loadavg()[0]!.toFixed(1)
console.log(
  `@tierkit/metrics bench: Node ${process.version}, ${CALLS} calls per round, median of ${ROUNDS} rounds, load average ${load}`,
)
console.log('')
console.log('| contender | CPU ns/call (median) | wall ns/call (median) | vs observer.record (CPU) |')
console.log('| --- | ---: | ---: | ---: |')
for (const [name, ns] of med) {
  console.log(
    `| ${name} | ${ns.toFixed(1)} | ${wallMed.get(name)!.toFixed(1)} | ${(ns / record).toFixed(2)}x |`,
  )
}
console.log('')
console.log(
  `observer.record above an empty function: ${(record - empty).toFixed(1)} ns CPU, ${(wallMed.get('observer.record')! - wallMed.get('empty function')!).toFixed(1)} ns wall (target <= 50 ns)`,
)
console.log(`prom-client Histogram.observe / observer.record: ${(prom / record).toFixed(1)}x (target >= 5x)`)
console.log(`OTel SDK Histogram.record / observer.record: ${(otel / record).toFixed(1)}x`)
if (bytes) {
  const fmt = (b: number) => b.toFixed(3)
  console.log(
    `heap growth per call over 10^6 calls (steady state, smallest round): observer.record ${fmt(bytes.record!.min)} B, empty function ${fmt(bytes.noop!.min)} B, prom-client ${fmt(bytes['prom-client']!.min)} B, OTel SDK ${fmt(bytes.otel!.min)} B`,
  )
} else {
  console.log(`allocation probe failed: ${alloc.stderr}`)
  process.exitCode = 1
}
if (sink === -1) console.log(sink)
await otelProvider.shutdown()
