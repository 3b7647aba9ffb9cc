// Property test: 10 scenarios x 1,000 random tasks = 10,000 tasks through real worker threads, with aborts
// (before and after acceptance), timeouts, a small queue that fills up, submit() backpressure, crashing and
// hanging tasks, and a close() in the middle. Tiny tasks and at most two threads keep it quick.
import { setImmediate, setTimeout as sleep } from 'node:timers/promises'
import fc from 'fast-check'
import { expect, test, vi } from 'vitest'
import { createPool, type WorkerPool } from '../src/index.js'
import { expectNoProcessErrors, TASKS_JS, type Tasks } from './helpers.js'

expectNoProcessErrors()

type TaskKind = 'echo' | 'sleep' | 'throw' | 'hang' | 'exit'
interface Op {
  /** run(); submit() without waiting; submit() awaited before the next op (a producer under backpressure). */
  kind: 'run' | 'submit' | 'submit-await'
  /** Let the event loop turn before this op (results come back, the queue drains). */
  yieldFirst: boolean
  task: TaskKind
  /** -1: none, 0: aborted before the call, n > 0: aborted n ops later. */
  abortAfter: number
  timeout: number | undefined
}

const taskArb = fc.oneof(
  { weight: 8000, arbitrary: fc.constant<TaskKind>('echo') },
  { weight: 1200, arbitrary: fc.constant<TaskKind>('sleep') },
  { weight: 600, arbitrary: fc.constant<TaskKind>('throw') },
  // hang and exit end threads, and each replacement costs a thread start: rare, plus one forced crash a scenario
  { weight: 10, arbitrary: fc.constant<TaskKind>('hang') },
  { weight: 3, arbitrary: fc.constant<TaskKind>('exit') },
)
const opArb: fc.Arbitrary<Op> = fc.record({
  kind: fc.oneof(
    { weight: 55, arbitrary: fc.constant<Op['kind']>('run') },
    { weight: 15, arbitrary: fc.constant<Op['kind']>('submit') },
    { weight: 30, arbitrary: fc.constant<Op['kind']>('submit-await') },
  ),
  yieldFirst: fc.integer({ min: 0, max: 99 }).map((n) => n < 15),
  task: taskArb,
  abortAfter: fc.oneof(
    { weight: 88, arbitrary: fc.constant(-1) },
    { weight: 4, arbitrary: fc.constant(0) },
    { weight: 8, arbitrary: fc.integer({ min: 1, max: 30 }) },
  ),
  timeout: fc.oneof(
    { weight: 19, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.integer({ min: 5, max: 40 }) },
  ),
})
const scenarioArb = fc.record({
  maxQueue: fc.integer({ min: 1, max: 8 }),
  ops: fc.array(opArb, { minLength: 1000, maxLength: 1000 }),
  checkpoint: fc.integer({ min: 200, max: 400 }),
  closeAt: fc.integer({ min: 700, max: 900 }),
  /** One task is sure to crash its thread (process.exit) in every scenario. */
  crashAt: fc.integer({ min: 0, max: 690 }),
})

/** Codes a task may legitimately reject with, given how it was called. */
function allowedCodes(op: Op, afterClose: boolean): Set<string> {
  const codes = new Set<string>()
  if (afterClose) codes.add('E_CLOSED')
  if (op.kind === 'run') codes.add('E_QUEUE_FULL')
  if (op.kind !== 'run') codes.add('E_CLOSED') // a submit still waiting for room when close() is called
  if (op.abortAfter >= 0) codes.add('E_ABORTED')
  if (op.timeout !== undefined) codes.add('E_TASK_TIMEOUT')
  if (op.task === 'exit') codes.add('E_WORKER_CRASHED')
  if (op.task === 'throw') codes.add('ValidationError')
  return codes
}

/** Outcome counts over all scenarios, printed with PROPERTY_STATS=1 to see what the run exercised. */
const outcomes = new Map<string, number>()

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer S> ? S : never

const NAMES = { echo: 'echo', sleep: 'sleep', throw: 'throwValidation', hang: 'hang', exit: 'exit' } as const

async function runScenario({
  maxQueue,
  ops: generated,
  checkpoint,
  closeAt,
  crashAt,
}: Scenario): Promise<string[]> {
  const ops = generated.map(
    (op, i): Op =>
      i === crashAt
        ? { kind: 'submit-await', task: 'exit', abortAfter: -1, timeout: undefined, yieldFirst: false }
        : op,
  )
  const violations: string[] = []
  const checkQueue = (where: string): void => {
    const { queued } = pool.stats()
    if (queued > maxQueue) violations.push(`queue ${queued} > maxQueue ${maxQueue} (${where})`)
  }
  const pool: WorkerPool<Tasks> = createPool<Tasks>({
    tasks: TASKS_JS,
    minThreads: 1,
    maxThreads: 2,
    maxQueue,
    idleTimeout: 5,
    onEvent: (event) => {
      if (event.type === 'drain') checkQueue('drain')
    },
  })

  const settleCounts = new Map<string, number>()
  const pending = new Set<string>()
  const settled: Promise<void>[] = []
  let acceptedTasks = 0
  const aborts = new Map<number, AbortController[]>()
  let closing: Promise<void> | undefined

  /** Tracks one promise: it must settle exactly once, with an outcome allowed for its op. */
  const track = (key: string, id: number, op: Op, afterClose: boolean, promise: Promise<unknown>): void => {
    settleCounts.set(key, 0)
    pending.add(key)
    const allowed = allowedCodes(op, afterClose)
    const isResult = !key.startsWith('accept')
    settled.push(
      promise.then(
        (value) => {
          outcomes.set(
            isResult ? 'resolved' : 'accepted',
            (outcomes.get(isResult ? 'resolved' : 'accepted') ?? 0) + 1,
          )
          settleCounts.set(key, settleCounts.get(key)! + 1)
          pending.delete(key)
          if (!isResult) return
          if (op.task === 'echo' && value !== id) violations.push(`task ${id} resolved with ${String(value)}`)
          if (op.task === 'throw' || op.task === 'hang' || op.task === 'exit') {
            violations.push(`task ${id} (${op.task}) resolved`)
          }
        },
        (err: { code?: string; name?: string; field?: string; message?: string }) => {
          settleCounts.set(key, settleCounts.get(key)! + 1)
          pending.delete(key)
          const code = err.code ?? err.name ?? String(err)
          outcomes.set(code, (outcomes.get(code) ?? 0) + 1)
          if ((err as { started?: boolean }).started === true) {
            outcomes.set(`${code} (thread ended)`, (outcomes.get(`${code} (thread ended)`) ?? 0) + 1)
          }
          if (!allowed.has(code))
            violations.push(`${key} (${op.kind} ${op.task}) rejected with ${code}: ${err.message}`)
          if (code === 'ValidationError' && err.field !== String(id))
            violations.push(`task ${id} got another's error`)
          checkQueue('settle')
        },
      ),
    )
  }

  const call = (id: number, op: Op): Promise<unknown> | undefined => {
    let signal: AbortSignal | undefined
    if (op.abortAfter === 0) signal = AbortSignal.abort()
    if (op.abortAfter > 0) {
      const ac = new AbortController()
      aborts.set(id + op.abortAfter, [...(aborts.get(id + op.abortAfter) ?? []), ac])
      signal = ac.signal
    }
    // a hanging task always has a timeout, or close() could not finish
    const effective: Op = op.task === 'hang' && op.timeout === undefined ? { ...op, timeout: 20 } : op
    const options = { signal, timeout: effective.timeout }
    const afterClose = closing !== undefined
    const arg = op.task === 'echo' ? id : op.task === 'sleep' ? id % 3 : op.task === 'throw' ? String(id) : 1
    const name = NAMES[op.task] as 'echo'
    if (op.kind === 'run') {
      const result = pool.run(name, arg, options)
      track(`run ${id}`, id, effective, afterClose, result)
      // run() refuses only with these; any other outcome means the pool accepted the task
      result.then(
        () => acceptedTasks++,
        (err: { code?: string }) => {
          const refused =
            err.code === 'E_QUEUE_FULL' ||
            err.code === 'E_CLOSED' ||
            (op.abortAfter === 0 && err.code === 'E_ABORTED')
          if (!refused) acceptedTasks++
        },
      )
      return undefined
    } else {
      const handle = pool.submit(name, arg, options)
      track(`accept ${id}`, id, effective, afterClose, handle)
      handle.then(
        (h) => {
          acceptedTasks++
          checkQueue('admitted')
          track(`result ${id}`, id, effective, afterClose, h.result)
        },
        () => {},
      )
      return op.kind === 'submit-await' ? handle.catch(() => {}) : undefined
    }
  }

  for (let i = 0; i < ops.length; i++) {
    for (const ac of aborts.get(i) ?? []) ac.abort(new Error(`abort at ${i}`))
    aborts.delete(i)
    if (i === checkpoint) {
      // everything issued so far settles, and the pool shrinks back to minThreads once idle
      await vi.waitFor(() => expect(pending.size).toBe(0), { timeout: 120_000, interval: 5 })
      await vi.waitFor(() => expect(pool.stats().threads).toBe(1), { timeout: 120_000, interval: 5 })
      const stats = pool.stats()
      if (stats.queued !== 0 || stats.running !== 0 || stats.waiting !== 0 || stats.threads !== 1) {
        violations.push(`not back to minThreads and idle at the checkpoint: ${JSON.stringify(stats)}`)
      }
    }
    if (i === closeAt) {
      const inFlight = [...pending].filter((key) => !key.startsWith('accept'))
      closing = pool.close({ timeout: 60_000 }).then(() => {
        const unfinished = inFlight.filter((key) => pending.has(key))
        if (unfinished.length > 0) violations.push(`close() resolved before ${unfinished.join(', ')} settled`)
        if (pool.stats().threads !== 0) violations.push('threads left after close()')
      })
    }
    const op = ops[i]!
    if (op.yieldFirst) await (i % 3 === 0 ? sleep(1) : setImmediate())
    const wait = call(i, op)
    checkQueue(`op ${i}`)
    if (wait !== undefined) await wait
  }
  for (const controllers of aborts.values()) for (const ac of controllers) ac.abort(new Error('abort at end'))

  await closing
  // accepted submit() calls add their result promise late: wait until the set stops growing
  for (let n = -1; n !== settled.length; ) {
    n = settled.length
    await Promise.all(settled)
  }
  if ([...settleCounts.values()].some((n) => n !== 1))
    violations.push('a promise settled more than once or never')
  const stats = pool.stats()
  if (stats.completed + stats.failed !== acceptedTasks) {
    violations.push(`completed ${stats.completed} + failed ${stats.failed} != accepted ${acceptedTasks}`)
  }
  return violations
}

test('10,000 random tasks: each promise settles once, queue <= maxQueue, close() waits, threads return to minThreads', async () => {
  let total = 0
  await fc.assert(
    fc.asyncProperty(scenarioArb, async (scenario) => {
      const violations = await runScenario(scenario)
      total += scenario.ops.length
      expect(violations).toEqual([])
    }),
    { numRuns: 10, endOnFailure: true },
  )
  expect(total).toBe(10_000)
  if (process.env.PROPERTY_STATS) console.log(total, Object.fromEntries(outcomes))
}, 180_000)
