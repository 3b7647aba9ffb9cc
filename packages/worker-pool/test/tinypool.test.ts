// The tinypool workarounds (src/tinypool-adapter.ts, src/cancel.ts), one test each, titled after the upstream
// behaviour they work around (tinypool 2.2.0, pinned in package.json). Each test fails when its workaround is
// removed; where the upstream behaviour can be shown without waiting for something that never happens, a second
// test pins it on raw tinypool, so an upgrade that fixes it upstream shows up here and the workaround can go.
import { Tinypool } from 'tinypool'
import { afterEach, describe, expect, test, vi } from 'vitest'
import {
  createPool,
  type PoolEvent,
  TaskAbortedError,
  WorkerCrashedError,
  type WorkerPool,
} from '../src/index.js'
import { expectNoProcessErrors, Gate, rejection, TASKS_JS, type Tasks } from './helpers.js'

expectNoProcessErrors()

const EXITS_ON_LOAD = new URL('./fixtures/broken/exits-on-load.mjs', import.meta.url)
const RAW_TASKS = new URL('./fixtures/raw/tasks.mjs', import.meta.url)
/** A workaround that is gone shows as a task that never settles: fail well before the suite's 60 s. */
const BOUNDED = { timeout: 20_000 }

const pools: WorkerPool<never>[] = []
function pool(options: Partial<Parameters<typeof createPool>[0]> = {}): WorkerPool<Tasks> {
  const p = createPool<Tasks>({ tasks: TASKS_JS, minThreads: 1, maxThreads: 1, ...options })
  pools.push(p as unknown as WorkerPool<never>)
  return p
}
const raws: Tinypool[] = []
function rawTinypool(): Tinypool {
  const tp = new Tinypool({ filename: RAW_TASKS.href, minThreads: 1, maxThreads: 1 })
  raws.push(tp)
  return tp
}
afterEach(async () => {
  await Promise.all([...pools.splice(0).map((p) => p.destroy()), ...raws.splice(0).map((tp) => tp.destroy())])
})

describe('tinypool workarounds', () => {
  test(
    "tinypool 2.2: watches a thread's 'error' event but not its 'exit', so a task whose thread calls process.exit() stays pending forever — the pool watches 'exit' and rejects the task with E_WORKER_CRASHED",
    BOUNDED,
    async () => {
      const p = pool()
      const err = await rejection(p.run('exit', 3))
      expect(err).toBeInstanceOf(WorkerCrashedError)
      expect(err.exitCode).toBe(3)
      expect(await p.run('ping')).toBe('pong') // tinypool replaced the thread
    },
  )

  test(
    "tinypool 2.2: emits 'error' on the pool for a thread that dies with no task on it, an uncaughtException when nobody listens — the pool listens and reports a crash event",
    BOUNDED,
    async () => {
      const uncaught: unknown[] = []
      const onUncaught = (err: unknown): void => {
        uncaught.push(err)
      }
      process.on('uncaughtException', onUncaught)
      try {
        const crashes: PoolEvent[] = []
        // no task at all: the first thread exits while loading the tasks module
        pool({ tasks: EXITS_ON_LOAD, onEvent: (event) => crashes.push(event) })
        // tinypool replaces the first thread once; the replacement exits too
        await vi.waitFor(() => expect(crashes).toHaveLength(2), BOUNDED)
        for (const event of crashes)
          expect(event).toMatchObject({ type: 'crash', error: { code: 'E_WORKER_CRASHED', exitCode: 7 } })
        expect(uncaught).toEqual([])
      } finally {
        process.off('uncaughtException', onUncaught)
      }
    },
  )

  test(
    'tinypool 2.2: stops replacing a thread that dies before it is ready, so tasks queued for it wait forever — the pool rejects them with E_WORKER_CRASHED, the crash as cause',
    BOUNDED,
    async () => {
      const p = pool({ tasks: EXITS_ON_LOAD })
      // the first thread exits while loading and is replaced; the replacement exits before it is ready, and
      // tinypool gives up: no thread is left
      await vi.waitFor(() => expect(p.stats()).toMatchObject({ threads: 0, crashes: 2 }), BOUNDED)
      // a new task starts a thread, which exits before it is ready: the task was queued for it in tinypool
      const err = await rejection(p.run('ping'))
      expect(err).toBeInstanceOf(WorkerCrashedError)
      expect(err.task).toBe('ping')
      expect(err.cause).toBeInstanceOf(WorkerCrashedError)
      expect((err.cause as WorkerCrashedError).exitCode).toBe(7)
      expect(p.stats()).toMatchObject({ running: 0, queued: 0 })
    },
  )

  test(
    'tinypool 2.2: when a running task is aborted just as its result arrives, posts its next queued task to the thread it is terminating, which rejects it with "Terminating worker thread" though it never ran — the pool sends it again',
    BOUNDED,
    async () => {
      for (let round = 0; round < 5; round++) {
        const p = pool()
        const gate = new Gate()
        const ac = new AbortController()
        const first = rejection(p.run('gate', gate.view, { signal: ac.signal }))
        await gate.started()
        const next = p.run('echo', round) // every thread is busy: a spare in tinypool's queue
        gate.open()
        // keep the main thread from reading the result until the thread has sent it, then abort: tinypool
        // terminates the thread, then reads the late result as "thread free" and posts `next` to it
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100)
        ac.abort()
        expect((await first).code).toBe('E_ABORTED')
        expect(await next).toBe(round)
        expect(p.stats()).toMatchObject({ completed: 1, failed: 1, running: 0, queued: 0 })
        await p.destroy()
      }
    },
  )

  test('tinypool 2.2: rejects with what structured clone keeps of a thrown error (a custom class arrives as a plain Error, its own properties gone) — the pool rebuilds name, message and properties from the thread runtime', async () => {
    const err = await rejection(pool().run('throwValidation', 'email'))
    expect(err.name).toBe('ValidationError')
    expect(err.field).toBe('email')
    expect((err.cause as Error).name).toBe('RangeError')
  })

  test('upstream pin: raw tinypool 2.2 loses the class name and own properties of a thrown error', async () => {
    const err = await rejection(rawTinypool().run('email', { name: 'throwValidation' }))
    expect(err.message).toBe('bad email')
    expect(err.name).toBe('Error')
    expect(err.field).toBeUndefined()
  })

  test(
    'tinypool 2.2: has no per-task timeout (its run() takes no timeout option) — the pool times each task from acceptance and cancels it with E_TASK_TIMEOUT',
    BOUNDED,
    async () => {
      const p = pool()
      const err = await rejection(p.run('hang', undefined, { timeout: 30 }))
      expect(err.code).toBe('E_TASK_TIMEOUT')
      expect(err.started).toBe(true)
      expect(await p.run('ping')).toBe('pong')
    },
  )

  test('upstream pin: raw tinypool 2.2 has no timeout option (not in its types) and ignores one passed anyway', async () => {
    const tp = rawTinypool()
    const run = tp.run as (task: unknown, options: Record<string, unknown>) => Promise<unknown>
    // a 100 ms task with a 1 ms "timeout" still resolves
    expect(await run.call(tp, 100, { name: 'block', timeout: 1 })).toBe(100)
  })

  test(
    "tinypool 2.2: rejects an aborted task with its own AbortError ('The task has been aborted', no code, the signal's reason dropped) — the pool rejects with TaskAbortedError (E_ABORTED, cause = the reason, started)",
    BOUNDED,
    async () => {
      const p = pool()
      const gate = new Gate()
      const ac = new AbortController()
      const running = rejection(p.run('gate', gate.view, { signal: ac.signal }))
      await gate.started()
      ac.abort('client gone')
      const err = await running
      expect(err).toBeInstanceOf(TaskAbortedError)
      expect([err.code, err.cause, err.started]).toEqual(['E_ABORTED', 'client gone', true])
    },
  )

  test('upstream pin: raw tinypool 2.2 rejects an abort with an AbortError that carries neither a code nor the reason', async () => {
    const err = await rejection(rawTinypool().run(1, { name: 'echo', signal: AbortSignal.abort('why') }))
    expect([err.name, err.message, err.code, err.cause]).toEqual([
      'AbortError',
      'The task has been aborted',
      undefined,
      undefined,
    ])
  })
})
