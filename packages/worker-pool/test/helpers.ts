import { setImmediate } from 'node:timers/promises'
import { afterAll, beforeAll, expect, vi } from 'vitest'

/** The compiled test tasks (written by global-setup.ts) and their types. */
export const TASKS_JS: URL = new URL('./fixtures/dist/tasks.js', import.meta.url)
export type Tasks = typeof import('./fixtures/tasks.js').default

/**
 * Registers process-level listeners for the whole file and fails it if the pool ever let an error reach
 * `uncaughtException` or left a rejection unhandled.
 */
export function expectNoProcessErrors(): void {
  const seen: unknown[] = []
  const onUncaught = (err: unknown): void => {
    seen.push(err)
  }
  const onUnhandled = (reason: unknown): void => {
    seen.push(reason)
  }
  beforeAll(() => {
    process.on('uncaughtException', onUncaught)
    process.on('unhandledRejection', onUnhandled)
  })
  afterAll(async () => {
    // give late rejections one more turn of the loop to surface
    await setImmediate()
    process.off('uncaughtException', onUncaught)
    process.off('unhandledRejection', onUnhandled)
    expect(seen).toEqual([])
  })
}

/** A gate for the `gate` task: the task blocks its thread until `open()`. */
export class Gate {
  readonly view: Int32Array = new Int32Array(new SharedArrayBuffer(8))

  /** Resolves once `count` gate tasks have started on threads. */
  async started(count = 1): Promise<void> {
    // threads start slowly on a loaded machine: wait as long as a test may take
    await vi.waitFor(() => expect(Atomics.load(this.view, 1)).toBeGreaterThanOrEqual(count), {
      timeout: 60_000,
      interval: 5,
    })
  }

  open(value = 1): void {
    Atomics.store(this.view, 0, value)
    Atomics.notify(this.view, 0)
  }
}

/** Rejection reason of a promise that must reject. */
export async function rejection(promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await promise
  } catch (err) {
    return err as Error & Record<string, unknown>
  }
  throw new Error('expected the promise to reject')
}

/** What a synchronous call throws (fails the test when it does not throw). */
export function thrown(call: () => unknown): unknown {
  try {
    call()
  } catch (err) {
    return err
  }
  throw new Error('expected the call to throw')
}
