// The scheduler: moves jobs through their states (src/job.ts) between the pool's queues (src/queue.ts) and
// tinypool (src/tinypool-adapter.ts), keeps the counts exact, and settles each job exactly once.
//
// It hands tinypool one job per free thread plus one spare per thread: the spare waits in tinypool's queue, so a
// thread that finishes gets its next task at once, before it sleeps (handing it over later costs a wake-up per
// task; the README's benchmarks show the difference). Spares count as queued.
import { Cancellation } from './cancel.js'
import { WorkerCrashedError } from './errors.js'
import { DONE, type Job, QUEUED, RUNNING, SPARE, WAITING } from './job.js'
import { JobQueue, type TaskQueue } from './queue.js'
import { PoolMeter } from './stats.js'
import { type AdapterHooks, type AdapterOptions, TinypoolAdapter } from './tinypool-adapter.js'
import type { PoolEvent, PoolStats, TaskHandle } from './types.js'

/** The pool's lifecycle: taking work, closing (finishing what it accepted), closed, destroyed. */
export const OPEN = 0
export const CLOSING = 1
export const CLOSED = 2
export const DESTROYED = 3
export type Lifecycle = typeof OPEN | typeof CLOSING | typeof CLOSED | typeof DESTROYED

export interface SchedulerOptions extends AdapterOptions {
  /** Most jobs waiting for a thread (spares included). */
  readonly maxQueue: number
  readonly onEvent: ((event: PoolEvent) => void) | undefined
}

const noop = (): void => {}

export class Scheduler implements AdapterHooks {
  state: Lifecycle = OPEN
  /** Called when the pool is CLOSING and the last accepted job settled. */
  onIdle: (() => void) | undefined
  readonly meter: PoolMeter
  readonly #engine: TinypoolAdapter
  readonly #cancellation = new Cancellation((job, err) => this.cancel(job, err))
  readonly #maxThreads: number
  readonly #maxQueue: number
  readonly #spareLimit: number
  readonly #onEvent: ((event: PoolEvent) => void) | undefined
  /** Accepted jobs waiting for a thread. Another order (priorities) would be another TaskQueue here. */
  readonly #queue: TaskQueue = new JobQueue(QUEUED)
  /** Jobs in tinypool's queue: first in, first out, since tinypool runs its queue in order. */
  readonly #spares: TaskQueue = new JobQueue(SPARE)
  /** `submit()` calls waiting for room, in call order. */
  readonly #waiters: TaskQueue = new JobQueue(WAITING)
  #running = 0
  #hadQueue = false

  constructor(options: SchedulerOptions) {
    this.#maxThreads = options.maxThreads
    this.#maxQueue = options.maxQueue
    this.#onEvent = options.onEvent
    // spares need a thread that tinypool keeps alive (minThreads >= 1) to pick them up after a thread is ended
    this.#spareLimit = options.minThreads >= 1 ? Math.min(options.maxThreads, options.maxQueue) : 0
    this.meter = new PoolMeter(options.maxThreads)
    this.#engine = new TinypoolAdapter(options, this)
  }

  /** Whether a new job fits: a free thread with nothing queued, or room in the queue. */
  hasRoom(): boolean {
    const queued = this.#queue.size + this.#spares.size
    return (this.#running < this.#maxThreads && queued === 0) || queued < this.#maxQueue
  }

  /** Whether nothing accepted is left (queued, spare or running). */
  get idle(): boolean {
    return this.#engine.active.size === 0 && this.#queue.size === 0
  }

  /** Accepts a job for `submit`: its result is pre-handled, so nobody awaiting it is no unhandled rejection. */
  handle(job: Job): TaskHandle<unknown> {
    const result = new Promise<unknown>((resolve, reject) => {
      job.resolve = resolve
      job.reject = reject
    })
    result.catch(noop)
    this.accept(job)
    return { result }
  }

  /** Takes a job in: starts its timeout and hands it to a thread, as a spare, or queues it. */
  accept(job: Job): void {
    job.accepted = performance.now()
    this.#cancellation.watch(job)
    this.#cancellation.arm(job)
    if (this.#queue.size === 0 && this.#running < this.#maxThreads) {
      this.#dispatch(job, false)
    } else if (this.#queue.size === 0 && this.#spares.size < this.#spareLimit) {
      this.#hadQueue = true
      this.#dispatch(job, true)
    } else {
      job.state = QUEUED
      this.#queue.push(job)
      this.#hadQueue = true
    }
  }

  /** A `submit()` waits for room; `job.admit` is called with its handle once it is accepted. */
  wait(job: Job): void {
    this.#waiters.push(job)
    this.#cancellation.watch(job)
  }

  /** Settles a job (once): releases its timer and signal, updates the counts, moves the queues on. */
  settle(job: Job, ok: boolean, value: unknown): void {
    const state = job.state
    if (state === DONE) return
    job.state = DONE
    job.arg = undefined
    this.#cancellation.release(job)
    if (state === RUNNING) {
      this.#running--
      this.#engine.forget(job)
      this.meter.ran(job)
    } else if (state === SPARE) {
      this.#spares.remove(job)
      this.#engine.forget(job)
    } else if (state === QUEUED) {
      this.#queue.remove(job)
    } else {
      this.#waiters.remove(job)
    }
    if (state !== WAITING) this.meter.settled(ok)
    this.pump()
    if (ok) job.resolve(value)
    else job.reject(value)
  }

  /** Cancels a job in any state; a running one has its thread ended (tinypool replaces it). */
  cancel(job: Job, err: Error): void {
    if (job.state === DONE) return
    // abort first: tinypool drops the thread (or the spare from its queue) synchronously, so the next dispatch
    // may start a fresh thread
    if (job.state === RUNNING || job.state === SPARE) this.#engine.abort(job)
    this.settle(job, false, err)
  }

  /** Rejects the `submit()` calls still waiting for room. */
  rejectWaiting(makeError: (job: Job) => Error): void {
    for (const job of this.#waiters.toArray()) this.settle(job, false, makeError(job))
  }

  /** Rejects every job: waiting, queued, spare and running. */
  rejectAll(makeError: (job: Job) => Error): void {
    this.rejectWaiting(makeError)
    for (const job of this.#queue.toArray()) this.settle(job, false, makeError(job))
    for (const job of [...this.#engine.active]) this.settle(job, false, makeError(job))
  }

  /** Moves the queues on: spares that got a thread, queued jobs that fit, waiters that now have room. */
  pump(): void {
    if (this.state >= CLOSED) return
    // tinypool runs its queue in order: as threads free up, the oldest spares are the ones running
    while (this.#running < this.#maxThreads && this.#spares.size > 0) {
      const job = this.#spares.shift()
      if (job === undefined) break
      this.#start(job)
    }
    while (
      this.#queue.size > 0 &&
      (this.#running < this.#maxThreads || this.#spares.size < this.#spareLimit)
    ) {
      const job = this.#queue.shift()
      if (job === undefined) break
      this.#dispatch(job, this.#running >= this.#maxThreads)
    }
    while (this.#waiters.size > 0 && this.state === OPEN && this.hasRoom()) {
      const job = this.#waiters.shift()
      if (job === undefined) break
      const admit = job.admit!
      job.admit = undefined
      admit(this.handle(job))
    }
    if (this.#queue.size === 0 && this.#spares.size === 0 && this.#hadQueue) {
      this.#hadQueue = false
      this.emit({ type: 'drain' })
    }
    if (this.state === CLOSING && this.idle) this.onIdle?.()
  }

  stats(): PoolStats {
    return this.meter.snapshot({
      threads: this.#engine.threads,
      queued: this.#queue.size + this.#spares.size,
      running: this.#running,
      waiting: this.#waiters.size,
      active: this.#engine.active,
    })
  }

  /** Ends the threads (once). */
  end(): Promise<void> {
    return this.#engine.destroy()
  }

  /** Calls `onEvent`; what it throws is ignored (it runs inside the pool's bookkeeping). */
  emit(event: PoolEvent): void {
    const onEvent = this.#onEvent
    if (onEvent === undefined) return
    try {
      onEvent(event)
    } catch {
      // a listener that throws is ignored (docs/contributing.md, Events)
    }
  }

  // AdapterHooks (settle above)

  threadError(): void {
    this.meter.crashed()
  }

  crash(err: unknown): void {
    if (this.#onEvent === undefined) return
    this.emit({
      type: 'crash',
      error: err instanceof WorkerCrashedError ? err : new WorkerCrashedError({ cause: err }),
    })
  }

  destroyed(): boolean {
    return this.state === DESTROYED
  }

  #dispatch(job: Job, spare: boolean): void {
    if (spare) {
      job.state = SPARE
      this.#spares.push(job)
    } else {
      this.#start(job)
    }
    this.#engine.send(job)
  }

  /** Marks a job as running on a thread (at dispatch, or when the spare ahead of it moves up). */
  #start(job: Job): void {
    job.state = RUNNING
    this.#running++
    const now = performance.now()
    job.started = now
    if (job.trace !== undefined) job.trace.waited = now - job.accepted
    this.meter.started(job, now)
  }
}
