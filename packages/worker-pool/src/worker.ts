/**
 * Worker side of `@tierkit/worker-pool`: import this in the tasks module (the file that runs on the threads).
 *
 * @packageDocumentation
 */
import { checkFunction, checkObject } from '@tierkit/contracts'

const TASKS: unique symbol = Symbol.for('@tierkit/worker-pool.tasks') as never

/**
 * A task: a function of one argument (or none) running on a worker thread. The argument and the result cross the
 * thread boundary by structured clone (plus `transfer`), so both must be cloneable.
 */
export type Task = (arg: never) => unknown

/** The record of named tasks a tasks module exports with {@link defineTasks}. */
export type TaskMap = Record<string, Task>

/**
 * Declares the tasks of a tasks module. The module must `export default` the result; the main thread then types
 * its pool with `createPool<typeof import('./tasks.js').default>(...)`, so task names, arguments and results are
 * checked end to end.
 *
 * @param tasks - Record of task name to function. Each function takes at most one argument.
 * @returns The same tasks (a frozen copy, marked so the worker can recognise it).
 * @throws TierkitTypeError (`E_INVALID_ARGUMENT`) `defineTasks: tasks must be an object, got null` when `tasks`
 *   is not a plain object, `defineTasks: tasks.<name> must be a function, got 42` when one entry is not a
 *   function.
 * @example
 * ```ts
 * // tasks.ts (runs in the worker threads)
 * import { defineTasks } from '@tierkit/worker-pool/worker'
 *
 * export default defineTasks({
 *   sumSquares: (n: number) => {
 *     let total = 0
 *     for (let i = 0; i < n; i++) total += i * i
 *     return total
 *   },
 * })
 * ```
 */
export function defineTasks<T extends TaskMap>(tasks: T): T {
  checkObject('defineTasks', 'tasks', tasks)
  const copy: Record<string, Task> = {}
  for (const name of Object.keys(tasks)) {
    const fn = tasks[name]
    checkFunction('defineTasks', `tasks.${name}`, fn)
    copy[name] = fn as Task
  }
  Object.defineProperty(copy, TASKS, { value: true, enumerable: false })
  return Object.freeze(copy) as T
}
