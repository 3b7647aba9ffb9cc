import { setImmediate } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { AbortedError, ClosedError, describeValue, TierkitError, TierkitTypeError } from '@tierkit/contracts'
import { afterEach, describe, expect, test, vi } from 'vitest'
import {
  CloseTimeoutError,
  createPool,
  errors,
  PoolDestroyedError,
  type PoolEvent,
  QueueFullError,
  TaskAbortedError,
  TasksLoadError,
  TaskTimeoutError,
  UnknownTaskError,
  WorkerCrashedError,
  type WorkerPool,
  WorkerPoolError,
} from '../src/index.js'
import { expectNoProcessErrors, Gate, rejection, TASKS_JS, type Tasks, thrown } from './helpers.js'

expectNoProcessErrors()

const pools: WorkerPool<never>[] = []
function pool(options: Partial<Parameters<typeof createPool>[0]> = {}): WorkerPool<Tasks> {
  const p = createPool<Tasks>({ tasks: TASKS_JS, minThreads: 1, maxThreads: 1, ...options })
  pools.push(p as unknown as WorkerPool<never>)
  return p
}
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.destroy()))
})

describe('run', () => {
  test('runs tasks on a thread and returns their results', async () => {
    const p = pool({ maxThreads: 2 })
    expect(p.loader).toBe('native')
    expect(await p.run('add', { a: 2, b: 3 })).toBe(5)
    expect(await p.run('ping')).toBe('pong')
    expect(await p.run('asyncDouble', 21)).toBe(42)
    expect(await p.run('sumSquares', 10)).toBe(285)
    const { threadId } = await import('node:worker_threads')
    expect(await p.run('threadId')).not.toBe(threadId)
  })

  test('map keeps the input order, like Pool.map', async () => {
    const p = pool({ maxThreads: 2 })
    const inputs = [5, 1, 4, 2, 3, 0, 7]
    const expected = inputs.map((n) => (n * (n - 1) * (2 * n - 1)) / 6)
    expect(await p.map('sumSquares', inputs)).toEqual(expected)
    expect(await p.map('sumSquares', [])).toEqual([])
  })

  test('transfers what `transfer` lists instead of copying it', async () => {
    const p = pool()
    const buffer = new ArrayBuffer(64)
    expect(await p.run('byteLength', buffer, { transfer: [buffer] })).toBe(64)
    expect(buffer.byteLength).toBe(0)
    const copied = new ArrayBuffer(32)
    expect(await p.run('byteLength', copied)).toBe(32)
    expect(copied.byteLength).toBe(32)
  })
})

describe('errors thrown by tasks', () => {
  test('keep name, message, stack, cause and own properties', async () => {
    const p = pool()
    const err = await rejection(p.run('throwValidation', 'email'))
    expect(err).toBeInstanceOf(Error)
    expect(err.name).toBe('ValidationError')
    expect(err.message).toBe('bad email')
    expect(err.field).toBe('email')
    expect(err.stack).toContain('bad email')
    expect(err.stack).toContain('tasks.js')
    const cause = err.cause as Error
    expect(cause).toBeInstanceOf(RangeError)
    expect(cause.message).toBe('out of range')
    expect(cause.cause).toBe('root')

    const typed = await rejection(p.run('rejectTypeError', 'async failure'))
    expect(typed).toBeInstanceOf(TypeError)
    expect(typed.message).toBe('async failure')
    expect(typed.code).toBe('E_CUSTOM')
    expect(typed.details).toEqual({ at: 42 })
  })

  test('non-Error values and AggregateError cross intact', async () => {
    const p = pool()
    await expect(p.run('throwString')).rejects.toBe('plain string')
    const agg = (await rejection(p.run('throwAggregate'))) as unknown as AggregateError
    expect(agg).toBeInstanceOf(AggregateError)
    expect(agg.message).toBe('many')
    expect(agg.errors.map((e: Error) => [e.name, e.message])).toEqual([
      ['Error', 'first'],
      ['TypeError', 'second'],
    ])
  })

  test('a failing task leaves the thread in service', async () => {
    const p = pool()
    const before = await p.run('threadId')
    await rejection(p.run('throwValidation', 'x'))
    expect(await p.run('threadId')).toBe(before)
    expect(p.stats()).toMatchObject({ threads: 1, completed: 2, failed: 1, crashes: 0 })
  })

  test('an unknown task name rejects with E_UNKNOWN_TASK', async () => {
    const p = pool()
    const err = await rejection(p.run('nope' as 'ping'))
    expect(err).toBeInstanceOf(UnknownTaskError)
    expect(err.code).toBe('E_UNKNOWN_TASK')
    expect((err as unknown as UnknownTaskError).known).toContain('ping')
    expect(await p.run('ping')).toBe('pong')
  })
})

describe('tasks module that cannot load', () => {
  test('a module that throws while loading rejects tasks with E_TASKS_LOAD_FAILED and its cause', async () => {
    const p = pool({ tasks: new URL('./fixtures/broken/throws-on-load.mjs', import.meta.url) })
    const err = await rejection(p.run('ping'))
    expect(err).toBeInstanceOf(TasksLoadError)
    expect(err.code).toBe('E_TASKS_LOAD_FAILED')
    expect((err.cause as Error).name).toBe('SyntaxError')
    expect((err.cause as Error).message).toBe('broken on purpose')
    expect(p.stats().crashes).toBe(0)
  })

  test('a module without defineTasks() is refused', async () => {
    const p = pool({ tasks: new URL('./fixtures/broken/not-a-task-set.mjs', import.meta.url) })
    const err = await rejection(p.run('ping'))
    expect(err.code).toBe('E_TASKS_LOAD_FAILED')
    expect((err.cause as Error).message).toBe('the tasks module must `export default defineTasks({ ... })`')
  })

  test('a module whose thread exits while loading rejects instead of hanging, and reports a crash', async () => {
    const crashes: WorkerCrashedError[] = []
    const p = pool({
      tasks: new URL('./fixtures/broken/exits-on-load.mjs', import.meta.url),
      onEvent: (event) => {
        if (event.type === 'crash') crashes.push(event.error)
      },
    })
    const first = await rejection(p.run('ping'))
    expect(first.code).toBe('E_WORKER_CRASHED')
    const second = await rejection(p.run('ping'))
    expect(second.code).toBe('E_WORKER_CRASHED')
    expect(crashes.length).toBeGreaterThan(0)
    expect(crashes.every((err) => err instanceof WorkerCrashedError)).toBe(true)
  })
})

describe('tasks module that cannot load: crash listeners', () => {
  test('a crash listener that aborts pending work cannot trip tinypool into an uncaught error', async () => {
    const ac = new AbortController()
    const p = pool({
      tasks: new URL('./fixtures/broken/exits-on-load.mjs', import.meta.url),
      maxThreads: 2,
      onEvent: (event) => {
        if (event.type === 'crash') ac.abort()
      },
    })
    const outcomes = await Promise.allSettled([
      p.run('ping', undefined, { signal: ac.signal }),
      p.run('ping', undefined, { signal: ac.signal }),
      p.run('ping', undefined, { signal: ac.signal }),
    ])
    for (const outcome of outcomes) {
      expect(outcome.status).toBe('rejected')
      expect(['E_WORKER_CRASHED', 'E_ABORTED']).toContain((outcome as PromiseRejectedResult).reason.code)
    }
    expect(p.stats()).toMatchObject({ running: 0, queued: 0 })
  })

  test('an onEvent listener that throws is ignored: the pool carries on and nothing reaches the process', async () => {
    const seen: PoolEvent['type'][] = []
    const p = pool({
      tasks: new URL('./fixtures/broken/exits-on-load.mjs', import.meta.url),
      onEvent: (event) => {
        seen.push(event.type)
        throw new Error('listener failed')
      },
    })
    expect((await rejection(p.run('ping'))).code).toBe('E_WORKER_CRASHED')
    expect((await rejection(p.run('ping'))).code).toBe('E_WORKER_CRASHED')
    expect(seen).toContain('crash')
    expect(p.stats()).toMatchObject({ running: 0, queued: 0 })
  })
})

describe('crashed threads', () => {
  test('process.exit() in a task rejects with E_WORKER_CRASHED and the thread is replaced', async () => {
    const p = pool()
    const before = await p.run('threadId')
    const err = await rejection(p.run('exit', 3))
    expect(err).toBeInstanceOf(WorkerCrashedError)
    expect(err.code).toBe('E_WORKER_CRASHED')
    expect(err.exitCode).toBe(3)
    expect(err.task).toBe('exit')
    const after = await p.run('threadId')
    expect(after).not.toBe(before)
    expect(p.stats()).toMatchObject({ threads: 1, crashes: 1, running: 0, queued: 0 })
  })

  test('exceeding resourceLimits rejects with E_WORKER_CRASHED (cause ERR_WORKER_OUT_OF_MEMORY)', async () => {
    const p = pool({ resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 } })
    const err = await rejection(p.run('oom'))
    expect(err.code).toBe('E_WORKER_CRASHED')
    expect((err.cause as { code?: string }).code).toBe('ERR_WORKER_OUT_OF_MEMORY')
    expect(await p.run('add', { a: 1, b: 1 })).toBe(2)
    expect(p.stats()).toMatchObject({ threads: 1, crashes: 1 })
  })

  test('an error thrown outside the task promise (uncaught on the thread) is a crash too', async () => {
    const p = pool()
    const err = await rejection(p.run('throwLater'))
    expect(err.code).toBe('E_WORKER_CRASHED')
    expect((err.cause as Error).message).toBe('thrown from a timer')
    expect(await p.run('ping')).toBe('pong')
  })

  test('a result that cannot be cloned crashes the thread; the pool carries on', async () => {
    const p = pool()
    const err = await rejection(p.run('returnFunction'))
    expect(err.code).toBe('E_WORKER_CRASHED')
    expect(await p.run('ping')).toBe('pong')
  })

  test('an argument that cannot be cloned rejects with DataCloneError and never reaches a thread', async () => {
    const p = pool()
    const err = await rejection(p.run('echo', { fn: () => 1 }))
    expect(err.name).toBe('DataCloneError')
    expect(p.stats()).toMatchObject({ running: 0, queued: 0, crashes: 0 })
    expect(await p.run('echo', 'fine')).toBe('fine')
  })
})

describe('cancellation', () => {
  test('aborting a queued task removes it: it never runs', async () => {
    const p = pool()
    const gate = new Gate()
    const counter = new Int32Array(new SharedArrayBuffer(4))
    const blocker = p.run('gate', gate.view)
    await gate.started()
    const ac = new AbortController()
    const queued = p.run('mark', counter, { signal: ac.signal })
    expect(p.stats().queued).toBe(1)
    ac.abort(new Error('changed my mind'))
    const err = await rejection(queued)
    expect(err).toBeInstanceOf(TaskAbortedError)
    expect(err).toBeInstanceOf(AbortedError)
    expect(err).toBeInstanceOf(errors.E_ABORTED)
    expect(err.name).toBe('AbortError')
    expect(err.code).toBe('E_ABORTED')
    expect(err.task).toBe('mark')
    expect(err.started).toBe(false)
    expect(err.message).toBe('task "mark" was aborted by its signal (before it ran)')
    expect((err.cause as Error).message).toBe('changed my mind')
    expect(p.stats().queued).toBe(0)
    gate.open()
    expect(await blocker).toBe(1)
    expect(await p.run('mark', counter)).toBe(1) // the aborted one never incremented it
  })

  test('aborting a running task ends its thread, which is replaced', async () => {
    const p = pool()
    const before = await p.run('threadId')
    const gate = new Gate()
    const ac = new AbortController()
    const running = p.run('gate', gate.view, { signal: ac.signal })
    await gate.started()
    ac.abort()
    const err = await rejection(running)
    expect(err.code).toBe('E_ABORTED')
    expect(err.started).toBe(true)
    expect(err.message).toBe('task "gate" was aborted by its signal (while running; its thread was replaced)')
    const after = await p.run('threadId')
    expect(after).not.toBe(before)
    expect(p.stats()).toMatchObject({ threads: 1, running: 0, crashes: 0 })
  })

  test('an already aborted signal rejects at once', async () => {
    const p = pool()
    const err = await rejection(p.run('ping', undefined, { signal: AbortSignal.abort('early') }))
    expect(err.code).toBe('E_ABORTED')
    expect(err.cause).toBe('early')
    expect(p.stats()).toMatchObject({ completed: 0, failed: 0, queued: 0, running: 0 })
  })

  test('one signal shared by many tasks cancels them all, with a single listener', async () => {
    const p = pool()
    const gate = new Gate()
    const ac = new AbortController()
    const tasks: Promise<unknown>[] = [p.run('gate', gate.view, { signal: ac.signal })]
    await gate.started()
    for (let i = 0; i < 20; i++) tasks.push(p.run('echo', i, { signal: ac.signal }))
    ac.abort()
    const results = await Promise.allSettled(tasks)
    expect(results.every((r) => r.status === 'rejected' && r.reason.code === 'E_ABORTED')).toBe(true)
    expect(await p.run('ping')).toBe('pong')
  })

  test('map({ signal }) rejects with AbortedError at once and cancels its items: none of them runs', async () => {
    const p = pool()
    const gate = new Gate()
    const counter = new Int32Array(new SharedArrayBuffer(4))
    const blocker = p.run('gate', gate.view)
    await gate.started()
    const ac = new AbortController()
    const mapped = p.map('mark', [counter, counter, counter], { signal: ac.signal })
    expect(p.stats().queued).toBe(3)
    ac.abort('gone')
    const err = await rejection(mapped)
    expect(err).toBeInstanceOf(AbortedError)
    expect(err.code).toBe('E_ABORTED')
    expect(err.message).toBe('WorkerPool.map was aborted by its signal')
    expect(err.cause).toBe('gone')
    expect(p.stats().queued).toBe(0)
    gate.open()
    expect(await blocker).toBe(1)
    expect(await p.run('mark', counter)).toBe(1) // none of the mapped items incremented it
  })

  test('timeout cancels a running task with E_TASK_TIMEOUT and replaces its thread', async () => {
    const p = pool()
    const err = await rejection(p.run('hang', undefined, { timeout: 50 }))
    expect(err).toBeInstanceOf(TaskTimeoutError)
    expect(err.code).toBe('E_TASK_TIMEOUT')
    expect(err.started).toBe(true)
    expect(err.timeout).toBe(50)
    expect(await p.run('ping')).toBe('pong')
    expect(p.stats().threads).toBe(1)
  })

  test('timeout cancels a queued task, which never runs; taskTimeout is the default', async () => {
    const p = pool({ taskTimeout: 40 })
    const gate = new Gate()
    const counter = new Int32Array(new SharedArrayBuffer(4))
    const blocker = p.run('gate', gate.view, { timeout: Number.POSITIVE_INFINITY })
    await gate.started()
    const err = await rejection(p.run('mark', counter))
    expect(err.code).toBe('E_TASK_TIMEOUT')
    expect(err.started).toBe(false)
    gate.open()
    expect(await blocker).toBe(1)
    expect(await p.run('mark', counter)).toBe(1)
  })
})

describe('queue and backpressure', () => {
  test('a full queue rejects run() with E_QUEUE_FULL; state stays intact; drain tells when to go on', async () => {
    let onDrain = (): void => {}
    const drained = new Promise<void>((resolve) => {
      onDrain = resolve
    })
    const p = pool({
      maxQueue: 2,
      onEvent: (event) => {
        if (event.type === 'drain') onDrain()
      },
    })
    const gate = new Gate()
    const blocker = p.run('gate', gate.view)
    await gate.started()
    const queued = [p.run('echo', 1), p.run('echo', 2)]
    const err = await rejection(p.run('echo', 3))
    expect(err).toBeInstanceOf(QueueFullError)
    expect(err.code).toBe('E_QUEUE_FULL')
    expect(err.maxQueue).toBe(2)
    expect(p.stats()).toMatchObject({ queued: 2, running: 1 })
    gate.open()
    await drained
    expect(await Promise.all([blocker, ...queued])).toEqual([1, 1, 2])
    expect(await p.run('echo', 3)).toBe(3)
  })

  test('submit() waits for room instead of rejecting, in order, and never overfills the queue', async () => {
    const p = pool({ maxQueue: 1 })
    const gate = new Gate()
    const blocker = p.run('gate', gate.view)
    await gate.started()
    const first = await p.submit('echo', 'a') // fits in the queue
    const accepted: string[] = []
    const waiting = ['b', 'c', 'd'].map((v) =>
      p.submit('echo', v).then((handle) => {
        accepted.push(v)
        expect(p.stats().queued).toBeLessThanOrEqual(1)
        return handle.result
      }),
    )
    await setImmediate()
    expect(accepted).toEqual([])
    expect(p.stats()).toMatchObject({ queued: 1, waiting: 3, running: 1 })
    gate.open()
    expect(await Promise.all([blocker, first.result, ...waiting])).toEqual([1, 'a', 'b', 'c', 'd'])
    expect(accepted).toEqual(['b', 'c', 'd'])
    expect(p.stats()).toMatchObject({ queued: 0, waiting: 0 })
  })

  test('a waiting submit() can be aborted, and its signal then also cancels the task', async () => {
    const p = pool({ maxQueue: 0 })
    const gate = new Gate()
    const blocker = p.run('gate', gate.view)
    await gate.started()
    const ac = new AbortController()
    const waiting = p.submit('echo', 1, { signal: ac.signal })
    ac.abort()
    const err = await rejection(waiting)
    expect(err.code).toBe('E_ABORTED')
    expect(p.stats().waiting).toBe(0)
    gate.open()
    await blocker
  })

  test('map() goes through submit(): a small maxQueue never fails it', async () => {
    const p = pool({ maxThreads: 2, maxQueue: 1 })
    const inputs = Array.from({ length: 40 }, (_, i) => i)
    expect(await p.map('echo', inputs)).toEqual(inputs)
  })

  test('map() fails fast: it rejects with the first failure and cancels its other items', async () => {
    const p = pool()
    const counter = new Int32Array(new SharedArrayBuffer(4))
    // the items after the failing one hold their thread once they have counted: the spare that tinypool may start
    // as soon as the failing item is done then cannot finish, and free the thread for a third item, before the
    // map has seen the failure (without the hold, a fast thread sometimes did, about one run in ten)
    const hold = new Int32Array(new SharedArrayBuffer(4))
    const items = [true, ...Array.from({ length: 10 }, () => false)].map((fail) => ({
      view: counter,
      fail,
      hold,
    }))
    const err = await rejection(p.map('countThenMaybeFail', items))
    expect(err.message).toBe('item failed')
    await vi.waitFor(() => expect(p.stats()).toMatchObject({ running: 0, queued: 0 }), { timeout: 30_000 })
    // the failing item and at most the one already handed to the thread ran; the rest never did
    expect(Atomics.load(counter, 0)).toBeLessThanOrEqual(2)
    expect(p.stats()).toMatchObject({ completed: 0, failed: 11 })
    expect(await p.run('ping')).toBe('pong')
  })
})

describe('close and destroy', () => {
  test('close() stops taking work, finishes what is queued and running, then ends the threads', async () => {
    const p = pool({ maxQueue: 1 })
    const gate = new Gate()
    const events: string[] = []
    const running = p.run('gate', gate.view).then((v) => events.push(`gate ${v}`))
    await gate.started()
    const queued = p.run('echo', 'queued').then((v) => events.push(String(v)))
    const waiting = p.submit('echo', 'waiting')
    const closing = p.close().then(() => events.push('closed'))
    expect(p.closed).toBe(true)
    const refused = await rejection(p.run('ping'))
    expect(refused).toBeInstanceOf(ClosedError)
    expect(refused).toBeInstanceOf(errors.E_CLOSED)
    expect(refused.code).toBe('E_CLOSED')
    expect(refused.name).toBe('ClosedError')
    expect(refused.message).toBe('the worker pool of tasks.js is closed')
    expect((await rejection(waiting)).code).toBe('E_CLOSED')
    expect((await rejection(p.submit('ping'))).code).toBe('E_CLOSED')
    expect((await rejection(p.map('echo', [1]))).code).toBe('E_CLOSED')
    gate.open(9)
    await Promise.all([running, queued, closing])
    expect(events).toEqual(['gate 9', 'queued', 'closed'])
    expect(p.stats()).toMatchObject({ threads: 0, running: 0, queued: 0, completed: 2 })
    expect(p.close()).toBe(p.close())
    expect(p.close({ timeout: 5 })).toBe(p.close())
    expect(await p.close()).toBeUndefined()
  })

  test('close({ timeout }) cuts off tasks that do not finish with E_CLOSE_TIMEOUT', async () => {
    const p = pool()
    const gate = new Gate()
    const stuck = rejection(p.run('gate', gate.view))
    const queued = rejection(p.run('echo', 1))
    await gate.started()
    await p.close({ timeout: 50 })
    const err = await stuck
    expect(err).toBeInstanceOf(CloseTimeoutError)
    expect(err.code).toBe('E_CLOSE_TIMEOUT')
    expect(err.timeout).toBe(50)
    expect(err.message).toBe('task "gate" cut off: close() timed out after 50 ms')
    expect((await queued).code).toBe('E_CLOSE_TIMEOUT')
    expect(p.stats().threads).toBe(0)
  })

  test('close({ timeout: 0 }) cuts off at once what is pending', async () => {
    const p = pool()
    const gate = new Gate()
    const stuck = rejection(p.run('gate', gate.view))
    await gate.started()
    await p.close({ timeout: 0 })
    expect((await stuck).code).toBe('E_CLOSE_TIMEOUT')
    expect(p.stats()).toMatchObject({ threads: 0, running: 0 })
  })

  test('destroy() ends at once: queued and in-flight tasks reject with E_POOL_DESTROYED', async () => {
    const p = pool({ maxQueue: 1 })
    const gate = new Gate()
    const running = rejection(p.run('gate', gate.view))
    await gate.started()
    const queued = rejection(p.run('echo', 1))
    const waiting = rejection(p.submit('echo', 2))
    await p.destroy()
    for (const promise of [running, queued, waiting]) {
      const err = await promise
      expect(err).toBeInstanceOf(PoolDestroyedError)
      expect(err.code).toBe('E_POOL_DESTROYED')
    }
    // after destroy(), as after close(), calls are refused with ClosedError
    const refused = await rejection(p.run('ping'))
    expect(refused).toBeInstanceOf(ClosedError)
    expect(refused.code).toBe('E_CLOSED')
    expect(p.stats()).toMatchObject({ threads: 0, running: 0, queued: 0, waiting: 0 })
    expect(p.destroy()).toBe(p.destroy())
    // close() after destroy() resolves once the threads are gone, and is idempotent too
    expect(p.close()).toBe(p.close())
    expect(await p.close()).toBeUndefined()
  })

  test('destroy() during close() settles everything and resolves both', async () => {
    const p = pool()
    const gate = new Gate()
    const running = rejection(p.run('gate', gate.view))
    await gate.started()
    const closing = p.close()
    await p.destroy()
    await closing
    expect((await running).code).toBe('E_POOL_DESTROYED')
  })
})

describe('stats', () => {
  test('reports threads, counters, utilization and wait/run percentiles', async () => {
    const p = pool({ minThreads: 1, maxThreads: 2 })
    await p.map(
      'sumSquares',
      Array.from({ length: 20 }, () => 1000),
    )
    await rejection(p.run('throwString'))
    const stats = p.stats()
    expect(stats.completed).toBe(20)
    expect(stats.failed).toBe(1)
    expect(stats.threads).toBeGreaterThanOrEqual(1)
    expect(stats.threads).toBeLessThanOrEqual(2)
    expect(stats.utilization).toBeGreaterThan(0)
    expect(stats.utilization).toBeLessThanOrEqual(1)
    for (const t of [stats.waitTime, stats.runTime]) {
      expect(t.count).toBe(21)
      expect(t.p50).toBeLessThanOrEqual(t.p90)
      expect(t.p90).toBeLessThanOrEqual(t.p99)
      expect(t.p99).toBeLessThanOrEqual(t.max)
    }
    expect(stats.runTime.p50).toBeGreaterThan(0)
  })

  test('extra threads go back to minThreads once idle', async () => {
    const p = pool({ minThreads: 1, maxThreads: 2, idleTimeout: 10 })
    const gate = new Gate()
    const both = [p.run('gate', gate.view), p.run('gate', gate.view)]
    await gate.started(2)
    expect(p.stats().threads).toBe(2)
    gate.open()
    await Promise.all(both)
    await vi.waitFor(() => expect(p.stats().threads).toBe(1), { timeout: 30_000 })
    expect(p.stats().threads).toBe(1)
  })
})

describe('bad input', () => {
  /** The one shape of a bad argument: a TierkitTypeError (a TypeError, E_INVALID_ARGUMENT) with an exact message. */
  function expectInvalid(err: unknown, message: string): void {
    expect(err).toBeInstanceOf(TierkitTypeError)
    expect(err).toBeInstanceOf(TypeError)
    expect(err).toBeInstanceOf(errors.E_INVALID_ARGUMENT)
    expect((err as TierkitTypeError).code).toBe('E_INVALID_ARGUMENT')
    expect((err as TierkitTypeError).message).toBe(message)
  }

  test('createPool rejects bad options with exact TierkitTypeErrors', () => {
    const tasks = TASKS_JS
    const cases: [unknown, string][] = [
      [null, 'createPool: options must be an object, got null'],
      [
        { tasks: './relative.js' },
        'createPool: tasks must be a file: URL or an absolute path, got "./relative.js"',
      ],
      [
        { tasks: new URL('https://example.invalid/t.js') },
        'createPool: tasks must be a file: URL or an absolute path, got "https://example.invalid/t.js"',
      ],
      [{ tasks: 42 }, 'createPool: tasks must be a file: URL or an absolute path, got 42'],
      [{ tasks, minThreads: -1 }, 'createPool: minThreads must be an integer from 0 to 1024, got -1'],
      [{ tasks, maxThreads: 0 }, 'createPool: maxThreads must be an integer from 1 to 1024, got 0'],
      [{ tasks, maxThreads: 1.5 }, 'createPool: maxThreads must be an integer from 1 to 1024, got 1.5'],
      [
        { tasks, minThreads: 3, maxThreads: 2 },
        'createPool: minThreads must be at most maxThreads (2), got 3',
      ],
      [
        { tasks, maxQueue: -1 },
        'createPool: maxQueue must be an integer from 0 to 2147483647, or Infinity, got -1',
      ],
      [
        { tasks, idleTimeout: 'soon' },
        'createPool: idleTimeout must be a duration in ms, an integer from 0 to 2147483647, got "soon"',
      ],
      [
        { tasks, taskTimeout: 0 },
        'createPool: taskTimeout must be a duration in ms, an integer from 1 to 2147483647, or Infinity, got 0',
      ],
      [
        { tasks, taskTimeout: 2.5 },
        'createPool: taskTimeout must be a duration in ms, an integer from 1 to 2147483647, or Infinity, got 2.5',
      ],
      [{ tasks, resourceLimits: 5 }, 'createPool: resourceLimits must be an object, got 5'],
      [{ tasks, loader: 'babel' }, 'createPool: loader must be one of "auto", "native", "tsx", got "babel"'],
      [{ tasks, onEvent: 'log' }, 'createPool: onEvent must be a function, got "log"'],
    ]
    for (const [options, message] of cases)
      expectInvalid(
        thrown(() => createPool(options as never)),
        message,
      )
    expect(cases).toHaveLength(15)
    const missing = fileURLToPath(new URL('./fixtures/missing.js', import.meta.url))
    expectInvalid(
      thrown(() => createPool({ tasks: missing })),
      `createPool: tasks must be an existing file (or its .ts source), got ${describeValue(missing)}`,
    )
  })

  test('run/submit/map/close reject bad arguments with exact TierkitTypeErrors and leave the pool intact', async () => {
    const p = pool()
    await p.run('ping')
    const before = p.stats()
    const timeoutRule = 'a duration in ms, an integer from 1 to 2147483647, or Infinity'
    const cases: [Promise<unknown>, string][] = [
      [
        p.run('' as 'ping'),
        'WorkerPool.run: name must be a non-empty string of at most 65536 characters, got ""',
      ],
      [
        (p.run as (name: unknown) => Promise<unknown>)(7),
        'WorkerPool.run: name must be a non-empty string of at most 65536 characters, got 7',
      ],
      [p.run('ping', undefined, null as never), 'WorkerPool.run: options must be an object, got null'],
      [
        p.run('ping', undefined, { signal: {} as AbortSignal }),
        'WorkerPool.run: options.signal must be an AbortSignal, got an object',
      ],
      [
        p.run('ping', undefined, { timeout: -5 }),
        `WorkerPool.run: options.timeout must be ${timeoutRule}, got -5`,
      ],
      [
        p.run('ping', undefined, { timeout: 2 ** 31 }),
        `WorkerPool.run: options.timeout must be ${timeoutRule}, got 2147483648`,
      ],
      [
        p.run('ping', undefined, { transfer: 'x' as never }),
        'WorkerPool.run: options.transfer must be an array, got "x"',
      ],
      [
        p.submit('ping', undefined, { timeout: Number.NaN }),
        `WorkerPool.submit: options.timeout must be ${timeoutRule}, got NaN`,
      ],
      [
        p.submit('' as 'ping'),
        'WorkerPool.submit: name must be a non-empty string of at most 65536 characters, got ""',
      ],
      [p.map('echo', 5 as never), 'WorkerPool.map: items must be an iterable, got 5'],
      [
        p.map('echo', [1], { signal: 'no' as never }),
        'WorkerPool.map: options.signal must be an AbortSignal, got "no"',
      ],
      [
        p.close({ timeout: -1 }),
        'WorkerPool.close: options.timeout must be a duration in ms, an integer from 0 to 2147483647, got -1',
      ],
      [p.close(5000 as never), 'WorkerPool.close: options must be an object, got 5000'],
    ]
    for (const [promise, message] of cases) expectInvalid(await rejection(promise), message)
    expect(cases).toHaveLength(13)
    expect(p.stats()).toMatchObject({
      completed: before.completed,
      failed: before.failed,
      queued: 0,
      running: 0,
      waiting: 0,
      threads: 1,
    })
    expect(p.closed).toBe(false)
    expect(await p.run('ping')).toBe('pong')
  })

  test('every error is a TierkitError with a stable code and name = class name; errors maps each code to its class', () => {
    const own = [
      new QueueFullError('t', 1),
      new TaskTimeoutError('t', 5, false),
      new WorkerCrashedError({ task: 't' }),
      new PoolDestroyedError('t'),
      new CloseTimeoutError('t', 5),
      new UnknownTaskError('t', []),
      new TasksLoadError('t', 'file:///x', new Error('y')),
    ]
    expect(own.map((e) => e instanceof WorkerPoolError && e instanceof TierkitError && e.code)).toEqual([
      'E_QUEUE_FULL',
      'E_TASK_TIMEOUT',
      'E_WORKER_CRASHED',
      'E_POOL_DESTROYED',
      'E_CLOSE_TIMEOUT',
      'E_UNKNOWN_TASK',
      'E_TASKS_LOAD_FAILED',
    ])
    expect(own.map((e) => e.name)).toEqual(own.map((e) => e.constructor.name))
    expect(own.map((e) => e.task)).toEqual(['t', 't', 't', 't', 't', 't', 't'])
    for (const e of own) expect(e).toBeInstanceOf(errors[e.code])

    const aborted = new TaskAbortedError('t', 'why')
    expect(aborted).toBeInstanceOf(AbortedError)
    expect(aborted).toBeInstanceOf(TierkitError)
    expect([aborted.code, aborted.name, aborted.cause, aborted.task]).toEqual([
      'E_ABORTED',
      'AbortError',
      'why',
      't',
    ])
    const cause = new Error('root')
    expect(new WorkerCrashedError({ cause }).cause).toBe(cause)
    expect(new TasksLoadError('t', 'file:///x', cause).cause).toBe(cause)

    expect(Object.keys(errors).sort()).toEqual(
      [
        'E_QUEUE_FULL',
        'E_TASK_TIMEOUT',
        'E_WORKER_CRASHED',
        'E_POOL_DESTROYED',
        'E_CLOSE_TIMEOUT',
        'E_UNKNOWN_TASK',
        'E_TASKS_LOAD_FAILED',
        'E_ABORTED',
        'E_CLOSED',
        'E_INVALID_ARGUMENT',
      ].sort(),
    )
    expect([errors.E_ABORTED, errors.E_CLOSED, errors.E_INVALID_ARGUMENT]).toEqual([
      AbortedError,
      ClosedError,
      TierkitTypeError,
    ])
    expect(Object.isFrozen(errors)).toBe(true)
  })
})
