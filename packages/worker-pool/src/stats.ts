// The pool's statistics: counters, busy time and the wait/run time windows, and the PoolStats snapshot.
// tinypool counts every settled task as `completed` (failures too) and keeps no wait or run times, so the pool
// measures from its own job states (src/job.ts).
import { type Job, RUNNING } from './job.js'
import { SampleWindow } from './samples.js'
import type { PoolStats } from './types.js'

/** What the snapshot reads from the scheduler and the threads at that instant. */
export interface PoolLoad {
  readonly threads: number
  readonly queued: number
  readonly running: number
  readonly waiting: number
  /** The jobs handed to tinypool (running and spare). */
  readonly active: Iterable<Job>
}

export class PoolMeter {
  readonly #maxThreads: number
  readonly #waitTimes = new SampleWindow(1024)
  readonly #runTimes = new SampleWindow(1024)
  readonly #born = performance.now()
  readonly #createdAt = Date.now()
  #completed = 0
  #failed = 0
  #crashes = 0
  #busy = 0

  /** @param maxThreads - The pool's `maxThreads` (the capacity behind `utilization`). */
  constructor(maxThreads: number) {
    this.#maxThreads = maxThreads
  }

  /** A job started on a thread at `now`: records its wait. */
  started(job: Job, now: number): void {
    this.#waitTimes.record(now - job.accepted)
  }

  /** A running job settled: records its run time. */
  ran(job: Job): void {
    const took = performance.now() - job.started
    this.#runTimes.record(took)
    this.#busy += took
  }

  /** An accepted job settled. */
  settled(ok: boolean): void {
    if (ok) this.#completed++
    else this.#failed++
  }

  /** A thread died unexpectedly. */
  crashed(): void {
    this.#crashes++
  }

  snapshot(load: PoolLoad): PoolStats {
    const now = performance.now()
    let busy = this.#busy
    for (const job of load.active) if (job.state === RUNNING) busy += now - job.started
    const uptime = now - this.#born
    const capacity = uptime * this.#maxThreads
    // at most maxThreads tasks run at once, so busy <= capacity; the clamp only absorbs float rounding
    if (busy > capacity) busy = capacity
    return {
      threads: load.threads,
      queued: load.queued,
      running: load.running,
      waiting: load.waiting,
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
}
