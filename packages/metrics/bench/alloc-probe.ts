// Heap growth per call, in a process started with
//   node --expose-gc --min-semi-space-size=64 --max-semi-space-size=64 --import tsx bench/alloc-probe.ts NAMES...
// The young generation is large enough that a light allocator's round is not collected before it is measured, so
// the heapUsed delta is what the round allocated. Each round measures N calls, then 2N calls (after a gc each).
// Reported per contender, in bytes per call: `min`, the smallest delta of the 2N rounds divided by 2N (the first
// rounds include JIT warm-up); `slope`, the median over rounds of (delta(2N) - delta(N)) / N, in which whatever
// a round allocates once (a late compilation, the runtime's own bookkeeping) cancels out, and noise that moves
// single rounds both ways does not decide. The zero-allocation test uses `slope`. Heavy allocators (prom-client)
// get collected mid-round, which makes their `slope` meaningless; their `min` is a lower bound.
// Contenders: noop, record, record-watched (with onEvent and a watched layer, so that the refusals of a watched
// layer's records run too), control (allocates one small object per call), prom-client, otel.
import { createCacheMetrics } from '../src/index.js'

declare const gc: (() => void) | undefined
type Call = (layer: string, outcome: string, ms: number) => void

const CALLS = 500_000
const ROUNDS = 6
const LAYERS = ['l1', 'l2', 'db', 'cdn', 'nope']
const OUTCOMES = ['hit', 'miss', 'set', 'evict', 'bogus']
// Every 7th duration is negative, so the invalid path runs too.
const DURATIONS = Float64Array.from({ length: 1024 }, (_, i) => (i % 7 === 0 ? -1 : 0.05 * (i + 1)))

function freshLoop(): (call: Call, layers: string[], outcomes: string[], d: Float64Array, n: number) => void {
  return new Function(
    'call',
    'layers',
    'outcomes',
    'd',
    'n',
    'const nl = layers.length, no = outcomes.length\n' +
      'for (let i = 0; i < n; i++) call(layers[i % nl], outcomes[(i >> 2) % no], d[i & 1023])',
  ) as never
}

function measure(
  call: Call,
  layers: string[],
  outcomes: string[],
): { min: number; slope: number; rounds: number[]; slopes: number[] } {
  if (typeof gc !== 'function') throw new Error('run with --expose-gc')
  const collect = gc
  const loop = freshLoop()
  const grown = (n: number): number => {
    collect()
    collect()
    const before = process.memoryUsage().heapUsed
    loop(call, layers, outcomes, DURATIONS, n)
    return process.memoryUsage().heapUsed - before
  }
  const rounds: number[] = []
  const slopes: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    const once = grown(CALLS)
    const twice = grown(2 * CALLS)
    rounds.push(twice / (2 * CALLS))
    slopes.push((twice - once) / CALLS)
  }
  const sorted = [...slopes].sort((a, b) => a - b)
  return { min: Math.min(...rounds), slope: sorted[sorted.length >> 1]!, rounds, slopes }
}

async function contender(name: string): Promise<[Call, string[], string[]]> {
  switch (name) {
    case 'noop':
      return [() => {}, LAYERS, OUTCOMES]
    case 'record': {
      const metrics = createCacheMetrics({ layers: ['cdn', 'l1', 'l2', 'db'] })
      return [metrics.observer.record as Call, LAYERS, OUTCOMES]
    }
    case 'record-watched': {
      let events = 0
      const metrics = createCacheMetrics({
        layers: ['cdn', 'l1', 'l2', 'db'],
        onEvent: () => {
          events++
        },
      })
      metrics.watch('l1', { stats: () => ({ hits: events, misses: 0 }) })
      return [metrics.observer.record as Call, LAYERS, OUTCOMES]
    }
    case 'control': {
      const kept: unknown[] = [null]
      return [
        (layer, _outcome, ms) => {
          kept[0] = { layer, ms }
        },
        LAYERS,
        OUTCOMES,
      ]
    }
    case 'prom-client': {
      const { Histogram, Registry } = await import('prom-client')
      const h = new Histogram({
        name: 'h_seconds',
        help: 'h',
        labelNames: ['layer'],
        registers: [new Registry()],
      })
      return [(layer, _o, ms) => h.observe({ layer }, ms / 1000), LAYERS.slice(0, 4), OUTCOMES]
    }
    case 'otel': {
      const { MeterProvider } = await import('@opentelemetry/sdk-metrics')
      const h = new MeterProvider().getMeter('bench').createHistogram('h', { unit: 's' })
      return [(layer, _o, ms) => h.record(ms / 1000, { layer }), LAYERS.slice(0, 4), OUTCOMES]
    }
    default:
      throw new Error(`unknown contender ${name}`)
  }
}

const result: Record<string, ReturnType<typeof measure>> = {}
for (const name of process.argv.slice(2)) {
  const [call, layers, outcomes] = await contender(name)
  result[name] = measure(call, layers, outcomes)
}
process.stdout.write(`${JSON.stringify(result)}\n`)
