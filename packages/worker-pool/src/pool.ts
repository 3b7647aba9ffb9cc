import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { availableParallelism } from 'node:os'
import { basename, isAbsolute } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { ResourceLimits, TransferListItem, Worker } from 'node:worker_threads'
import {
  ClosedError,
  type CloseOptions,
  checkDuration,
  checkFunction,
  checkInteger,
  checkLimit,
  checkObject,
  checkOneOf,
  checkSignal,
  checkString,
  checkTimeout,
  closeTimeout,
  invalidArgument,
} from '@tierkit/contracts'
import { Tinypool } from 'tinypool'
import {
  CloseTimeoutError,
  PoolDestroyedError,
  QueueFullError,
  TaskAbortedError,
  TaskTimeoutError,
  WorkerCrashedError,
} from './errors.js'
import { checkIterable, limitedMap } from './map-limit.js'
import { type Percentiles, SampleWindow } from './samples.js'
import { fromWireFailure, isWireFailure, WIRE } from './wire.js'
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
const LOADERS: readonly TasksLoader[] = ['auto', 'native', 'tsx']

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

const WAITING = 0
const QUEUED = 1
const RUNNING = 2
const DONE = 3
/** Handed to tinypool while every thread is busy: waits in tinypool's queue, counted as queued. */
const SPARE = 4

const OPEN = 0
const CLOSING = 1
const CLOSED = 2
const DESTROYED = 3

/** The most threads a pool may have. */
const MAX_THREADS = 1024
const ENTRY = fileURLToPath(new URL('./worker-entry.js', import.meta.url))

interface Job {
  readonly name: string
  arg: unknown
  readonly transfer: TransferListItem[] | undefined
  readonly signal: AbortSignal | undefined
  readonly timeout: number
  state: number
  timer: ReturnType<typeof setTimeout> | undefined
  controller: AbortController | undefined
  accepted: number
  started: number
  resolve: (value: unknown) => void
  reject: (reason: unknown) => void
  admit: ((handle: TaskHandle<unknown>) => void) | undefined
  resent: number
}

interface SignalWatch {
  readonly jobs: Set<Job>
  readonly onAbort: () => void
}

/** FIFO of jobs; entries that left their state (cancelled) are skipped lazily. */
class JobQueue {
  #items: (Job | undefined)[] = []
  #head = 0

  push(job: Job): void {
    this.#items.push(job)
  }

  shift(state: number): Job | undefined {
    const items = this.#items
    while (this.#head < items.length) {
      const job = items[this.#head]
      items[this.#head++] = undefined
      if (job !== undefined && job.state === state) {
        this.#compact()
        return job
      }
    }
    this.#items = []
    this.#head = 0
    return undefined
  }

  live(state: number): Job[] {
    return this.#items.filter((job): job is Job => job !== undefined && job.state === state)
  }

  #compact(): void {
    if (this.#head === this.#items.length) {
      this.#items = []
      this.#head = 0
    } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head)
      this.#head = 0
    }
  }
}

const noop = (): void => {}

/** Errors raised on the threads' `Worker` objects: the failures of tasks caught in them are crashes. */
const crashErrors = new WeakSet<object>()

function isTermination(err: unknown): boolean {
  return err instanceof Error && err.message === 'Terminating worker thread'
}

function isCancelError(err: unknown): boolean {
  return err instanceof Error && err.name === 'CancelError'
}

const TSX_NEEDED = 'the optional peer dependency "tsx" to load TypeScript on worker threads'

function resolveTasks(tasks: unknown, loader: TasksLoader): { url: string; loader: 'native' | 'tsx' } {
  let url: URL | undefined
  if (tasks instanceof URL) url = tasks
  else if (typeof tasks === 'string' && tasks.startsWith('file:'))
    url = URL.canParse(tasks) ? new URL(tasks) : undefined
  else if (typeof tasks === 'string' && isAbsolute(tasks)) url = pathToFileURL(tasks)
  if (url === undefined || url.protocol !== 'file:') {
    throw invalidArgument(
      'createPool',
      'tasks',
      'a file: URL or an absolute path',
      tasks instanceof URL ? tasks.href : tasks,
    )
  }
  let path = fileURLToPath(url)
  if (!existsSync(path)) {
    const ts = path.replace(/\.(c|m)?js$/, (_m, p: string | undefined) => `.${p ?? ''}ts`)
    if (ts !== path && existsSync(ts)) path = ts
    else throw invalidArgument('createPool', 'tasks', 'an existing file (or its .ts source)', path)
  }
  const mode = loader === 'auto' ? (/\.(?:[cm]?ts|tsx)$/.test(path) ? 'tsx' : 'native') : loader
  if (mode === 'tsx') {
    try {
      createRequire(import.meta.url).resolve('tsx/esm/api')
    } catch {
      throw loader === 'tsx'
        ? invalidArgument('createPool', 'loader', `'native' or 'auto' without ${TSX_NEEDED}`, loader)
        : invalidArgument(
            'createPool',
            'tasks',
            `a .js file, or a .ts file with ${TSX_NEEDED} installed`,
            path,
          )
    }
  }
  return { url: pathToFileURL(path).href, loader: mode }
}

/**
 * A pool of worker threads running the tasks of one tasks module, typed by that module's task set. Create it
 * with {@link createPool}.
 *
 * Built on tinypool, which runs the threads; the pool keeps its own queue (so `maxQueue`, `submit`, `drain`,
 * cancellation and the statistics are exact) and hands tinypool one task per free thread. It also covers what
 * tinypool leaves open: a thread that calls `process.exit()` rejects its task with `E_WORKER_CRASHED` instead of
 * leaving it pending, errors keep their name, stack, `cause` and properties, and nothing the pool does can reach
 * `uncaughtException`.
 *
 * @typeParam T - The task set: `typeof import('./tasks.js').default`.
 */
export class WorkerPool<T extends TaskMap = TaskMap> {
  /** `file:` URL of the tasks module the threads load. */
  readonly tasksUrl: string
  /** How the threads load it: `'native'` (`import()`) or `'tsx'` (tsx's `tsImport`). */
  readonly loader: 'native' | 'tsx'

  static readonly #pools = new Set<WorkerPool<TaskMap>>()
  static readonly #onWorker = (worker: Worker): void => {
    for (const pool of WorkerPool.#pools) if (pool.#adopt(worker)) return
  }

  readonly #tp: Tinypool
  readonly #maxThreads: number
  readonly #maxQueue: number
  readonly #taskTimeout: number
  readonly #queue = new JobQueue()
  readonly #spareQueue = new JobQueue()
  readonly #spareLimit: number
  readonly #waiters = new JobQueue()
  readonly #active = new Set<Job>()
  readonly #signals = new Map<AbortSignal, SignalWatch>()
  readonly #waitTimes = new SampleWindow(1024)
  readonly #runTimes = new SampleWindow(1024)
  readonly #born = performance.now()
  readonly #createdAt = Date.now()
  #state = OPEN
  #queued = 0
  #spares = 0
  #waiting = 0
  #running = 0
  #hadQueue = false
  #completed = 0
  #failed = 0
  #crashes = 0
  #busy = 0
  #lastCrash: unknown
  readonly #onEvent: ((event: PoolEvent) => void) | undefined
  #onIdle: (() => void) | undefined
  #closing: Promise<void> | undefined
  #shutdown: Promise<void> | undefined

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
    this.#onEvent = options.onEvent
    const tasks = resolveTasks(options.tasks, loader)
    this.tasksUrl = tasks.url
    this.loader = tasks.loader

    const max = maxThreads ?? Math.max(availableParallelism(), minThreads ?? 1)
    const min = minThreads ?? Math.max(1, Math.floor(max / 2))
    this.#maxThreads = max
    this.#maxQueue = maxQueue
    // One spare task per thread waits in tinypool's own queue, so a thread that finishes gets its next task at
    // once, before it sleeps (handing it over later costs a wake-up per task). Spares count as queued. They need a
    // thread that tinypool keeps alive (minThreads >= 1) to pick them up after a thread is ended.
    this.#spareLimit = min >= 1 ? Math.min(max, maxQueue) : 0

    this.#tp = new Tinypool({
      filename: ENTRY,
      minThreads: min,
      maxThreads: max,
      idleTimeout,
      maxQueue: Number.POSITIVE_INFINITY,
      resourceLimits: options.resourceLimits,
      workerData: { [WIRE]: tasks },
    })
    this.#tp.on('error', (err: unknown) => this.#onPoolError(err))
    // threads announce themselves on the next tick ('worker' event): registering now is in time
    WorkerPool.#register(this)
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
      job = this.#prepare('WorkerPool.run', name, arg, options)
    } catch (err) {
      return Promise.reject(err)
    }
    const refusal = this.#refusal(job)
    if (refusal !== undefined) return Promise.reject(refusal)
    if (!this.#hasRoom()) return Promise.reject(new QueueFullError(job.name, this.#maxQueue))
    const result = new Promise<TaskResult<T[K]>>((resolve, reject) => {
      job.resolve = resolve as (value: unknown) => void
      job.reject = reject
    })
    this.#accept(job)
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
      job = this.#prepare('WorkerPool.submit', name, arg, options)
    } catch (err) {
      return Promise.reject(err)
    }
    const refusal = this.#refusal(job)
    if (refusal !== undefined) return Promise.reject(refusal)
    if (this.#hasRoom()) return Promise.resolve(this.#handle(job) as TaskHandle<TaskResult<T[K]>>)
    return new Promise<TaskHandle<TaskResult<T[K]>>>((resolve, reject) => {
      job.admit = resolve as (handle: TaskHandle<unknown>) => void
      job.reject = reject
      this.#waiters.push(job)
      this.#waiting++
      if (job.signal !== undefined) this.#watch(job)
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
      this.#prepare('WorkerPool.map', name, undefined, options)
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
    const now = performance.now()
    let busy = this.#busy
    for (const job of this.#active) if (job.state === RUNNING) busy += now - job.started
    const uptime = now - this.#born
    const capacity = uptime * this.#maxThreads
    // at most maxThreads tasks run at once, so busy <= capacity; the clamp only absorbs float rounding
    if (busy > capacity) busy = capacity
    return {
      threads: this.#tp.threads.length,
      queued: this.#queued + this.#spares,
      running: this.#running,
      waiting: this.#waiting,
      completed: this.#completed,
      failed: this.#failed,
      crashes: this.#crashes,
      utilization: capacity > 0 ? Math.min(1, busy / capacity) : 0,
      busyTime: busy,
      createdAt: this.#createdAt,
      uptime,
      maxThreads: this.#maxThreads,
      waitTime: this.#waitTimes.percentiles(),
      runTime: this.#runTimes.percentiles(),
    }
  }

  /** Whether `close()` or `destroy()` was called: the pool takes no new work. */
  get closed(): boolean {
    return this.#state !== OPEN
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
    if (this.#state === DESTROYED) return (this.#closing = this.#end())
    this.#state = CLOSING
    for (const job of this.#waiters.live(WAITING)) this.#settle(job, false, this.#closedError())
    this.#closing = new Promise<void>((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined
      const finish = (): void => {
        if (timer !== undefined) clearTimeout(timer)
        this.#onIdle = undefined
        this.#end().then(resolve, resolve)
      }
      if (this.#active.size === 0 && this.#queued === 0) {
        finish()
        return
      }
      this.#onIdle = finish
      timer = setTimeout(() => {
        this.#state = CLOSED
        this.#rejectAll((job) => new CloseTimeoutError(job.name, timeout))
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
    if (this.#state !== DESTROYED) {
      this.#state = DESTROYED
      this.#rejectAll((job) => new PoolDestroyedError(job.name))
      this.#onIdle?.()
    }
    return this.#end()
  }

  static #register(pool: WorkerPool<TaskMap>): void {
    if (WorkerPool.#pools.size === 0) process.on('worker', WorkerPool.#onWorker)
    WorkerPool.#pools.add(pool)
  }

  #end(): Promise<void> {
    if (this.#shutdown === undefined) {
      WorkerPool.#pools.delete(this as WorkerPool<TaskMap>)
      if (WorkerPool.#pools.size === 0) process.off('worker', WorkerPool.#onWorker)
      if (this.#state !== DESTROYED) this.#state = CLOSED
      this.#shutdown = this.#tp.destroy().catch(noop)
    }
    return this.#shutdown
  }

  #prepare(
    method: string,
    name: unknown,
    arg: unknown,
    options: RunOptions | PoolMapOptions | undefined,
  ): Job {
    const task = checkString(method, 'name', name)
    checkObject(method, 'options', options, true)
    const signal = checkSignal(method, 'options.signal', options?.signal)
    const timeout =
      options?.timeout === undefined
        ? this.#taskTimeout
        : checkTimeout(method, 'options.timeout', options.timeout, 1)
    const transfer = (options as RunOptions | undefined)?.transfer
    if (transfer !== undefined && !Array.isArray(transfer))
      throw invalidArgument(method, 'options.transfer', 'an array', transfer)
    return {
      name: task,
      arg,
      transfer: transfer as TransferListItem[] | undefined,
      signal,
      timeout,
      state: WAITING,
      timer: undefined,
      controller: undefined,
      accepted: 0,
      started: 0,
      resolve: noop,
      reject: noop,
      admit: undefined,
      resent: 0,
    }
  }

  #closedError(): ClosedError {
    return new ClosedError(`the worker pool of ${basename(fileURLToPath(this.tasksUrl))}`)
  }

  #refusal(job: Job): Error | undefined {
    if (this.#state !== OPEN) return this.#closedError()
    if (job.signal?.aborted) return new TaskAbortedError(job.name, job.signal.reason)
    return undefined
  }

  #hasRoom(): boolean {
    const queued = this.#queued + this.#spares
    return (this.#running < this.#maxThreads && queued === 0) || queued < this.#maxQueue
  }

  #handle(job: Job): TaskHandle<unknown> {
    const result = new Promise<unknown>((resolve, reject) => {
      job.resolve = resolve
      job.reject = reject
    })
    result.catch(noop)
    this.#accept(job)
    return { result }
  }

  #accept(job: Job): void {
    job.accepted = performance.now()
    if (job.signal !== undefined) this.#watch(job)
    if (job.timeout !== Number.POSITIVE_INFINITY) job.timer = setTimeout(this.#onTimeout, job.timeout, job)
    if (this.#queued === 0 && this.#running < this.#maxThreads) {
      this.#dispatch(job, false)
    } else if (this.#queued === 0 && this.#spares < this.#spareLimit) {
      this.#hadQueue = true
      this.#dispatch(job, true)
    } else {
      job.state = QUEUED
      this.#queue.push(job)
      this.#queued++
      this.#hadQueue = true
    }
  }

  #dispatch(job: Job, spare: boolean): void {
    this.#active.add(job)
    if (spare) {
      job.state = SPARE
      this.#spares++
      this.#spareQueue.push(job)
    } else {
      this.#start(job)
    }
    if (job.signal !== undefined || job.timer !== undefined) job.controller = new AbortController()
    this.#send(job)
  }

  /** Marks a job as running on a thread (at dispatch, or when the spare ahead of it moves up). */
  #start(job: Job): void {
    job.state = RUNNING
    this.#running++
    const now = performance.now()
    job.started = now
    this.#waitTimes.record(now - job.accepted)
  }

  #send(job: Job): void {
    this.#tp
      .run(job.arg, { name: job.name, transferList: job.transfer, signal: job.controller?.signal })
      .then(
        (value: unknown) => this.#settle(job, true, value),
        (err: unknown) => this.#onTaskError(job, err),
      )
  }

  #pump(): void {
    if (this.#state >= CLOSED) return
    // tinypool runs its queue in order: as threads free up, the oldest spares are the ones running
    while (this.#running < this.#maxThreads && this.#spares > 0) {
      const job = this.#spareQueue.shift(SPARE)
      if (job === undefined) break
      this.#spares--
      this.#start(job)
    }
    while (this.#queued > 0 && (this.#running < this.#maxThreads || this.#spares < this.#spareLimit)) {
      const job = this.#queue.shift(QUEUED)
      if (job === undefined) break
      this.#queued--
      this.#dispatch(job, this.#running >= this.#maxThreads)
    }
    while (this.#waiting > 0 && this.#state === OPEN && this.#hasRoom()) {
      const job = this.#waiters.shift(WAITING)
      if (job === undefined) break
      this.#waiting--
      const admit = job.admit!
      job.admit = undefined
      admit(this.#handle(job))
    }
    if (this.#queued === 0 && this.#spares === 0 && this.#hadQueue) {
      this.#hadQueue = false
      this.#emit({ type: 'drain' })
    }
    if (this.#state === CLOSING && this.#active.size === 0 && this.#queued === 0) this.#onIdle?.()
  }

  #settle(job: Job, ok: boolean, value: unknown): void {
    const state = job.state
    if (state === DONE) return
    job.state = DONE
    job.arg = undefined
    if (job.timer !== undefined) clearTimeout(job.timer)
    if (job.signal !== undefined) this.#unwatch(job)
    if (state === RUNNING) {
      this.#running--
      this.#active.delete(job)
      const took = performance.now() - job.started
      this.#runTimes.record(took)
      this.#busy += took
    } else if (state === SPARE) {
      this.#spares--
      this.#active.delete(job)
    } else if (state === QUEUED) {
      this.#queued--
    } else {
      this.#waiting--
    }
    if (state !== WAITING) {
      if (ok) this.#completed++
      else this.#failed++
    }
    this.#pump()
    if (ok) job.resolve(value)
    else job.reject(value)
  }

  /** Cancels a job in any state; a running one has its thread ended (tinypool replaces it). */
  #cancel(job: Job, err: Error): void {
    if (job.state === DONE) return
    // abort first: tinypool drops the thread (or the spare from its queue) synchronously, so the next dispatch
    // may start a fresh thread
    if (job.state === RUNNING || job.state === SPARE) job.controller?.abort()
    this.#settle(job, false, err)
  }

  readonly #onTimeout = (job: Job): void => {
    job.timer = undefined
    this.#cancel(job, new TaskTimeoutError(job.name, job.timeout, job.state === RUNNING))
  }

  #onTaskError(job: Job, err: unknown): void {
    if (job.state !== RUNNING && job.state !== SPARE) return
    if (isTermination(err) && !crashErrors.has(err as Error)) {
      // tinypool handed this task to a thread it had already told to terminate: when a running task is aborted
      // just as its result is on the way, tinypool still treats the late result as "thread free" and posts its
      // next queued task there. The thread stopped before it could run it, so sending it again is safe, unless
      // its transferred objects went down with the thread.
      if ((job.transfer === undefined || job.transfer.length === 0) && job.resent < 3) {
        job.resent++
        this.#send(job)
        return
      }
    }
    let reason: unknown
    if (isWireFailure(err)) reason = fromWireFailure(err)
    else if (err instanceof WorkerCrashedError) {
      reason = new WorkerCrashedError({ task: job.name, threadId: err.threadId, exitCode: err.exitCode })
    } else if (typeof err !== 'object' || err === null || crashErrors.has(err)) {
      reason = new WorkerCrashedError({ task: job.name, cause: err })
    } else if (isCancelError(err)) {
      reason = new WorkerCrashedError({ task: job.name, cause: this.#lastCrash })
    } else if (isTermination(err)) {
      reason = new WorkerCrashedError({ task: job.name, cause: err })
    } else {
      // failed on the main thread before reaching a thread, e.g. a DataCloneError for an uncloneable argument
      reason = err
    }
    this.#settle(job, false, reason)
  }

  #rejectAll(makeError: (job: Job) => Error): void {
    for (const job of this.#waiters.live(WAITING)) this.#settle(job, false, makeError(job))
    for (const job of this.#queue.live(QUEUED)) this.#settle(job, false, makeError(job))
    for (const job of [...this.#active]) this.#settle(job, false, makeError(job))
  }

  #watch(job: Job): void {
    const signal = job.signal!
    let watch = this.#signals.get(signal)
    if (watch === undefined) {
      const jobs = new Set<Job>()
      const onAbort = (): void => {
        for (const j of [...jobs])
          this.#cancel(j, new TaskAbortedError(j.name, signal.reason, j.state === RUNNING))
      }
      watch = { jobs, onAbort }
      this.#signals.set(signal, watch)
      signal.addEventListener('abort', onAbort, { once: true })
    }
    watch.jobs.add(job)
  }

  #unwatch(job: Job): void {
    const signal = job.signal!
    const watch = this.#signals.get(signal)
    if (watch === undefined) return
    watch.jobs.delete(job)
    if (watch.jobs.size === 0) {
      signal.removeEventListener('abort', watch.onAbort)
      this.#signals.delete(signal)
    }
  }

  /** Called for every new Worker of the process: watch it if it is one of this pool's threads. */
  #adopt(worker: Worker): boolean {
    for (const thread of this.#tp.threads) {
      if ((thread as unknown as { thread?: Worker }).thread !== worker) continue
      const threadId = worker.threadId
      worker.on('error', (err: unknown) => {
        if (typeof err === 'object' && err !== null) crashErrors.add(err)
        this.#crashes++
      })
      worker.once('exit', (exitCode: number) => {
        // tinypool only watches 'error': a thread that exits (process.exit) would leave its task pending forever.
        // A thread tinypool ended itself is no longer in `threads`; one still there died on its own.
        if (this.#state === DESTROYED || !this.#tp.threads.includes(thread)) return
        thread.emit('error', new WorkerCrashedError({ threadId, exitCode }))
      })
      return true
    }
    return false
  }

  /** tinypool reports a thread that died with no task on it (idle, or while starting). */
  #onPoolError(err: unknown): void {
    this.#lastCrash = err
    // tasks handed to tinypool while its threads were starting would wait forever if none is left: with no
    // thread, none of them is running, so all of them fail with the crash (settled here, before any listener runs)
    if (this.#tp.threads.length === 0 && this.#active.size > 0) {
      const stranded = [...this.#active]
      this.#tp.cancelPendingTasks()
      for (const job of stranded)
        this.#settle(job, false, new WorkerCrashedError({ task: job.name, cause: err }))
    }
    if (this.#onEvent !== undefined) {
      this.#emit({
        type: 'crash',
        error: err instanceof WorkerCrashedError ? err : new WorkerCrashedError({ cause: err }),
      })
    }
  }

  /** Calls `onEvent`; what it throws is ignored (it runs inside the pool's bookkeeping). */
  #emit(event: PoolEvent): void {
    const onEvent = this.#onEvent
    if (onEvent === undefined) return
    try {
      onEvent(event)
    } catch {
      // a listener that throws is ignored (docs/contributing.md, Events)
    }
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
