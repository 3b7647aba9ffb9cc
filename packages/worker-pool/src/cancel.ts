// Timeouts and cancellation: what turns a caller's signal or a task's timeout into a cancel of its job.
// tinypool has no per-task timeout (its run() takes no timeout option), and an abort there rejects with its own
// untyped AbortError, without the signal's reason: the pool keeps both here and cancels through the scheduler,
// which rejects with TaskAbortedError (cause = signal.reason) or TaskTimeoutError.
import { TaskAbortedError, TaskTimeoutError } from './errors.js'
import { type Job, RUNNING } from './job.js'

interface SignalWatch {
  readonly jobs: Set<Job>
  readonly onAbort: () => void
}

/** Cancels a job in any state with `err` (src/scheduler.ts, `cancel`). */
export type CancelJob = (job: Job, err: Error) => void

/** The signals and timers of the pool's jobs: one abort listener per signal however many jobs share it. */
export class Cancellation {
  readonly #cancel: CancelJob
  readonly #signals = new Map<AbortSignal, SignalWatch>()

  /** @param cancel - Called when a job's signal aborts or its timeout elapses. */
  constructor(cancel: CancelJob) {
    this.#cancel = cancel
  }

  /** Cancels the job when its signal (if any) aborts. Watching a job twice is a no-op. */
  watch(job: Job): void {
    const signal = job.signal
    if (signal === undefined) return
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

  /** Starts the job's timeout (from acceptance), unless it has none. */
  arm(job: Job): void {
    if (job.timeout !== Number.POSITIVE_INFINITY) job.timer = setTimeout(this.#onTimeout, job.timeout, job)
  }

  /** Stops watching a settled job: clears its timer and its signal's listener (the last job of a signal). */
  release(job: Job): void {
    if (job.timer !== undefined) clearTimeout(job.timer)
    const signal = job.signal
    if (signal === undefined) return
    const watch = this.#signals.get(signal)
    if (watch === undefined) return
    watch.jobs.delete(job)
    if (watch.jobs.size === 0) {
      signal.removeEventListener('abort', watch.onAbort)
      this.#signals.delete(signal)
    }
  }

  readonly #onTimeout = (job: Job): void => {
    job.timer = undefined
    this.#cancel(job, new TaskTimeoutError(job.name, job.timeout, job.state === RUNNING))
  }
}
