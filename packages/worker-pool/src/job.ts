// A task the pool holds, from the call that brings it to its settlement, and the states it passes through:
//
//   WAITING  a submit() call waiting for room in the queue (not accepted yet)
//   QUEUED   accepted, in the pool's own queue (src/queue.ts)
//   SPARE    handed to tinypool while every thread is busy: waits in tinypool's queue, counted as queued
//   RUNNING  on a thread
//   DONE     settled (resolved or rejected); every later event about it is ignored
//
// WAITING -> QUEUED -> (SPARE ->) RUNNING -> DONE; any state can go straight to DONE (abort, timeout, close,
// destroy, crash). src/scheduler.ts moves a job between them.
import type { TransferListItem } from 'node:worker_threads'
import {
  checkObject,
  checkSignal,
  checkString,
  checkTimeout,
  invalidArgument,
  type TraceMessage,
} from '@tierkit/contracts'
import type { PoolMapOptions, RunOptions, TaskHandle } from './types.js'

export const WAITING = 0
export const QUEUED = 1
export const RUNNING = 2
export const DONE = 3
export const SPARE = 4

/** One of the states above. */
export type JobState = typeof WAITING | typeof QUEUED | typeof RUNNING | typeof DONE | typeof SPARE

export interface Job {
  readonly name: string
  /** The task's argument; dropped once the job is done. */
  arg: unknown
  readonly transfer: TransferListItem[] | undefined
  /** The caller's signal. */
  readonly signal: AbortSignal | undefined
  /** Milliseconds from acceptance, or `Infinity`. */
  readonly timeout: number
  state: JobState
  timer: ReturnType<typeof setTimeout> | undefined
  /** The signal tinypool gets for a job that can be cancelled (src/tinypool-adapter.ts). */
  controller: AbortController | undefined
  /** `performance.now()` at acceptance, and at its start on a thread. */
  accepted: number
  started: number
  resolve: (value: unknown) => void
  reject: (reason: unknown) => void
  /** Resolves a waiting `submit()` once the job is accepted. */
  admit: ((handle: TaskHandle<unknown>) => void) | undefined
  /** How many times the job was sent to tinypool again (src/tinypool-adapter.ts, `#onTaskError`). */
  resent: number
  /** Its trace message, when someone listens on the `tierkit:task` channel (queue time is written there). */
  trace?: TraceMessage
}

const noop = (): void => {}

/**
 * Checks the arguments of `run`/`submit`/`map` (`method` names the call in the error) and makes a WAITING job;
 * throws `TierkitTypeError`. `taskTimeout` is the pool's default timeout.
 */
export function prepareJob(
  method: string,
  name: unknown,
  arg: unknown,
  options: RunOptions | PoolMapOptions | undefined,
  taskTimeout: number,
): Job {
  const task = checkString(method, 'name', name)
  checkObject(method, 'options', options, true)
  const signal = checkSignal(method, 'options.signal', options?.signal)
  const timeout =
    options?.timeout === undefined ? taskTimeout : checkTimeout(method, 'options.timeout', options.timeout, 1)
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
