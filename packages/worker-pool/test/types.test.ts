// Type-level tests. `pnpm typecheck` (tsc -p tsconfig.test.json) fails if an inference changes or an
// `@ts-expect-error` line stops being an error. The type assertions sit in functions that are never called (a
// call would start real tasks); the runtime tests below make the same calls for real.
import { afterAll, describe, expect, expectTypeOf, test } from 'vitest'
import {
  createPool,
  mapLimit,
  type PoolStats,
  type TaskArg,
  type TaskHandle,
  type TaskName,
  type TaskResult,
  type WorkerPool,
} from '../src/index.js'
import { defineTasks } from '../src/worker.js'
import { TASKS_JS, type Tasks } from './helpers.js'

const pool = createPool<Tasks>({ tasks: TASKS_JS, minThreads: 1, maxThreads: 1 })
afterAll(() => pool.destroy())

const set = defineTasks({ double: (n: number) => n * 2, hello: () => 'hi' as const })

export function typeOnly(): void {
  // defineTasks keeps the exact functions
  expectTypeOf(set.double).toEqualTypeOf<(n: number) => number>()
  expectTypeOf<TaskName<typeof set>>().toEqualTypeOf<'double' | 'hello'>()
  expectTypeOf<TaskArg<typeof set.double>>().toEqualTypeOf<number>()
  expectTypeOf<TaskResult<typeof set.hello>>().toEqualTypeOf<'hi'>()
  // @ts-expect-error a task takes at most one argument
  defineTasks({ two: (a: number, b: number) => a + b })
  // @ts-expect-error tasks must be functions
  defineTasks({ notAFunction: 42 })

  // run / submit / map infer the argument and the result from the task set
  expectTypeOf(pool.run('add', { a: 1, b: 2 })).toEqualTypeOf<Promise<number>>()
  expectTypeOf(pool.run('asyncDouble', 1)).toEqualTypeOf<Promise<number>>() // Awaited
  expectTypeOf(pool.run('ping')).toEqualTypeOf<Promise<string>>() // no argument needed
  expectTypeOf(pool.run('ping', undefined, { timeout: 10 })).toEqualTypeOf<Promise<string>>()
  expectTypeOf(pool.submit('sumSquares', 3)).toEqualTypeOf<Promise<TaskHandle<number>>>()
  expectTypeOf(pool.map('sumSquares', [1, 2])).toEqualTypeOf<Promise<number[]>>()
  expectTypeOf(pool.stats()).toEqualTypeOf<PoolStats>()
  expectTypeOf(pool).toEqualTypeOf<WorkerPool<Tasks>>()
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

  // mapLimit: fail-fast resolves to the results, settle: 'all' to settled results
  expectTypeOf(mapLimit([1, 2], 2, async (n) => String(n))).toEqualTypeOf<Promise<string[]>>()
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
  // @ts-expect-error unknown settle mode
  mapLimit([1], 1, (n) => n, { settle: 'some' })
}

describe('the calls typed above run as typed', () => {
  test('defineTasks', () => {
    expect(set.double(2)).toBe(4)
    expect(() => defineTasks({ notAFunction: 42 } as never)).toThrow(
      new TypeError('defineTasks: task "notAFunction" is not a function'),
    )
    expect(() => defineTasks(null as never)).toThrow(
      new TypeError('defineTasks: expected an object of task functions'),
    )
  })

  test('run, submit, map', async () => {
    expect(await pool.run('add', { a: 1, b: 2 })).toBe(3)
    expect(await pool.run('asyncDouble', 1)).toBe(2)
    expect(await pool.run('ping')).toBe('pong')
    expect(await pool.run('ping', undefined, { timeout: 10_000 })).toBe('pong')
    expect(await (await pool.submit('sumSquares', 3)).result).toBe(5)
    expect(await pool.map('sumSquares', [1, 2, 3])).toEqual([0, 1, 5])
  })

  test('mapLimit', async () => {
    expect(await mapLimit([1, 2], 2, async (n) => String(n))).toEqual(['1', '2'])
    expect(await mapLimit([1, 2], 2, (n) => n > 1, { settle: 'all' })).toEqual([
      { status: 'fulfilled', value: false },
      { status: 'fulfilled', value: true },
    ])
  })
})
