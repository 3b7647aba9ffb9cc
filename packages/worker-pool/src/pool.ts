// The pool's public face: WorkerPool checks its options and arguments and answers run/submit/map/stats/close/
// destroy; the work is done by the rooms behind it:
//   src/scheduler.ts         moves jobs through their states, queues them, settles each once
//   src/job.ts               a job and its states
//   src/queue.ts             the pool's queues, behind a small TaskQueue interface
//   src/cancel.ts            timeouts and signals
//   src/stats.ts             counters, busy time, wait/run times
//   src/tinypool-adapter.ts  the one room that talks to tinypool, with its workarounds

import { availableParallelism } from 'node:os'
import { basename } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  ClosedError,
  type CloseOptions,
  checkDuration,
  checkFunction,
  checkInteger,
  checkLimit,
  checkObject,
  checkOneOf,
  checkTimeout,
  closeTimeout,
  invalidArgument,
  type TraceMessage,
  tracingChannels,
} from '@tierkit/contracts'
import { CloseTimeoutError, PoolDestroyedError, QueueFullError, TaskAbortedError } from './errors.js'
import { type Job, prepareJob } from './job.js'
import { checkIterable, limitedMap } from './map-limit.js'
import { CLOSED, CLOSING, DESTROYED, OPEN, Scheduler } from './scheduler.js'
import { LOADERS, resolveTasks } from './tasks-file.js'
import type {
  PoolMapOptions,
  PoolOptions,
  PoolStats,
  RunOptions,
  TaskArg,
  TaskArgs,
  TaskHandle,
  TaskName,
  TaskResult,
} from './types.js'
import type { TaskMap } from './worker.js'

const noop = (): void => {}

/** What a task's trace carries (the `tierkit:task` channel of `@tierkit/contracts`). */
const taskMessage = (job: Job): TraceMessage => ({
  package: '@tierkit/worker-pool',
  operation: 'task',
  task: job.name,
})

/**
 * A `submit` traced from the call to the task's result: the span covers the wait for room, the queue and the
 * run, and settles with the result (or with the refusal when the task was never accepted).
 */
function tracedHandle(
  message: TraceMessage,
  handle: Promise<TaskHandle<unknown>>,
): Promise<TaskHandle<unknown>> {
  const traced = tracingChannels.task.tracePromise(() => handle.then((h) => h.result), message)
  traced.catch(noop)
  return handle.then(() => ({ result: traced }))
}

/** The most threads a pool may have. */
const MAX_THREADS = 1024

/**
 * A pool of worker threads running the tasks of one tasks module, typed by that module's task set. Create it
 * with {@link createPool}.
 *
 * Built on tinypool, which runs the threads; the pool keeps its own queue (so `maxQueue`, `submit`, `drain`,
 * cancellation and the statistics are exact) and hands tinypool one task per free thread, plus one spare per
 * thread that waits in tinypool's queue. It also covers what tinypool leaves open: a thread that calls
 * `process.exit()` rejects its task with `E_WORKER_CRASHED` instead of leaving it pending, errors keep their name,
 * stack, `cause` and properties, and nothing the pool does can reach `uncaughtException`.
 *
 * @typeParam T - The task set: `typeof import('./tasks.js').default`.
 */
export class WorkerPool<T extends TaskMap = TaskMap> {
  /** `file:` URL of the tasks module the threads load. */
  readonly tasksUrl: string
  /** How the threads load it: `'native'` (`import()`) or `'tsx'` (tsx's `tsImport`). */
  readonly loader: 'native' | 'tsx'

  readonly #scheduler: Scheduler
  readonly #maxQueue: number
  readonly #taskTimeout: number
  #closing: Promise<void> | undefined

  /**
   * @param options - {@link PoolOptions}.
   * @throws TierkitTypeError for a bad option (see {@link createPool}).
   */
  constructor(options: PoolOptions) {
    checkObject('createPool', 'options', options)
    const loader = checkOneOf('createPool', 'loader', options.loader ?? 'auto', LOADERS)
    const { minThreads, maxThreads, maxQueue = Number.POSITIVE_INFINITY, idleTimeout = 10_000 } = options
    if (minThreads !== undefined) checkInteger('createPool', 'minThreads', minThreads, 0, MAX_THREADS)
    if (maxThreads !== undefined) checkInteger('createPool', 'maxThreads', maxThreads, 1, MAX_THREADS)
    if (minThreads !== undefined && maxThreads !== undefined && minThreads > maxThreads) {
      throw invalidArgument('createPool', 'minThreads', `at most maxThreads (${maxThreads})`, minThreads)
    }
    checkLimit('createPool', 'maxQueue', maxQueue, 0)
    checkDuration('createPool', 'idleTimeout', idleTimeout)
    this.#taskTimeout =
      options.taskTimeout === undefined
        ? Number.POSITIVE_INFINITY
        : checkTimeout('createPool', 'taskTimeout', options.taskTimeout, 1)
    checkObject('createPool', 'resourceLimits', options.resourceLimits, true)
    checkFunction('createPool', 'onEvent', options.onEvent, true)
    const tasks = resolveTasks(options.tasks, loader)
    this.tasksUrl = tasks.url
    this.loader = tasks.loader

    const max = maxThreads ?? Math.max(availableParallelism(), minThreads ?? 1)
    this.#maxQueue = maxQueue
    this.#scheduler = new Scheduler({
      tasks,
      minThreads: minThreads ?? Math.max(1, Math.floor(max / 2)),
      maxThreads: max,
      maxQueue,
      idleTimeout,
      resourceLimits: options.resourceLimits,
      onEvent: options.onEvent,
    })
  }

  /**
   * Runs a task on a thread. Argument and result types come from the task set.
   *
   * @param name - Task name.
   * @param args - `(arg, options?)`: the task's argument (structured-cloned, or transferred with
   *   `options.transfer`; optional when the task takes none) and {@link RunOptions}.
   * @returns The task's result. Rejects with what the task threw (name, message, stack, `cause` and own
   *   properties kept; a custom class arrives as an `Error` with that `name`), or: `E_QUEUE_FULL`, `E_ABORTED`
   *   (`TaskAbortedError`), `E_TASK_TIMEOUT`, `E_WORKER_CRASHED`, `E_CLOSED` (`ClosedError`, after `close()` or
   *   `destroy()`), `E_POOL_DESTROYED`, `E_CLOSE_TIMEOUT`, `E_UNKNOWN_TASK`, `E_TASKS_LOAD_FAILED`, a
   *   `DataCloneError` for an argument that cannot be cloned, or a `TierkitTypeError` for a bad argument.
   * @example
   * ```ts
   * import { createPool } from '@tierkit/worker-pool'
   * const pool = createPool<{ sumSquares: (n: number) => number }>({ tasks: new URL('./tasks.js', import.meta.url) })
   * const total: number = await pool.run('sumSquares', 10_000_000, { timeout: 5_000 })
   * ```
   */
  run<K extends TaskName<T>>(name: K, ...args: TaskArgs<T[K], RunOptions>): Promise<TaskResult<T[K]>> {
    const [arg, options] = args
    let job: Job
    try {
      job = prepareJob('WorkerPool.run', name, arg, options, this.#taskTimeout)
    } catch (err) {
      return Promise.reject(err)
    }
    const channel = tracingChannels.task
    if (!channel.hasSubscribers) return this.#run(job) as Promise<TaskResult<T[K]>>
    job.trace = taskMessage(job)
    return channel.tracePromise(() => this.#run(job), job.trace) as Promise<TaskResult<T[K]>>
  }

  #run(job: Job): Promise<unknown> {
    const refusal = this.#refusal(job)
    if (refusal !== undefined) return Promise.reject(refusal)
    if (!this.#scheduler.hasRoom()) return Promise.reject(new QueueFullError(job.name, this.#maxQueue))
    const result = new Promise<unknown>((resolve, reject) => {
      job.resolve = resolve
      job.reject = reject
    })
    this.#scheduler.accept(job)
    return result
  }

  /**
   * Like {@link WorkerPool.run}, but when the queue is full it waits for room instead of rejecting
   * (backpressure). Resolves once the task is accepted, with a handle whose `result` is the task's result.
   *
   * @param name - Task name.
   * @param args - `(arg, options?)` as for {@link WorkerPool.run}; `options.signal` also cancels the wait for
   *   room.
   * @returns A {@link TaskHandle}. Rejects (without a handle) with `E_ABORTED` (`TaskAbortedError`),
   *   `E_CLOSED` (`ClosedError`) or `E_POOL_DESTROYED` when it could not be accepted, or a `TierkitTypeError`
   *   for a bad argument.
   * @example
   * ```ts
   * import { createPool } from '@tierkit/worker-pool'
   * declare const rows: AsyncIterable<string>
   * const pool = createPool<{ hashRow: (row: string) => string }>({ tasks: new URL('./tasks.js', import.meta.url) })
   * const pending: Promise<string>[] = []
   * for await (const row of rows) pending.push((await pool.submit('hashRow', row)).result)
   * const hashes = await Promise.all(pending)
   * ```
   */
  submit<K extends TaskName<T>>(
    name: K,
    ...args: TaskArgs<T[K], RunOptions>
  ): Promise<TaskHandle<TaskResult<T[K]>>> {
    const [arg, options] = args
    let job: Job
    try {
      job = prepareJob('WorkerPool.submit', name, arg, options, this.#taskTimeout)
    } catch (err) {
      return Promise.reject(err)
    }
    const channel = tracingChannels.task
    if (!channel.hasSubscribers) return this.#submit(job) as Promise<TaskHandle<TaskResult<T[K]>>>
    job.trace = taskMessage(job)
    return tracedHandle(job.trace, this.#submit(job)) as Promise<TaskHandle<TaskResult<T[K]>>>
  }

  #submit(job: Job): Promise<TaskHandle<unknown>> {
    const refusal = this.#refusal(job)
    if (refusal !== undefined) return Promise.reject(refusal)
    const scheduler = this.#scheduler
    if (scheduler.hasRoom()) return Promise.resolve(scheduler.handle(job))
    return new Promise<TaskHandle<unknown>>((resolve, reject) => {
      job.admit = resolve
      job.reject = reject
      scheduler.wait(job)
    })
  }

  /**
   * Runs one task per item and resolves with the results in input order, like Python's `Pool.map`. Items go
   * through {@link WorkerPool.submit}, so a bounded `maxQueue` is respected (the map waits, it never gets
   * `E_QUEUE_FULL`). On the first failure the map rejects with it and cancels its other items.
   *
   * @param name - Task name.
   * @param items - The arguments, one task each.
   * @param options - {@link PoolMapOptions}.
   * @returns The results in input order. Rejects with the first failure, with `AbortedError` (`E_ABORTED`)
   *   when `options.signal` aborts, or with a `TierkitTypeError` for a bad argument.
   * @example
   * ```ts
   * import { createPool } from '@tierkit/worker-pool'
   * const pool = createPool<{ sumSquares: (n: number) => number }>({ tasks: new URL('./tasks.js', import.meta.url) })
   * const sums: number[] = await pool.map('sumSquares', [1e7, 1e7, 1e7, 1e7])
   * ```
   */
  map<K extends TaskName<T>>(
    name: K,
    items: Iterable<TaskArg<T[K]>>,
    options: PoolMapOptions = {},
  ): Promise<TaskResult<T[K]>[]> {
    try {
      prepareJob('WorkerPool.map', name, undefined, options, this.#taskTimeout)
      checkIterable('WorkerPool.map', items)
    } catch (err) {
      return Promise.reject(err)
    }
    const timeout = options.timeout
    return limitedMap<TaskArg<T[K]>, TaskResult<T[K]>>(
      'WorkerPool.map',
      items,
      Number.POSITIVE_INFINITY,
      (item, _index, signal) =>
        this.submit(name, ...([item, { signal, timeout }] as unknown as TaskArgs<T[K], RunOptions>)).then(
          (handle) => handle.result,
        ),
      false,
      options.signal,
    ) as Promise<TaskResult<T[K]>[]>
  }

  /**
   * A snapshot of the pool: threads, queue, counters, utilization, busy time and uptime (for utilization
   * over any interval, from two snapshots: see {@link PoolStats.busyTime}) and wait/run time percentiles.
   *
   * @returns {@link PoolStats}.
   */
  stats(): PoolStats {
    return this.#scheduler.stats()
  }

  /** Whether `close()` or `destroy()` was called: the pool takes no new work. */
  get closed(): boolean {
    return this.#scheduler.state !== OPEN
  }

  /**
   * Stops taking work (`run`/`submit`/`map` reject with `ClosedError`, `E_CLOSED`, and so do `submit` calls
   * still waiting for room), lets every queued and running task finish, then ends the threads. Past `timeout`
   * (ms, default 30000) the unfinished tasks reject with `E_CLOSE_TIMEOUT` and the threads are ended anyway.
   * Idempotent: calling it again (or after `destroy()`) returns the same promise.
   *
   * @param options - `{ timeout }`: an integer from 0 to 2147483647 ms.
   * @returns Resolves once the threads have ended.
   * @throws TierkitTypeError (as a rejection) for bad options.
   */
  close(options?: CloseOptions): Promise<void> {
    let timeout: number
    try {
      timeout = closeTimeout('WorkerPool.close', options, 30_000)
    } catch (err) {
      return Promise.reject(err)
    }
    if (this.#closing !== undefined) return this.#closing
    const scheduler = this.#scheduler
    if (scheduler.state === DESTROYED) return (this.#closing = this.#end())
    scheduler.state = CLOSING
    scheduler.rejectWaiting(() => this.#closedError())
    this.#closing = new Promise<void>((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined
      const finish = (): void => {
        if (timer !== undefined) clearTimeout(timer)
        scheduler.onIdle = undefined
        this.#end().then(resolve, resolve)
      }
      if (scheduler.idle) {
        finish()
        return
      }
      scheduler.onIdle = finish
      timer = setTimeout(() => {
        scheduler.state = CLOSED
        scheduler.rejectAll((job) => new CloseTimeoutError(job.name, timeout))
        finish()
      }, timeout)
    })
    return this.#closing
  }

  /**
   * Ends the pool now: waiting, queued and running tasks reject with `E_POOL_DESTROYED` and the threads are
   * terminated; later calls reject with `ClosedError` (`E_CLOSED`). Idempotent: calling it again returns the
   * same promise. (`close({ timeout: 0 })` is the graceful variant: tasks are cut off with `E_CLOSE_TIMEOUT`.)
   *
   * @returns Resolves once the threads have ended.
   */
  destroy(): Promise<void> {
    const scheduler = this.#scheduler
    if (scheduler.state !== DESTROYED) {
      scheduler.state = DESTROYED
      scheduler.rejectAll((job) => new PoolDestroyedError(job.name))
      scheduler.onIdle?.()
    }
    return this.#end()
  }

  #end(): Promise<void> {
    const scheduler = this.#scheduler
    if (scheduler.state !== DESTROYED) scheduler.state = CLOSED
    return scheduler.end()
  }

  #closedError(): ClosedError {
    return new ClosedError(`the worker pool of ${basename(fileURLToPath(this.tasksUrl))}`)
  }

  #refusal(job: Job): Error | undefined {
    if (this.#scheduler.state !== OPEN) return this.#closedError()
    if (job.signal?.aborted) return new TaskAbortedError(job.name, job.signal.reason)
    return undefined
  }
}

/**
 * Creates a {@link WorkerPool} for a tasks module. Threads start at once (`minThreads`) and load the module.
 *
 * @typeParam T - The task set: `typeof import('./tasks.js').default` (a type-only import).
 * @param options - {@link PoolOptions}.
 * @returns The pool.
 * @throws TierkitTypeError (`E_INVALID_ARGUMENT`) for a bad option, in the family's one message shape, e.g.
 *   `createPool: tasks must be a file: URL or an absolute path, got "./tasks.js"`, `createPool: maxThreads must
 *   be an integer from 1 to 1024, got 0`, `createPool: taskTimeout must be a duration in ms, an integer from 1
 *   to 2147483647, or Infinity, got 0.5`; a `tasks` file that does not exist, or a `.ts` one without tsx
 *   installed, is refused the same way.
 * @example
 * ```ts
 * import { createPool } from '@tierkit/worker-pool'
 *
 * const pool = createPool<typeof import('./tasks.js').default>({
 *   tasks: new URL('./tasks.js', import.meta.url),
 *   maxThreads: 4,
 *   maxQueue: 64,
 * })
 * const total = await pool.run('sumSquares', 10_000_000) // number
 * await pool.close()
 * ```
 */
export function createPool<T extends TaskMap>(options: PoolOptions): WorkerPool<T> {
  return new WorkerPool<T>(options)
}
