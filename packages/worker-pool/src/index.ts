/**
 * `@tierkit/worker-pool`: CPU-bound work on worker threads (built on tinypool) and bounded async concurrency,
 * typed end to end. The worker side (`defineTasks`) lives on the `@tierkit/worker-pool/worker` subpath.
 *
 * @packageDocumentation
 */
export type { CloseOptions } from '@tierkit/contracts'
export {
  CloseTimeoutError,
  errors,
  PoolDestroyedError,
  QueueFullError,
  TaskAbortedError,
  TasksLoadError,
  TaskTimeoutError,
  UnknownTaskError,
  WorkerCrashedError,
  type WorkerCrashedErrorOptions,
  WorkerPoolError,
  type WorkerPoolErrorCode,
  type WorkerPoolErrorOptions,
} from './errors.js'
export { type MapLimitFn, type MapLimitOptions, mapLimit, type SettleMode } from './map-limit.js'
export { createPool, WorkerPool } from './pool.js'
export type { Percentiles } from './samples.js'
export type {
  PoolEvent,
  PoolMapOptions,
  PoolOptions,
  PoolStats,
  RunOptions,
  TaskArg,
  TaskArgs,
  TaskHandle,
  TaskName,
  TaskResult,
  TasksLoader,
} from './types.js'
export type { Task, TaskMap } from './worker.js'
