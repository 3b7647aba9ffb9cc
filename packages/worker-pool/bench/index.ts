// Benchmarks of @tierkit/worker-pool against its anchors, all measured in the same run and reported as ratios.
//   pnpm --filter @tierkit/worker-pool bench            (BENCH_QUICK=1 for a short smoke run)
//
// 1. Per-task overhead against raw tinypool 2.2 (the engine underneath), 1 task in flight and 64 in flight.
// 2. CPU-bound work, 4 x sum of i*i for i < 10M (bench/fixtures/work.mjs), against raw worker_threads (2 long-lived
//    workers).
// 3. Event-loop delay p99 on the main thread (perf_hooks.monitorEventLoopDelay) while that work runs on the pool
//    versus inline on the main thread.
// Rounds alternate between contenders (short blocks for the overhead test) and medians are reported, including the
// median of the per-pair ratios, to damp the noise of a shared machine: both sides of a pair see the same load.
import { availableParallelism, cpus } from 'node:os'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { Worker } from 'node:worker_threads'
import { Tinypool } from 'tinypool'
import { createPool } from '../src/index.js'
import { sumSquares } from './fixtures/work.mjs'

type PoolTasks = { noop: <T>(value: T) => T; sumSquares: (n: number) => number }

const QUICK = process.env.BENCH_QUICK === '1'
const THREADS = 2
const OVERHEAD_BLOCK = 1_000
const OVERHEAD_PAIRS = QUICK ? 6 : 40
const CPU_ROUNDS = QUICK ? 3 : 25
const CPU_N = 10_000_000
const CPU_ITEMS = [CPU_N, CPU_N, CPU_N, CPU_N]

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}
const fixture = (name: string): URL => new URL(`./fixtures/${name}`, import.meta.url)

/**
 * Runs `total` calls of `call` keeping `inFlight` outstanding. Returns wall-clock microseconds per task, and the
 * main thread's busy (non-idle event loop) microseconds per task: the part the pool itself costs on the main thread,
 * less sensitive than wall time to other processes taking the cores.
 */
async function throughput(
  call: (i: number) => Promise<unknown>,
  total: number,
  inFlight: number,
): Promise<{ wall: number; busy: number }> {
  let next = 0
  const elu = performance.eventLoopUtilization()
  const start = performance.now()
  const lane = async (): Promise<void> => {
    while (next < total) await call(next++)
  }
  await Promise.all(Array.from({ length: inFlight }, lane))
  const wall = ((performance.now() - start) * 1000) / total
  const busy = (performance.eventLoopUtilization(elu).active * 1000) / total
  return { wall, busy }
}

/** Two long-lived raw workers, fed from a shared list: what one writes by hand with `worker_threads` alone. */
class RawWorkers {
  readonly #workers = Array.from({ length: THREADS }, () => new Worker(fixture('raw-worker.mjs')))
  #fail: (err: Error) => void = () => {}

  constructor() {
    for (const worker of this.#workers) worker.on('error', (err) => this.#fail(err))
  }

  async ready(): Promise<void> {
    await this.map([1, 1])
  }

  map(items: number[]): Promise<number[]> {
    return new Promise((resolve, reject) => {
      this.#fail = reject
      const results: number[] = []
      let next = 0
      let done = 0
      const feed = (worker: Worker): void => {
        if (next >= items.length) return
        const i = next++
        worker.once('message', (value: number) => {
          results[i] = value
          if (++done === items.length) resolve(results)
          else feed(worker)
        })
        worker.postMessage(items[i])
      }
      for (const worker of this.#workers) feed(worker)
    })
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()))
  }
}

async function overhead(): Promise<void> {
  const raw = new Tinypool({
    filename: fixture('raw-tinypool.mjs').href,
    minThreads: THREADS,
    maxThreads: THREADS,
  })
  const pool = createPool<PoolTasks>({
    tasks: fixture('pool-tasks.mjs'),
    minThreads: THREADS,
    maxThreads: THREADS,
  })
  const contenders = {
    tinypool: (i: number) => raw.run(i, { name: 'noop' }) as Promise<number>,
    'worker-pool': (i: number) => pool.run('noop', i),
  }
  console.log(
    `\n1. per-task overhead (noop task; ${OVERHEAD_PAIRS} alternating pairs of ${OVERHEAD_BLOCK}-task blocks, medians)`,
  )
  for (const inFlight of [1, 64]) {
    for (const call of Object.values(contenders)) await throughput(call, 2_000, inFlight) // warm-up
    const wall: Record<string, number[]> = { tinypool: [], 'worker-pool': [] }
    const busy: Record<string, number[]> = { tinypool: [], 'worker-pool': [] }
    for (let pair = 0; pair < OVERHEAD_PAIRS; pair++) {
      // alternate which side goes first, so neither always inherits the other's aftermath
      const order = pair % 2 === 0 ? Object.entries(contenders) : Object.entries(contenders).reverse()
      for (const [name, call] of order) {
        const t = await throughput(call, OVERHEAD_BLOCK, inFlight)
        wall[name]!.push(t.wall)
        busy[name]!.push(t.busy)
      }
    }
    const report = (label: string, times: Record<string, number[]>): string => {
      const base = median(times.tinypool!)
      const ours = median(times['worker-pool']!)
      const ratio = median(times['worker-pool']!.map((t, i) => t / times.tinypool![i]!))
      // the added cost is derived from the paired ratio: the difference of two independent medians is mostly noise
      return `${label}: tinypool ${base.toFixed(2)} µs, worker-pool ${ours.toFixed(2)} µs -> ratio ${ratio.toFixed(3)}x, added ~${((ratio - 1) * base).toFixed(2)} µs`
    }
    console.log(
      `   ${String(inFlight).padStart(2)} in flight  ${report('wall time/task', wall)}   [target <= 1.10x, <= 5 µs]`,
    )
    console.log(`                ${report('main-thread busy/task', busy)}`)
  }
  await Promise.all([raw.destroy(), pool.close()])
}

async function cpu(): Promise<void> {
  const raw = new RawWorkers()
  const pool = createPool<PoolTasks>({
    tasks: fixture('pool-tasks.mjs'),
    minThreads: THREADS,
    maxThreads: THREADS,
  })
  await raw.ready()
  await pool.map('sumSquares', [1, 1])
  const expected = sumSquares(CPU_N)
  const times: Record<string, number[]> = { worker_threads: [], 'worker-pool': [] }
  const timed = async (name: string, work: () => Promise<number[]>): Promise<void> => {
    const start = performance.now()
    const results = await work()
    times[name]!.push(performance.now() - start)
    if (results.length !== 4 || results.some((r) => r !== expected)) throw new Error(`${name}: wrong results`)
  }
  for (let round = 0; round < CPU_ROUNDS; round++) {
    await timed('worker_threads', () => raw.map(CPU_ITEMS))
    await timed('worker-pool', () => pool.map('sumSquares', CPU_ITEMS))
  }
  const base = median(times.worker_threads!)
  const ours = median(times['worker-pool']!)
  const pairRatios = times['worker-pool']!.map((t, i) => t / times.worker_threads![i]!)
  console.log(`\n2. CPU: 4 x sumSquares(10M) on ${THREADS} threads (${CPU_ROUNDS} rounds, median)`)
  console.log(
    `   raw worker_threads ${base.toFixed(1)} ms, worker-pool ${ours.toFixed(1)} ms  ->  throughput ratio ` +
      `${(base / ours).toFixed(3)} (median of paired rounds ${median(pairRatios.map((r) => 1 / r)).toFixed(3)})   [target >= 0.95]`,
  )
  await Promise.all([raw.close(), pool.close()])
}

async function eventLoopDelay(): Promise<void> {
  const pool = createPool<PoolTasks>({
    tasks: fixture('pool-tasks.mjs'),
    minThreads: THREADS,
    maxThreads: THREADS,
  })
  await pool.map('sumSquares', [1, 1])
  const rounds = QUICK ? 3 : 10
  const measure = async (
    work: () => Promise<unknown>,
  ): Promise<{ p99: number; max: number; elapsed: number }> => {
    const histogram = monitorEventLoopDelay({ resolution: 1 })
    histogram.enable()
    const start = performance.now()
    for (let round = 0; round < rounds; round++) {
      await work()
      await sleep(5)
    }
    const elapsed = performance.now() - start
    histogram.disable()
    return { p99: histogram.percentile(99) / 1e6, max: histogram.max / 1e6, elapsed }
  }
  const onPool = await measure(() => pool.map('sumSquares', CPU_ITEMS))
  const inline = await measure(async () => CPU_ITEMS.map(sumSquares))
  console.log(`\n3. event-loop delay on the main thread while 4 x sumSquares(10M) runs (${rounds} rounds)`)
  console.log(
    `   on the pool: p99 ${onPool.p99.toFixed(2)} ms (max ${onPool.max.toFixed(2)} ms); inline: p99 ${inline.p99.toFixed(2)} ms ` +
      `(max ${inline.max.toFixed(2)} ms)  ->  inline p99 is ${(inline.p99 / onPool.p99).toFixed(1)}x the pool's`,
  )
  await pool.close()
}

console.log(
  `@tierkit/worker-pool bench: Node ${process.version}, ${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown'})` +
    `${QUICK ? ', QUICK' : ''}`,
)
await overhead()
await cpu()
await eventLoopDelay()
