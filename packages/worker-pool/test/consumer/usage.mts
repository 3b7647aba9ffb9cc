// Type-checked against the packed package in a scratch project (publish-and-consume check). Main entry only.
import {
  type CloseOptions,
  createPool,
  errors,
  mapLimit,
  type PoolEvent,
  type PoolOptions,
  type PoolStats,
  type RunOptions,
  type TaskHandle,
  type TaskMap,
  type WorkerPool,
  WorkerPoolError,
  type WorkerPoolErrorCode,
} from '@tierkit/worker-pool'

// The shape `defineTasks({ ... })` returns in a tasks module (written inline: this file imports the main entry only).
type Tasks = {
  sumSquares: (n: number) => number
  hashRows: (rows: { id: number; name: string }[]) => Promise<string>
  ping: () => 'pong'
} & TaskMap

const seen: PoolEvent[] = []
const options: PoolOptions = {
  tasks: new URL('./tasks.js', import.meta.url),
  maxThreads: 2,
  maxQueue: 16,
  idleTimeout: 10_000,
  taskTimeout: 60_000,
  onEvent: (event) => {
    if (event.type === 'crash') console.warn(event.error.code, event.error.threadId)
    seen.push(event)
  },
}
const pool: WorkerPool<Tasks> = createPool<Tasks>(options)

export async function main(): Promise<void> {
  const runOptions: RunOptions = { timeout: 5_000, signal: AbortSignal.timeout(10_000) }
  const total: number = await pool.run('sumSquares', 10_000_000, runOptions)
  const hash: string = await pool.run('hashRows', [{ id: 1, name: 'a' }])
  const pong: 'pong' = await pool.run('ping')
  const sums: number[] = await pool.map('sumSquares', [1e7, 1e7, 1e7, 1e7], {
    signal: AbortSignal.timeout(1_000),
  })
  const handle: TaskHandle<number> = await pool.submit('sumSquares', 5)
  const stats: PoolStats = pool.stats()
  const p99: number = stats.runTime.p99
  const later: PoolStats = pool.stats()
  const interval: number =
    (later.busyTime - stats.busyTime) / ((later.uptime - stats.uptime) * later.maxThreads)
  const since: Date = new Date(stats.createdAt)
  const pages: string[] = await mapLimit(
    ['a', 'b'],
    8,
    async (item, _i, signal) => (signal.aborted ? '' : item),
    {
      signal: AbortSignal.timeout(1_000),
    },
  )
  const settled: PromiseSettledResult<number>[] = await mapLimit([1, 2], 2, async (n) => n, { settle: 'all' })
  try {
    await pool.run('ping')
  } catch (err) {
    if (err instanceof WorkerPoolError && err.code === 'E_QUEUE_FULL') console.log('retry later')
    if (err instanceof errors.E_CLOSED) console.log(err.resource)
    if (err instanceof errors.E_ABORTED) console.log(err.cause)
    const code: WorkerPoolErrorCode | undefined = err instanceof WorkerPoolError ? err.code : undefined
    console.log(code)
  }
  console.log(total, hash, pong, sums, await handle.result, p99, interval, since, pages, settled, seen)
  const closeOptions: CloseOptions = { timeout: 1_000 }
  await pool.close(closeOptions)
  await pool.destroy()
}
