// The pool's own queues, behind a small interface (as piscina keeps its queue behind `TaskQueue`): the tasks
// waiting for a thread, the spares handed to tinypool, and the submit() calls waiting for room. Why the pool
// queues in front of tinypool at all: docs/worker-pool.md, "Why a queue in front of tinypool".
import type { Job, JobState } from './job.js'

/** What the scheduler needs of a queue of jobs. */
export interface TaskQueue {
  /** Jobs in the queue. */
  readonly size: number
  /** Adds a job at the tail. */
  push(job: Job): void
  /** Removes and returns the oldest job, or `undefined` when the queue is empty. */
  shift(): Job | undefined
  /** Takes out a job that left the queue's state (cancelled, settled); it is never returned by `shift`. */
  remove(job: Job): void
  /** The jobs in the queue, oldest first. */
  toArray(): Job[]
}

/**
 * FIFO of the jobs in one state. `remove` is O(1): the job has left the queue's state already, and the slots of
 * such jobs are skipped lazily by `shift`, so a mass cancellation costs nothing until the queue moves.
 */
export class JobQueue implements TaskQueue {
  readonly #state: JobState
  #items: (Job | undefined)[] = []
  #head = 0
  #size = 0

  /** @param state - The state of the jobs this queue holds (a job in another state is no longer in it). */
  constructor(state: JobState) {
    this.#state = state
  }

  get size(): number {
    return this.#size
  }

  push(job: Job): void {
    this.#items.push(job)
    this.#size++
  }

  shift(): Job | undefined {
    const items = this.#items
    while (this.#head < items.length) {
      const job = items[this.#head]
      items[this.#head++] = undefined
      if (job !== undefined && job.state === this.#state) {
        this.#size--
        this.#compact()
        return job
      }
    }
    this.#items = []
    this.#head = 0
    return undefined
  }

  remove(_job: Job): void {
    this.#size--
  }

  toArray(): Job[] {
    return this.#items.filter((job): job is Job => job !== undefined && job.state === this.#state)
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
