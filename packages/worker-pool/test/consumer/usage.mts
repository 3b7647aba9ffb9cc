// Type-checked against the packed package in a scratch project (publish-and-consume check). Main entry only.
import {
  createPool,
  mapLimit,
  type PoolOptions,
  type PoolStats,
  type RunOptions,
  type TaskHandle,
  type TaskMap,
  type WorkerPool,
  WorkerPoolError,
} from '@tierkit/worker-pool'

// The shape `defineTasks({ ... })` returns in a tasks module (written inline: this file imports the main entry only).
type Tasks = {
  sumSquares: (n: number) => number
  hashRows: (rows: { id: number; name: string }[]) => Promise<string>
  ping: () => 'pong'
} & TaskMap

const options: PoolOptions = { tasks: new URL('./tasks.js', import.meta.url), maxThreads: 2, maxQueue: 16 }
const pool: WorkerPool<Tasks> = createPool<Tasks>(options)

export async function main(): Promise<void> {
  const runOptions: RunOptions = { timeout: 5_000, signal: AbortSignal.timeout(10_000) }
  const total: number = await pool.run('sumSquares', 10_000_000, runOptions)
  const hash: string = await pool.run('hashRows', [{ id: 1, name: 'a' }])
  const pong: 'pong' = await pool.run('ping')
  const sums: number[] = await pool.map('sumSquares', [1e7, 1e7, 1e7, 1e7])
  const handle: TaskHandle<number> = await pool.submit('sumSquares', 5)
  const stats: PoolStats = pool.stats()
  const p99: number = stats.runTime.p99
  const later: PoolStats = pool.stats()
  const interval: number =
    (later.busyTimeMs - stats.busyTimeMs) / ((later.uptimeMs - stats.uptimeMs) * later.maxThreads)
  const since: Date = new Date(stats.createdAt)
  const pages: string[] = await mapLimit(['a', 'b'], 8, async (item, _i, signal) =>
    signal.aborted ? '' : item,
  )
  const settled: PromiseSettledResult<number>[] = await mapLimit([1, 2], 2, async (n) => n, { settle: 'all' })
  try {
    await pool.run('ping')
  } catch (err) {
    if (err instanceof WorkerPoolError && err.code === 'E_QUEUE_FULL') pool.on('drain', () => {})
  }
  console.log(total, hash, pong, sums, await handle.result, p99, interval, since, pages, settled)
  await pool.close({ timeout: 1_000 })
  await pool.destroy()
}
