// Type-level tests of every public signature, next to runtime calls proving the runtime returns what the types
// say. `pnpm typecheck` (tsc -p tsconfig.test.json) fails if an inference changes or an `@ts-expect-error` line
// stops being an error. The type assertions sit in a function that is never called (a call would start real
// tasks); the runtime tests below make the same calls for real.
import {
  type AbortedError,
  ClosedError,
  type CloseOptions as ContractsCloseOptions,
  TierkitTypeError,
} from '@tierkit/contracts'
import { afterAll, describe, expect, expectTypeOf, test } from 'vitest'
import {
  type CloseOptions,
  type CloseTimeoutError,
  createPool,
  errors,
  type MapLimitFn,
  type MapLimitOptions,
  mapLimit,
  type Percentiles,
  type PoolDestroyedError,
  type PoolEvent,
  type PoolMapOptions,
  type PoolOptions,
  type PoolStats,
  QueueFullError,
  type RunOptions,
  type SettleMode,
  type Task,
  TaskAbortedError,
  type TaskArg,
  type TaskArgs,
  type TaskHandle,
  type TaskMap,
  type TaskName,
  type TaskResult,
  type TasksLoadError,
  type TasksLoader,
  type TaskTimeoutError,
  type UnknownTaskError,
  type WorkerCrashedError,
  type WorkerPool,
  WorkerPoolError,
  type WorkerPoolErrorCode,
} from '../src/index.js'
import { defineTasks } from '../src/worker.js'
import { rejection, TASKS_JS, type Tasks, thrown } from './helpers.js'

const events: PoolEvent[] = []
const pool = createPool<Tasks>({
  tasks: TASKS_JS,
  minThreads: 1,
  maxThreads: 1,
  onEvent: (event) => events.push(event),
})
afterAll(() => pool.destroy())

const set = defineTasks({ double: (n: number) => n * 2, hello: () => 'hi' as const })

export function typeOnly(): void {
  // defineTasks keeps the exact functions
  expectTypeOf(defineTasks<{ a: (n: number) => string }>).returns.toEqualTypeOf<{
    a: (n: number) => string
  }>()
  expectTypeOf(set.double).toEqualTypeOf<(n: number) => number>()
  expectTypeOf<TaskName<typeof set>>().toEqualTypeOf<'double' | 'hello'>()
  expectTypeOf<TaskArg<typeof set.double>>().toEqualTypeOf<number>()
  expectTypeOf<TaskArg<typeof set.hello>>().toEqualTypeOf<undefined>()
  expectTypeOf<TaskArgs<typeof set.double, RunOptions>>().toEqualTypeOf<[arg: number, options?: RunOptions]>()
  expectTypeOf<TaskArgs<typeof set.hello, RunOptions>>().toEqualTypeOf<
    [arg?: undefined, options?: RunOptions]
  >()
  expectTypeOf<TaskResult<typeof set.hello>>().toEqualTypeOf<'hi'>()
  expectTypeOf<TaskResult<() => Promise<number>>>().toEqualTypeOf<number>()
  expectTypeOf<Task>().toEqualTypeOf<(arg: never) => unknown>()
  expectTypeOf<TaskMap>().toEqualTypeOf<Record<string, Task>>()
  // @ts-expect-error a task takes at most one argument
  defineTasks({ two: (a: number, b: number) => a + b })
  // @ts-expect-error tasks must be functions
  defineTasks({ notAFunction: 42 })

  // createPool and the pool's members
  expectTypeOf(createPool<Tasks>)
    .parameter(0)
    .toEqualTypeOf<PoolOptions>()
  expectTypeOf(createPool<Tasks>).returns.toEqualTypeOf<WorkerPool<Tasks>>()
  expectTypeOf(pool).toEqualTypeOf<WorkerPool<Tasks>>()
  expectTypeOf(pool.tasksUrl).toEqualTypeOf<string>()
  expectTypeOf(pool.loader).toEqualTypeOf<'native' | 'tsx'>()
  expectTypeOf(pool.closed).toEqualTypeOf<boolean>()
  expectTypeOf(pool.close).toEqualTypeOf<(options?: CloseOptions) => Promise<void>>()
  expectTypeOf<CloseOptions>().toEqualTypeOf<ContractsCloseOptions>()
  expectTypeOf(pool.destroy).toEqualTypeOf<() => Promise<void>>()
  expectTypeOf(pool.stats).toEqualTypeOf<() => PoolStats>()
  // @ts-expect-error close takes an options object, not a number of ms
  pool.close(1000)
  // @ts-expect-error no EventEmitter: events go to the onEvent option
  pool.on('drain', () => {})

  // options: durations in ms without a unit in their names, events through onEvent
  expectTypeOf<PoolOptions['tasks']>().toEqualTypeOf<URL | string>()
  expectTypeOf<PoolOptions['idleTimeout']>().toEqualTypeOf<number | undefined>()
  expectTypeOf<PoolOptions['taskTimeout']>().toEqualTypeOf<number | undefined>()
  expectTypeOf<PoolOptions['loader']>().toEqualTypeOf<TasksLoader | undefined>()
  expectTypeOf<TasksLoader>().toEqualTypeOf<'auto' | 'native' | 'tsx'>()
  expectTypeOf<PoolOptions['onEvent']>().toEqualTypeOf<((event: PoolEvent) => void) | undefined>()
  expectTypeOf<PoolEvent>().toEqualTypeOf<
    { readonly type: 'drain' } | { readonly type: 'crash'; readonly error: WorkerCrashedError }
  >()
  expectTypeOf<RunOptions>().toEqualTypeOf<{
    signal?: AbortSignal | undefined
    timeout?: number | undefined
    transfer?: readonly import('node:worker_threads').TransferListItem[] | undefined
  }>()
  expectTypeOf<PoolMapOptions>().toEqualTypeOf<{
    signal?: AbortSignal | undefined
    timeout?: number | undefined
  }>()

  // stats: durations named without a unit
  expectTypeOf<PoolStats['busyTime']>().toEqualTypeOf<number>()
  expectTypeOf<PoolStats['uptime']>().toEqualTypeOf<number>()
  expectTypeOf<PoolStats['createdAt']>().toEqualTypeOf<number>()
  expectTypeOf<PoolStats['waitTime']>().toEqualTypeOf<Percentiles>()
  expectTypeOf<keyof PoolStats>().toEqualTypeOf<
    | 'threads'
    | 'queued'
    | 'running'
    | 'waiting'
    | 'completed'
    | 'failed'
    | 'crashes'
    | 'utilization'
    | 'busyTime'
    | 'createdAt'
    | 'uptime'
    | 'maxThreads'
    | 'waitTime'
    | 'runTime'
  >()
  expectTypeOf<keyof Percentiles>().toEqualTypeOf<'count' | 'p50' | 'p90' | 'p99' | 'max' | 'mean'>()

  // run / submit / map infer the argument and the result from the task set
  expectTypeOf(pool.run('add', { a: 1, b: 2 })).toEqualTypeOf<Promise<number>>()
  expectTypeOf(pool.run('asyncDouble', 1)).toEqualTypeOf<Promise<number>>() // Awaited
  expectTypeOf(pool.run('ping')).toEqualTypeOf<Promise<string>>() // no argument needed
  expectTypeOf(pool.run('ping', undefined, { timeout: 10 })).toEqualTypeOf<Promise<string>>()
  expectTypeOf(pool.submit('sumSquares', 3)).toEqualTypeOf<Promise<TaskHandle<number>>>()
  expectTypeOf<TaskHandle<number>>().toEqualTypeOf<{ readonly result: Promise<number> }>()
  expectTypeOf(pool.map('sumSquares', [1, 2])).toEqualTypeOf<Promise<number[]>>()
  expectTypeOf(pool.map('sumSquares', [1, 2], { signal: AbortSignal.timeout(1) })).toEqualTypeOf<
    Promise<number[]>
  >()
  // @ts-expect-error wrong argument type
  pool.run('add', { a: 1, b: '2' })
  // @ts-expect-error missing argument
  pool.run('add')
  // @ts-expect-error unknown task name
  pool.run('nope', 1)
  // @ts-expect-error unknown option
  pool.run('sumSquares', 1, { retries: 3 })
  // @ts-expect-error wrong argument type for submit
  pool.submit('sumSquares', 'three')
  // @ts-expect-error items must match the task's argument
  pool.map('sumSquares', ['1'])

  // mapLimit: fail-fast resolves to the results, settle: 'all' to settled results; { signal } like every wait
  expectTypeOf(mapLimit([1, 2], 2, async (n) => String(n))).toEqualTypeOf<Promise<string[]>>()
  expectTypeOf(mapLimit([1, 2], 2, (n) => n, { signal: AbortSignal.timeout(1) })).toEqualTypeOf<
    Promise<number[]>
  >()
  expectTypeOf(
    mapLimit(
      [1, 2],
      2,
      (n, i, signal) => {
        expectTypeOf(i).toEqualTypeOf<number>()
        expectTypeOf(signal).toEqualTypeOf<AbortSignal>()
        return n > 1
      },
      { settle: 'all' },
    ),
  ).toEqualTypeOf<Promise<PromiseSettledResult<boolean>[]>>()
  expectTypeOf<MapLimitFn<string, number>>().toEqualTypeOf<
    (item: string, index: number, signal: AbortSignal) => number | PromiseLike<number>
  >()
  expectTypeOf<MapLimitOptions>().toEqualTypeOf<{
    signal?: AbortSignal | undefined
    settle?: SettleMode | undefined
  }>()
  expectTypeOf<SettleMode>().toEqualTypeOf<'fail-fast' | 'all'>()
  // @ts-expect-error unknown settle mode
  mapLimit([1], 1, (n) => n, { settle: 'some' })

  // errors: one code union, an errors map with exactly its codes, typed codes per class
  expectTypeOf<keyof typeof errors>().toEqualTypeOf<WorkerPoolErrorCode>()
  expectTypeOf(errors.E_CLOSED).toEqualTypeOf<typeof ClosedError>()
  expectTypeOf(errors.E_ABORTED).toEqualTypeOf<typeof AbortedError>()
  expectTypeOf(errors.E_INVALID_ARGUMENT).toEqualTypeOf<typeof TierkitTypeError>()
  expectTypeOf(errors.E_QUEUE_FULL).toEqualTypeOf<typeof QueueFullError>()
  expectTypeOf<QueueFullError['code']>().toEqualTypeOf<'E_QUEUE_FULL'>()
  expectTypeOf<TaskTimeoutError['code']>().toEqualTypeOf<'E_TASK_TIMEOUT'>()
  expectTypeOf<WorkerCrashedError['code']>().toEqualTypeOf<'E_WORKER_CRASHED'>()
  expectTypeOf<PoolDestroyedError['code']>().toEqualTypeOf<'E_POOL_DESTROYED'>()
  expectTypeOf<CloseTimeoutError['code']>().toEqualTypeOf<'E_CLOSE_TIMEOUT'>()
  expectTypeOf<UnknownTaskError['code']>().toEqualTypeOf<'E_UNKNOWN_TASK'>()
  expectTypeOf<TasksLoadError['code']>().toEqualTypeOf<'E_TASKS_LOAD_FAILED'>()
  expectTypeOf<TaskAbortedError['code']>().toEqualTypeOf<'E_ABORTED'>()
  expectTypeOf<TaskAbortedError>().toExtend<AbortedError>()
  expectTypeOf<WorkerPoolError['code']>().toEqualTypeOf<
    Exclude<WorkerPoolErrorCode, 'E_ABORTED' | 'E_CLOSED' | 'E_INVALID_ARGUMENT'>
  >()
  expectTypeOf<WorkerPoolError['task']>().toEqualTypeOf<string | undefined>()
  expectTypeOf<TaskAbortedError['task']>().toEqualTypeOf<string>()
  expectTypeOf<TaskAbortedError['started']>().toEqualTypeOf<boolean>()
}

describe('the calls typed above run as typed', () => {
  test('defineTasks', () => {
    expect(set.double(2)).toBe(4)
    expect(Object.isFrozen(set)).toBe(true)
    const notAFunction = thrown(() => defineTasks({ notAFunction: 42 } as never))
    expect(notAFunction).toBeInstanceOf(TierkitTypeError)
    expect((notAFunction as TierkitTypeError).message).toBe(
      'defineTasks: tasks.notAFunction must be a function, got 42',
    )
    const notAnObject = thrown(() => defineTasks(null as never))
    expect(notAnObject).toBeInstanceOf(TierkitTypeError)
    expect((notAnObject as TierkitTypeError).message).toBe('defineTasks: tasks must be an object, got null')
  })

  test('run, submit, map, stats', async () => {
    expect(pool.loader).toBe('native')
    expect(pool.tasksUrl).toMatch(/^file:.*\/tasks\.js$/)
    expect(pool.closed).toBe(false)
    expect(await pool.run('add', { a: 1, b: 2 })).toBe(3)
    expect(await pool.run('asyncDouble', 1)).toBe(2)
    expect(await pool.run('ping')).toBe('pong')
    expect(await pool.run('ping', undefined, { timeout: 10_000 })).toBe('pong')
    const handle = await pool.submit('sumSquares', 3)
    expect(Object.keys(handle)).toEqual(['result'])
    expect(await handle.result).toBe(5)
    expect(await pool.map('sumSquares', [1, 2, 3])).toEqual([0, 1, 5])
    expect(await pool.map('sumSquares', [1, 2], { signal: AbortSignal.timeout(60_000) })).toEqual([0, 1])
    const stats = pool.stats()
    expect(Object.keys(stats).sort()).toEqual(
      [
        'threads',
        'queued',
        'running',
        'waiting',
        'completed',
        'failed',
        'crashes',
        'utilization',
        'busyTime',
        'createdAt',
        'uptime',
        'maxThreads',
        'waitTime',
        'runTime',
      ].sort(),
    )
    expect(Object.keys(stats.waitTime).sort()).toEqual(['count', 'max', 'mean', 'p50', 'p90', 'p99'])
    expect(Object.values(stats).every((v) => typeof v === 'number' || typeof v === 'object')).toBe(true)
  })

  test('onEvent receives { type } objects: a map through one thread queues, then drains', () => {
    // the map above queued items behind the one thread, so the queue drained at least once
    expect(events.length).toBeGreaterThan(0)
    expect(events.every((event) => event.type === 'drain' && Object.keys(event).length === 1)).toBe(true)
  })

  test('mapLimit', async () => {
    expect(await mapLimit([1, 2], 2, async (n) => String(n))).toEqual(['1', '2'])
    expect(await mapLimit([1, 2], 2, (n) => n, { signal: AbortSignal.timeout(60_000) })).toEqual([1, 2])
    expect(await mapLimit([1, 2], 2, (n) => n > 1, { settle: 'all' })).toEqual([
      { status: 'fulfilled', value: false },
      { status: 'fulfilled', value: true },
    ])
  })

  test('errors: the map holds each code’s class, each class has its code', async () => {
    expect(new errors.E_QUEUE_FULL('t', 1).code).toBe('E_QUEUE_FULL')
    expect(new QueueFullError('t', 1)).toBeInstanceOf(WorkerPoolError)
    expect(new TaskAbortedError('t', undefined)).toBeInstanceOf(errors.E_ABORTED)
    const err = await rejection(pool.run('ping', undefined, { signal: AbortSignal.abort() }))
    expect(err).toBeInstanceOf(TaskAbortedError)
  })

  test('the public entries export the public API only', async () => {
    expect(Object.keys(await import('../src/index.js')).sort()).toEqual([
      'CloseTimeoutError',
      'PoolDestroyedError',
      'QueueFullError',
      'TaskAbortedError',
      'TaskTimeoutError',
      'TasksLoadError',
      'UnknownTaskError',
      'WorkerCrashedError',
      'WorkerPool',
      'WorkerPoolError',
      'createPool',
      'errors',
      'mapLimit',
    ])
    expect(Object.keys(await import('../src/worker.js'))).toEqual(['defineTasks'])
  })

  test('close(options?) resolves to undefined; after it, calls reject with ClosedError', async () => {
    const other = createPool<Tasks>({ tasks: TASKS_JS, minThreads: 0, maxThreads: 1 })
    expect(await other.close({ timeout: 1_000 })).toBeUndefined()
    expect(await other.destroy()).toBeUndefined()
    expect(other.closed).toBe(true)
    expect(await rejection(other.run('ping'))).toBeInstanceOf(ClosedError)
  })
})
