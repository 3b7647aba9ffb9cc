// The public types of the pool: task typing, options, events, handles and stats (the API, no behaviour).
import type { ResourceLimits, TransferListItem } from 'node:worker_threads'
import type { WorkerCrashedError } from './errors.js'
import type { Percentiles } from './samples.js'
import type { TaskMap } from './worker.js'

/** Names of the tasks of a task set. */
export type TaskName<T extends TaskMap> = Extract<keyof T, string>

/** Argument type of a task function (`void` when it takes none, so the argument can be left out). */
export type TaskArg<F> = F extends (...args: infer P) => unknown
  ? P extends []
    ? undefined | undefined
    : P[0]
  : never

/**
 * The arguments of `run`/`submit` for a task: `(arg, options?)`, or `(arg?, options?)` when the task takes no
 * argument (or an optional one).
 */
export type TaskArgs<F, O> = F extends (...args: infer P) => unknown
  ? P extends []
    ? [arg?: undefined, options?: O]
    : P extends [infer A]
      ? [arg: A, options?: O]
      : [arg?: P[0], options?: O]
  : never

/** Resolved result type of a task function. */
export type TaskResult<F> = F extends (...args: never[]) => infer R ? Awaited<R> : never

/** How the worker loads the tasks module. */
export type TasksLoader = 'auto' | 'native' | 'tsx'

/** Options of {@link createPool}. */
export interface PoolOptions {
  /**
   * The tasks module (`export default defineTasks({ ... })`): a `file:` URL or an absolute path, usually
   * `new URL('./tasks.js', import.meta.url)`. If that `.js` (`.mjs`, `.cjs`) file does not exist but a `.ts`
   * (`.mts`, `.cts`) file of the same name does, the TypeScript file is used, so one line works both from a
   * build (compiled `.js`) and in development (sources run with tsx).
   */
  tasks: URL | string
  /**
   * Threads kept alive when idle; the pool returns to this count after bursts, crashes and cancellations.
   *
   * @default Math.max(1, Math.floor(maxThreads / 2))
   */
  minThreads?: number | undefined
  /**
   * Most threads at once, so most tasks running at once.
   *
   * @default os.availableParallelism() (at least minThreads)
   */
  maxThreads?: number | undefined
  /**
   * Most tasks waiting for a thread. `run` rejects with `E_QUEUE_FULL` past it; `submit` waits for room.
   *
   * @default Infinity
   */
  maxQueue?: number | undefined
  /**
   * Milliseconds an idle thread above `minThreads` lives before it is ended.
   *
   * @default 10000
   */
  idleTimeout?: number | undefined
  /**
   * Default `timeout` of every task, in milliseconds (see {@link RunOptions.timeout}).
   *
   * @default Infinity (no timeout)
   */
  taskTimeout?: number | undefined
  /** V8 heap limits of each thread; a task that exceeds them rejects with `E_WORKER_CRASHED`. */
  resourceLimits?: ResourceLimits | undefined
  /**
   * How threads load `tasks`: `'native'` with `import()`, `'tsx'` through tsx's `tsImport` (tsx must be
   * installed), `'auto'` picks `'tsx'` for `.ts`/`.mts`/`.cts`/`.tsx` files.
   *
   * @default 'auto'
   */
  loader?: TasksLoader | undefined
  /**
   * Called with each {@link PoolEvent} (`drain`, `crash`), synchronously; what it throws is ignored.
   *
   * @example
   * ```ts
   * import { createPool } from '@tierkit/worker-pool'
   * const pool = createPool({
   *   tasks: new URL('./tasks.js', import.meta.url),
   *   onEvent: (event) => {
   *     if (event.type === 'crash') console.warn(event.error.message)
   *   },
   * })
   * ```
   */
  onEvent?: ((event: PoolEvent) => void) | undefined
}

/**
 * What the pool reports through `onEvent`:
 * - `drain`: the queue became empty after holding tasks (a producer told `E_QUEUE_FULL` may go on);
 * - `crash`: a thread died while no task was on it (idle, or while loading the tasks module) and was replaced;
 *   a crash during a task rejects that task with the same error instead.
 */
export type PoolEvent =
  | { readonly type: 'drain' }
  | { readonly type: 'crash'; readonly error: WorkerCrashedError }

/** Options of one task. */
export interface RunOptions {
  /**
   * Cancels the task: a queued task is removed and never runs; a running one has its thread ended (and
   * replaced). The promise rejects with `TaskAbortedError` (an `AbortedError`, `E_ABORTED`).
   */
  signal?: AbortSignal | undefined
  /**
   * Milliseconds from acceptance (queue wait plus run time) after which the task is cancelled like an abort and
   * rejects with `TaskTimeoutError` (`E_TASK_TIMEOUT`): an integer from 1 to 2147483647, or `Infinity` for none.
   *
   * @default the pool's `taskTimeout`
   */
  timeout?: number | undefined
  /** Objects to transfer rather than copy to the thread (`ArrayBuffer`, `MessagePort`, ...). */
  transfer?: readonly TransferListItem[] | undefined
}

/** Options of {@link WorkerPool.map}. */
export interface PoolMapOptions {
  /** Cancels the whole map (queued items never run, running ones have their threads replaced). */
  signal?: AbortSignal | undefined
  /** Timeout of each item, as in {@link RunOptions.timeout}. */
  timeout?: number | undefined
}

/** What {@link WorkerPool.submit} resolves to once the task is accepted. */
export interface TaskHandle<R> {
  /**
   * The task's result. It is pre-handled: a failing task never raises `unhandledRejection`, even when nobody
   * awaits this promise; awaiting it still rejects as usual.
   */
  readonly result: Promise<R>
}

/** A snapshot of the pool, from {@link WorkerPool.stats}. */
export interface PoolStats {
  /** Threads alive (starting, idle or busy). */
  readonly threads: number
  /** Tasks waiting for a thread. */
  readonly queued: number
  /** Tasks running on a thread. */
  readonly running: number
  /** `submit` calls waiting for room in the queue. */
  readonly waiting: number
  /** Tasks that resolved. */
  readonly completed: number
  /** Accepted tasks that rejected (threw, crashed, aborted, timed out, destroyed). */
  readonly failed: number
  /** Threads that died unexpectedly (each replaced). */
  readonly crashes: number
  /**
   * Busy thread time over available thread time (`maxThreads` x age of the pool), from 0 to 1: an average
   * over the pool's whole life. For a live figure over an interval, take two snapshots and use
   * `busyTime` and `uptime` (see {@link PoolStats.busyTime}).
   */
  readonly utilization: number
  /**
   * Total thread-busy time so far, in ms: for every task that ran, the time from its start on a thread to its
   * settlement, with tasks still running counted up to now. It never decreases (monotonic clock), and
   * `0 <= busyTime <= uptime * maxThreads`.
   *
   * Utilization over the interval between two snapshots `a` (older) and `b`:
   * `(b.busyTime - a.busyTime) / ((b.uptime - a.uptime) * b.maxThreads)`, from 0 to 1.
   *
   * @example
   * ```ts
   * import { createPool } from '@tierkit/worker-pool'
   * const pool = createPool({ tasks: new URL('./tasks.js', import.meta.url) })
   * const a = pool.stats()
   * await new Promise((r) => setTimeout(r, 1000))
   * const b = pool.stats()
   * const utilization = (b.busyTime - a.busyTime) / ((b.uptime - a.uptime) * b.maxThreads)
   * ```
   */
  readonly busyTime: number
  /** When the pool was created: milliseconds since the epoch (`Date.now()` at `createPool`). */
  readonly createdAt: number
  /**
   * Milliseconds since the pool was created, on the monotonic clock (`performance.now()`, unaffected by
   * wall-clock changes); measured at the same instant as `busyTime`.
   */
  readonly uptime: number
  /** The `maxThreads` of the pool: the most threads that can be busy at once. */
  readonly maxThreads: number
  /** Milliseconds from acceptance to start on a thread, over the last 1024 started tasks. */
  readonly waitTime: Percentiles
  /** Milliseconds from start to settlement on the main thread, over the last 1024 tasks that ran. */
  readonly runTime: Percentiles
}
