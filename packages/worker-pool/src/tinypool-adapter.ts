// The tinypool adapter: the one room that talks to tinypool (2.2.0, pinned in package.json). It starts the
// threads, hands jobs over, and turns what comes back into results and typed failures. Each thing tinypool leaves
// open is covered here, and each has a test that names it (test/tinypool.test.ts):
//   1. tinypool watches a thread's 'error' event but not its 'exit': a task whose thread calls process.exit()
//      would stay pending forever. The pool watches every thread it owns and reports an exit as an error.
//   2. tinypool emits 'error' on the pool for a thread that dies with no task on it; with no listener that is an
//      uncaughtException. The pool listens and reports a `crash` event.
//   3. tinypool stops replacing a thread that dies before it is ready, so tasks queued for it wait forever. When
//      no thread is left, the pool cancels them in tinypool and rejects them with E_WORKER_CRASHED.
//   4. tinypool posts its next queued task to a thread it is terminating when an aborted task's result arrives
//      late; that task fails with "Terminating worker thread" though it never ran. The pool sends it again.
//   5. tinypool rejects with what structured clone keeps of an error (no class name, no own properties): the
//      thread runtime (src/worker-entry.js) sends a description instead, rebuilt here (src/wire.ts).
import { fileURLToPath } from 'node:url'
import type { ResourceLimits, Worker } from 'node:worker_threads'
import { Tinypool } from 'tinypool'
import { WorkerCrashedError } from './errors.js'
import { type Job, RUNNING, SPARE } from './job.js'
import type { ResolvedTasks } from './tasks-file.js'
import { fromWireFailure, isWireFailure, WIRE } from './wire.js'

const ENTRY = fileURLToPath(new URL('./worker-entry.js', import.meta.url))
const noop = (): void => {}

/** What the adapter reports to the scheduler. */
export interface AdapterHooks {
  /** A job handed over came back: its result (`ok`) or its failure, already typed. */
  settle(job: Job, ok: boolean, value: unknown): void
  /** A thread's Worker raised an error (it died unexpectedly; counted in `crashes`). */
  threadError(): void
  /** A thread died with no task on it (idle, or while loading the tasks module). */
  crash(err: unknown): void
  /** Whether the pool was destroyed: exits from then on are the pool's own doing. */
  destroyed(): boolean
}

/** The tinypool options the pool sets. */
export interface AdapterOptions {
  readonly tasks: ResolvedTasks
  readonly minThreads: number
  readonly maxThreads: number
  readonly idleTimeout: number
  readonly resourceLimits: ResourceLimits | undefined
}

/** Errors raised on the threads' `Worker` objects: the failures of tasks caught in them are crashes. */
const crashErrors = new WeakSet<object>()

function isTermination(err: unknown): boolean {
  return err instanceof Error && err.message === 'Terminating worker thread'
}

export class TinypoolAdapter {
  static readonly #adapters = new Set<TinypoolAdapter>()
  static readonly #onWorker = (worker: Worker): void => {
    for (const adapter of TinypoolAdapter.#adapters) if (adapter.#adopt(worker)) return
  }

  /** The jobs in tinypool's hands: running, or spare in its queue. */
  readonly active: Set<Job> = new Set<Job>()
  readonly #tp: Tinypool
  readonly #hooks: AdapterHooks
  #shutdown: Promise<void> | undefined

  constructor(options: AdapterOptions, hooks: AdapterHooks) {
    this.#hooks = hooks
    this.#tp = new Tinypool({
      filename: ENTRY,
      minThreads: options.minThreads,
      maxThreads: options.maxThreads,
      idleTimeout: options.idleTimeout,
      // the pool bounds its own queue (src/scheduler.ts); tinypool only ever holds one spare per thread
      maxQueue: Number.POSITIVE_INFINITY,
      resourceLimits: options.resourceLimits,
      workerData: { [WIRE]: options.tasks },
    })
    // workaround 2: a listener, so a thread that dies with no task never becomes an uncaughtException
    this.#tp.on('error', (err: unknown) => this.#onPoolError(err))
    // threads announce themselves on the next tick ('worker' event): registering now is in time
    if (TinypoolAdapter.#adapters.size === 0) process.on('worker', TinypoolAdapter.#onWorker)
    TinypoolAdapter.#adapters.add(this)
  }

  /** Threads alive (starting, idle or busy). */
  get threads(): number {
    return this.#tp.threads.length
  }

  /**
   * Hands a job to tinypool. A job that can be cancelled gets a signal of the pool's own: tinypool ends a running
   * task's thread (or drops a spare from its queue) only through a signal.
   */
  send(job: Job): void {
    this.active.add(job)
    if (job.signal !== undefined || job.timer !== undefined) job.controller = new AbortController()
    this.#run(job)
  }

  /** The job settled: it is no longer in tinypool's hands. */
  forget(job: Job): void {
    this.active.delete(job)
  }

  /** Cancels a job handed over: tinypool drops it from its queue or ends its thread, synchronously. */
  abort(job: Job): void {
    job.controller?.abort()
  }

  /** Ends the threads (once); resolves when they are gone. */
  destroy(): Promise<void> {
    if (this.#shutdown === undefined) {
      TinypoolAdapter.#adapters.delete(this)
      if (TinypoolAdapter.#adapters.size === 0) process.off('worker', TinypoolAdapter.#onWorker)
      this.#shutdown = this.#tp.destroy().catch(noop)
    }
    return this.#shutdown
  }

  #run(job: Job): void {
    this.#tp
      .run(job.arg, { name: job.name, transferList: job.transfer, signal: job.controller?.signal })
      .then(
        (value: unknown) => this.#hooks.settle(job, true, value),
        (err: unknown) => this.#onTaskError(job, err),
      )
  }

  #onTaskError(job: Job, err: unknown): void {
    if (job.state !== RUNNING && job.state !== SPARE) return
    if (isTermination(err) && !crashErrors.has(err as Error)) {
      // workaround 4: tinypool handed this task to a thread it had already told to terminate: when a running
      // task is aborted just as its result is on the way, tinypool still treats the late result as "thread
      // free" and posts its next queued task there. The thread stopped before it could run it, so sending it
      // again is safe, unless its transferred objects went down with the thread.
      if ((job.transfer === undefined || job.transfer.length === 0) && job.resent < 3) {
        job.resent++
        this.#run(job)
        return
      }
    }
    this.#hooks.settle(job, false, this.#failure(job, err))
  }

  /** What a job rejects with, for what tinypool rejected it with. */
  #failure(job: Job, err: unknown): unknown {
    // workaround 5: what the task threw, rebuilt from the thread runtime's description
    if (isWireFailure(err)) return fromWireFailure(err)
    if (err instanceof WorkerCrashedError) {
      return new WorkerCrashedError({ task: job.name, threadId: err.threadId, exitCode: err.exitCode })
    }
    if (typeof err !== 'object' || err === null || crashErrors.has(err)) {
      return new WorkerCrashedError({ task: job.name, cause: err })
    }
    if (isTermination(err)) return new WorkerCrashedError({ task: job.name, cause: err })
    // failed on the main thread before reaching a thread, e.g. a DataCloneError for an uncloneable argument
    return err
  }

  /** Called for every new Worker of the process: watch it if it is one of this pool's threads. */
  #adopt(worker: Worker): boolean {
    for (const thread of this.#tp.threads) {
      if ((thread as unknown as { thread?: Worker }).thread !== worker) continue
      const threadId = worker.threadId
      worker.on('error', (err: unknown) => {
        if (typeof err === 'object' && err !== null) crashErrors.add(err)
        this.#hooks.threadError()
      })
      worker.once('exit', (exitCode: number) => {
        // workaround 1: tinypool only watches 'error': a thread that exits (process.exit) would leave its task
        // pending forever. A thread tinypool ended itself is no longer in `threads`; one still there died on
        // its own.
        if (this.#hooks.destroyed() || !this.#tp.threads.includes(thread)) return
        thread.emit('error', new WorkerCrashedError({ threadId, exitCode }))
      })
      return true
    }
    return false
  }

  /** tinypool reports a thread that died with no task on it (idle, or while starting). */
  #onPoolError(err: unknown): void {
    // workaround 3: tasks handed to tinypool while its threads were starting would wait forever if none is
    // left: with no thread, none of them is running, so all of them fail with the crash (settled here, before
    // any listener runs)
    if (this.#tp.threads.length === 0 && this.active.size > 0) {
      const stranded = [...this.active]
      // tinypool rejects them with its CancelError later; settled below first, that rejection is ignored
      this.#tp.cancelPendingTasks()
      for (const job of stranded)
        this.#hooks.settle(job, false, new WorkerCrashedError({ task: job.name, cause: err }))
    }
    this.#hooks.crash(err)
  }
}
