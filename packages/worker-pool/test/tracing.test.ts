// The `tierkit:task` TracingChannel of @tierkit/contracts: every run/submit/map task is traced from its call to
// its result, with the task's name and its wait in the queue; nobody subscribed, nothing is published.

import { tracingChannel } from 'node:diagnostics_channel'
import { TRACING_CHANNEL_NAMES, type TraceMessage, tracingChannels } from '@tierkit/contracts'
import { afterEach, describe, expect, test } from 'vitest'
import { createPool, QueueFullError, type WorkerPool } from '../src/index.js'
import { expectNoProcessErrors, Gate, rejection, TASKS_JS, type Tasks } from './helpers.js'

expectNoProcessErrors()

interface Seen {
  event: 'start' | 'end' | 'asyncStart' | 'asyncEnd' | 'error'
  message: TraceMessage
}

const pools: WorkerPool<Tasks>[] = []
let unsubscribe: (() => void) | undefined
afterEach(async () => {
  unsubscribe?.()
  unsubscribe = undefined
  await Promise.all(pools.splice(0).map((p) => p.destroy()))
})

function pool(options: Partial<Parameters<typeof createPool>[0]> = {}): WorkerPool<Tasks> {
  const p = createPool<Tasks>({ tasks: TASKS_JS, minThreads: 1, maxThreads: 1, ...options })
  pools.push(p)
  return p
}

/** Subscribes to the task channel by its public name (as an APM agent would) and records every event. */
function listen(): Seen[] {
  const seen: Seen[] = []
  const channel = tracingChannel<unknown, TraceMessage>(TRACING_CHANNEL_NAMES.task)
  const on = (event: Seen['event']) => (message: TraceMessage) => seen.push({ event, message })
  const handlers = {
    start: on('start'),
    end: on('end'),
    asyncStart: on('asyncStart'),
    asyncEnd: on('asyncEnd'),
    error: on('error'),
  }
  channel.subscribe(handlers)
  unsubscribe = () => channel.unsubscribe(handlers)
  return seen
}

describe('tracing of tasks', () => {
  test('the channel by name publishes on the channels contracts exports', () => {
    const byName = tracingChannel(TRACING_CHANNEL_NAMES.task)
    expect(byName.start).toBe(tracingChannels.task.start)
    expect(byName.error).toBe(tracingChannels.task.error)
    expect(TRACING_CHANNEL_NAMES.task).toBe('tierkit:task')
  })

  test('run: start then asyncEnd with the result, the task name and its queue time', async () => {
    const seen = listen()
    const p = pool()
    await expect(p.run('add', { a: 2, b: 3 })).resolves.toBe(5)
    expect(seen.map((s) => s.event)).toEqual(['start', 'end', 'asyncStart', 'asyncEnd'])
    const message = seen[0]!.message
    expect(seen.every((s) => s.message === message)).toBe(true)
    expect(message).toMatchObject({
      package: '@tierkit/worker-pool',
      operation: 'task',
      task: 'add',
      result: 5,
    })
    expect(Number.isFinite(message.waited)).toBe(true)
  })

  test('a task waiting behind another one records a queue time at least as long as the one ahead ran', async () => {
    const seen = listen()
    const p = pool()
    const gate = new Gate()
    const first = p.run('gate', gate.view)
    const second = p.run('ping')
    await gate.started()
    const startedAt = performance.now()
    await new Promise((r) => setTimeout(r, 30))
    // ping was accepted before startedAt and cannot start before the gate opens
    const blocked = performance.now() - startedAt
    gate.open()
    await Promise.all([first, second])
    const ping = seen.find((s) => s.event === 'asyncEnd' && s.message.task === 'ping')!.message
    expect(ping.waited).toBeGreaterThan(blocked)
  })

  test('a task that throws publishes error with what it threw', async () => {
    const seen = listen()
    const p = pool()
    const err = await rejection(p.run('throwValidation', 'email'))
    const error = seen.find((s) => s.event === 'error')
    expect(error?.message.error).toBe(err)
    expect(err.name).toBe('ValidationError')
  })

  test('a refused task (queue full) is traced as an error too', async () => {
    const p = pool({ maxQueue: 0 })
    const gate = new Gate()
    const busy = p.run('gate', gate.view)
    await gate.started()
    const seen = listen()
    const err = await rejection(p.run('ping'))
    expect(err).toBeInstanceOf(QueueFullError)
    expect(seen.map((s) => s.event)).toEqual(['start', 'end', 'error', 'asyncStart', 'asyncEnd'])
    gate.open()
    await busy
  })

  test('submit and map: each task traced until its result, not until it is accepted', async () => {
    const seen = listen()
    const p = pool()
    const handle = await p.submit('asyncDouble', 21)
    expect(seen.filter((s) => s.event === 'asyncEnd')).toHaveLength(0)
    await expect(handle.result).resolves.toBe(42)
    const ends = () => seen.filter((s) => s.event === 'asyncEnd').map((s) => s.message)
    expect(ends()).toMatchObject([{ task: 'asyncDouble', result: 42 }])
    await expect(p.map('echo', [1, 2, 3])).resolves.toEqual([1, 2, 3])
    expect(ends().map((m) => m.result)).toEqual([42, 1, 2, 3])
  })

  test('nobody subscribed: nothing is published and the result is the same', async () => {
    const seen = listen()
    unsubscribe!()
    unsubscribe = undefined
    expect(tracingChannels.task.hasSubscribers).toBe(false)
    const p = pool()
    await expect(p.run('add', { a: 1, b: 1 })).resolves.toBe(2)
    expect(seen).toHaveLength(0)
  })
})
