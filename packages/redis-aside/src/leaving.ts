/**
 * Per-call cancellation: what a waiter listens to in order to leave (a caller's `AbortSignal`, or a
 * {@link Departure}), and how a wait on a shared promise leaves at once when it fires.
 */
import { AbortedError } from '@tierkit/contracts'

/**
 * What a waiter listens to in order to leave: a caller's `AbortSignal`, or a flight's {@link Departure}. Only
 * the part of `AbortSignal` the cache uses.
 */
export interface Leaving {
  readonly aborted: boolean
  readonly reason: unknown
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void
  removeEventListener(type: 'abort', listener: () => void): void
}

/**
 * A flight's own abort signal, set off when its last caller aborts. Not an `AbortController`: one of those
 * costs microseconds to make, and a flight is made on every L1 miss.
 */
export class Departure implements Leaving {
  aborted = false
  reason: unknown = undefined
  private listeners: Array<() => void> | undefined

  addEventListener(_type: 'abort', listener: () => void): void {
    if (this.listeners === undefined) this.listeners = [listener]
    else this.listeners.push(listener)
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const at = this.listeners?.indexOf(listener) ?? -1
    if (at >= 0) this.listeners!.splice(at, 1)
  }

  abort(reason: unknown): void {
    if (this.aborted) return
    this.aborted = true
    this.reason = reason
    const listeners = this.listeners
    this.listeners = undefined
    if (listeners !== undefined) for (const listener of listeners) listener()
  }
}

/**
 * `shared` for one waiter that leaves when `signal` aborts: the returned promise then rejects at once with
 * `AbortedError` (`what`, `key`) and `onLeave` runs; `shared` itself goes on.
 */
export function leaveOnAbort<T>(
  shared: Promise<T>,
  signal: Leaving,
  what: string,
  key: string | undefined,
  onLeave?: () => void,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      reject(new AbortedError(what, signal.reason, key))
      onLeave?.()
    }
    if (signal.aborted) {
      onAbort()
      return
    }
    signal.addEventListener('abort', onAbort, { once: true })
    shared.then(
      (v) => {
        signal.removeEventListener('abort', onAbort)
        resolve(v)
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(e)
      },
    )
  })
}
