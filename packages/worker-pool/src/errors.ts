import { AbortedError, ClosedError, TierkitError, TierkitTypeError } from '@tierkit/contracts'

/**
 * Every stable error code `@tierkit/worker-pool` rejects or throws with, its own and the shared ones of
 * `@tierkit/contracts` (`E_ABORTED`, `E_CLOSED`, `E_INVALID_ARGUMENT`). Match on `error.code`, never on the
 * message; {@link errors} maps each code to its class.
 */
export type WorkerPoolErrorCode =
  | 'E_QUEUE_FULL'
  | 'E_TASK_TIMEOUT'
  | 'E_WORKER_CRASHED'
  | 'E_POOL_DESTROYED'
  | 'E_CLOSE_TIMEOUT'
  | 'E_UNKNOWN_TASK'
  | 'E_TASKS_LOAD_FAILED'
  | 'E_ABORTED'
  | 'E_CLOSED'
  | 'E_INVALID_ARGUMENT'

/** The codes of the errors this package defines on {@link WorkerPoolError}. */
type OwnCode = Exclude<WorkerPoolErrorCode, 'E_ABORTED' | 'E_CLOSED' | 'E_INVALID_ARGUMENT'>

/** Options every error of this package accepts. */
export interface WorkerPoolErrorOptions {
  /** Name of the task the error belongs to, when there is one. */
  task?: string | undefined
  /** The underlying error. */
  cause?: unknown
}

/**
 * Base class of the errors only this package raises (a `TierkitError`, with `code`, `name` = the class name,
 * `cause`, and the `task` concerned). The shared errors it raises come from `@tierkit/contracts`:
 * `ClosedError` (`E_CLOSED`), `AbortedError` (`E_ABORTED`; a task's abort is its subclass
 * {@link TaskAbortedError}) and `TierkitTypeError` (`E_INVALID_ARGUMENT`).
 *
 * @example
 * ```ts
 * import { WorkerPoolError } from '@tierkit/worker-pool'
 * declare const error: unknown
 * if (error instanceof WorkerPoolError && error.code === 'E_QUEUE_FULL') console.log('retry later')
 * ```
 */
export class WorkerPoolError<Code extends OwnCode = OwnCode> extends TierkitError<Code> {
  /** Name of the task concerned, if any. */
  readonly task: string | undefined

  /**
   * @param code - the stable code
   * @param message - what happened
   * @param options - the task concerned and the `cause`
   */
  constructor(code: Code, message: string, options: WorkerPoolErrorOptions = {}) {
    super(code, message, 'cause' in options ? { cause: options.cause } : undefined)
    this.task = options.task
  }
}

/** The pool's queue holds `maxQueue` tasks already (`pool.run`); use `pool.submit` to wait for room instead. */
export class QueueFullError extends WorkerPoolError<'E_QUEUE_FULL'> {
  /** The configured `maxQueue`. */
  readonly maxQueue: number

  /**
   * @param task - the task refused
   * @param maxQueue - the pool's `maxQueue`
   */
  constructor(task: string, maxQueue: number) {
    super('E_QUEUE_FULL', `task "${task}" rejected: the queue is full (maxQueue ${maxQueue})`, { task })
    this.maxQueue = maxQueue
  }
}

/** The task did not finish within its `timeout` (counted from acceptance: queue wait plus run time). */
export class TaskTimeoutError extends WorkerPoolError<'E_TASK_TIMEOUT'> {
  /** The timeout that elapsed, in ms. */
  readonly timeout: number
  /** Whether the task had started on a thread (the thread was then ended and replaced). */
  readonly started: boolean

  /**
   * @param task - the task
   * @param timeout - its timeout in ms
   * @param started - whether it had started on a thread
   */
  constructor(task: string, timeout: number, started: boolean) {
    super(
      'E_TASK_TIMEOUT',
      `task "${task}" timed out after ${timeout} ms (${started ? 'while running; its thread was replaced' : 'while queued; it never ran'})`,
      { task },
    )
    this.timeout = timeout
    this.started = started
  }
}

/**
 * A task cancelled through its `AbortSignal`: the family's `AbortedError` (`E_ABORTED`, `name` `'AbortError'`,
 * `cause` = `signal.reason`) with the task's name and whether it had started.
 */
export class TaskAbortedError extends AbortedError {
  /** Name of the task. */
  readonly task: string
  /** Whether the task had started on a thread (the thread was then ended and replaced). */
  readonly started: boolean

  /**
   * @param task - the task
   * @param reason - the signal's `reason`
   * @param started - whether it had started on a thread
   */
  constructor(task: string, reason: unknown, started = false) {
    super(`task "${task}"`, reason)
    this.message = `${this.message} (${started ? 'while running; its thread was replaced' : 'before it ran'})`
    this.task = task
    this.started = started
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
export class WorkerCrashedError extends WorkerPoolError<'E_WORKER_CRASHED'> {
  /** Thread id of the worker that died, when known. */
  readonly threadId: number | undefined
  /** Exit code, when the thread exited. */
  readonly exitCode: number | undefined

  /** @param options - the task, the thread, the exit code and the `cause` */
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
}

/** The pool was destroyed (`destroy()`) while the task was waiting, queued or running. */
export class PoolDestroyedError extends WorkerPoolError<'E_POOL_DESTROYED'> {
  /** @param task - the task cut off */
  constructor(task: string) {
    super('E_POOL_DESTROYED', `task "${task}" rejected: the pool was destroyed`, { task })
  }
}

/** `close({ timeout })` elapsed before the task finished; the task was cut off and its thread ended. */
export class CloseTimeoutError extends WorkerPoolError<'E_CLOSE_TIMEOUT'> {
  /** The close timeout, in ms. */
  readonly timeout: number

  /**
   * @param task - the task cut off
   * @param timeout - the close timeout in ms
   */
  constructor(task: string, timeout: number) {
    super('E_CLOSE_TIMEOUT', `task "${task}" cut off: close() timed out after ${timeout} ms`, { task })
    this.timeout = timeout
  }
}

/** The tasks module has no task of that name. */
export class UnknownTaskError extends WorkerPoolError<'E_UNKNOWN_TASK'> {
  /** Names the tasks module does define. */
  readonly known: readonly string[]

  /**
   * @param task - the name asked for
   * @param known - the names the tasks module defines
   */
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
}

/**
 * The worker could not load the tasks module: it threw while loading, it does not `export default
 * defineTasks({ ... })`, or it is TypeScript and `tsx` could not be loaded. `cause` holds the original error.
 */
export class TasksLoadError extends WorkerPoolError<'E_TASKS_LOAD_FAILED'> {
  /** URL of the tasks module. */
  readonly file: string

  /**
   * @param task - the task that could not run
   * @param file - the tasks module's URL
   * @param cause - what loading it threw
   */
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
}

/**
 * Every error class this package throws or rejects with, by its code, the shared ones of `@tierkit/contracts`
 * included (`E_ABORTED` is `AbortedError`, whose subclass {@link TaskAbortedError} a task's abort rejects with).
 *
 * @example
 * ```ts
 * import { errors } from '@tierkit/worker-pool'
 * declare const error: unknown
 * if (error instanceof errors.E_QUEUE_FULL) console.log(error.maxQueue)
 * ```
 */
export const errors: {
  readonly E_QUEUE_FULL: typeof QueueFullError
  readonly E_TASK_TIMEOUT: typeof TaskTimeoutError
  readonly E_WORKER_CRASHED: typeof WorkerCrashedError
  readonly E_POOL_DESTROYED: typeof PoolDestroyedError
  readonly E_CLOSE_TIMEOUT: typeof CloseTimeoutError
  readonly E_UNKNOWN_TASK: typeof UnknownTaskError
  readonly E_TASKS_LOAD_FAILED: typeof TasksLoadError
  readonly E_ABORTED: typeof AbortedError
  readonly E_CLOSED: typeof ClosedError
  readonly E_INVALID_ARGUMENT: typeof TierkitTypeError
} = Object.freeze({
  E_QUEUE_FULL: QueueFullError,
  E_TASK_TIMEOUT: TaskTimeoutError,
  E_WORKER_CRASHED: WorkerCrashedError,
  E_POOL_DESTROYED: PoolDestroyedError,
  E_CLOSE_TIMEOUT: CloseTimeoutError,
  E_UNKNOWN_TASK: UnknownTaskError,
  E_TASKS_LOAD_FAILED: TasksLoadError,
  E_ABORTED: AbortedError,
  E_CLOSED: ClosedError,
  E_INVALID_ARGUMENT: TierkitTypeError,
})
