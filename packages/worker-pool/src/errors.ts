/**
 * Stable error codes of `@tierkit/worker-pool`. Match on `error.code`, never on the message.
 */
export type WorkerPoolErrorCode =
  | 'E_QUEUE_FULL'
  | 'E_TASK_TIMEOUT'
  | 'E_ABORTED'
  | 'E_WORKER_CRASHED'
  | 'E_POOL_CLOSED'
  | 'E_POOL_DESTROYED'
  | 'E_CLOSE_TIMEOUT'
  | 'E_UNKNOWN_TASK'
  | 'E_TASKS_LOAD_FAILED'

/** Options every error of this package accepts. */
export interface WorkerPoolErrorOptions {
  /** Name of the task the error belongs to, when there is one. */
  task?: string | undefined
  /** The underlying error. */
  cause?: unknown
}

/**
 * Base class of every error this package raises (except `TypeError` for a bad argument).
 *
 * @example
 * ```ts
 * try { await pool.run('resize', img) } catch (err) {
 *   if (err instanceof WorkerPoolError && err.code === 'E_QUEUE_FULL') retryLater()
 * }
 * ```
 */
export class WorkerPoolError extends Error {
  /** Stable machine-readable code. */
  readonly code: WorkerPoolErrorCode
  /** Name of the task concerned, if any. */
  readonly task: string | undefined

  constructor(code: WorkerPoolErrorCode, message: string, options: WorkerPoolErrorOptions = {}) {
    super(message, 'cause' in options ? { cause: options.cause } : undefined)
    this.code = code
    this.task = options.task
  }

  override get name(): string {
    return 'WorkerPoolError'
  }
}

/** The pool's queue holds `maxQueue` tasks already (`pool.run`); use `pool.submit` to wait for room instead. */
export class QueueFullError extends WorkerPoolError {
  /** The configured `maxQueue`. */
  readonly maxQueue: number

  constructor(task: string, maxQueue: number) {
    super('E_QUEUE_FULL', `task "${task}" rejected: the queue is full (maxQueue ${maxQueue})`, { task })
    this.maxQueue = maxQueue
  }

  override get name(): string {
    return 'QueueFullError'
  }
}

/** The task did not finish within its `timeout` (counted from acceptance: queue wait plus run time). */
export class TaskTimeoutError extends WorkerPoolError {
  /** The timeout that elapsed, in milliseconds. */
  readonly timeout: number
  /** Whether the task had started on a thread (the thread was then ended and replaced). */
  readonly started: boolean

  constructor(task: string, timeout: number, started: boolean) {
    super(
      'E_TASK_TIMEOUT',
      `task "${task}" timed out after ${timeout} ms (${started ? 'while running; its thread was replaced' : 'while queued; it never ran'})`,
      { task },
    )
    this.timeout = timeout
    this.started = started
  }

  override get name(): string {
    return 'TaskTimeoutError'
  }
}

/**
 * The work was cancelled through an `AbortSignal`. Its `name` is `'AbortError'` (like `fetch` and
 * `timers/promises`), its `cause` is `signal.reason`.
 */
export class TaskAbortedError extends WorkerPoolError {
  /** Whether the task had started on a thread (the thread was then ended and replaced). */
  readonly started: boolean

  constructor(task: string | undefined, reason: unknown, started = false) {
    super(
      'E_ABORTED',
      task === undefined
        ? 'the operation was aborted'
        : `task "${task}" was aborted (${started ? 'while running; its thread was replaced' : 'before it ran'})`,
      { task, cause: reason },
    )
    this.started = started
  }

  override get name(): string {
    return 'AbortError'
  }
}

/** Context of a {@link WorkerCrashedError}. */
export interface WorkerCrashedErrorOptions extends WorkerPoolErrorOptions {
  /** Thread id of the worker that died. */
  threadId?: number | undefined
  /** Exit code, when the thread exited (`process.exit`) rather than failed. */
  exitCode?: number | undefined
}

/**
 * The thread running the task died: `process.exit()`, `resourceLimits` exceeded, an uncaught error outside the
 * task's promise, or a result that cannot be cloned. The pool has replaced the thread.
 */
export class WorkerCrashedError extends WorkerPoolError {
  /** Thread id of the worker that died, when known. */
  readonly threadId: number | undefined
  /** Exit code, when the thread exited. */
  readonly exitCode: number | undefined

  constructor(options: WorkerCrashedErrorOptions = {}) {
    const what =
      options.task === undefined ? 'a worker thread' : `the worker thread running task "${options.task}"`
    const how =
      options.exitCode !== undefined
        ? `exited with code ${options.exitCode}`
        : options.cause instanceof Error
          ? `crashed: ${options.cause.message}`
          : 'crashed'
    super('E_WORKER_CRASHED', `${what} ${how}`, options)
    this.threadId = options.threadId
    this.exitCode = options.exitCode
  }

  override get name(): string {
    return 'WorkerCrashedError'
  }
}

/** The pool is closing or closed (`close()`): it takes no new work. */
export class PoolClosedError extends WorkerPoolError {
  constructor(task: string | undefined) {
    super('E_POOL_CLOSED', `task "${task}" rejected: the pool is closed`, { task })
  }

  override get name(): string {
    return 'PoolClosedError'
  }
}

/** The pool was destroyed (`destroy()`) before the task finished. */
export class PoolDestroyedError extends WorkerPoolError {
  constructor(task: string | undefined) {
    super('E_POOL_DESTROYED', `task "${task}" rejected: the pool was destroyed`, { task })
  }

  override get name(): string {
    return 'PoolDestroyedError'
  }
}

/** `close({ timeout })` elapsed before the task finished; the task was cut off and its thread ended. */
export class CloseTimeoutError extends WorkerPoolError {
  /** The close timeout, in milliseconds. */
  readonly timeout: number

  constructor(task: string, timeout: number) {
    super('E_CLOSE_TIMEOUT', `task "${task}" cut off: close() timed out after ${timeout} ms`, { task })
    this.timeout = timeout
  }

  override get name(): string {
    return 'CloseTimeoutError'
  }
}

/** The tasks module has no task of that name. */
export class UnknownTaskError extends WorkerPoolError {
  /** Names the tasks module does define. */
  readonly known: readonly string[]

  constructor(task: string, known: readonly string[]) {
    super(
      'E_UNKNOWN_TASK',
      `unknown task "${task}" (the tasks module defines: ${known.join(', ') || 'none'})`,
      {
        task,
      },
    )
    this.known = known
  }

  override get name(): string {
    return 'UnknownTaskError'
  }
}

/**
 * The worker could not load the tasks module: it threw while loading, it does not `export default
 * defineTasks({ ... })`, or it is TypeScript and `tsx` could not be loaded. `cause` holds the original error.
 */
export class TasksLoadError extends WorkerPoolError {
  /** URL of the tasks module. */
  readonly file: string

  constructor(task: string, file: string, cause: unknown) {
    const detail = cause instanceof Error ? `: ${cause.message}` : ''
    super(
      'E_TASKS_LOAD_FAILED',
      `task "${task}" failed: the tasks module ${file} could not be loaded${detail}`,
      {
        task,
        cause,
      },
    )
    this.file = file
  }

  override get name(): string {
    return 'TasksLoadError'
  }
}
