/**
 * The connections this package owns (the bus's subscriber, the tracking connection, the flusher's blocking
 * reads): connecting a lazy duplicate, their reconnection schedule, bounded commands, `ready()` and closing
 * them without waiting on a dead server.
 */
import { ClosedError, closeTimeout, PermissionError } from '@tierkit/contracts'
import { classifyRedisError } from '@tierkit/contracts/redis'
import type { Cluster, Redis } from 'ioredis'
import { ReadyTimeoutError } from './errors.js'

/** Default bound of `ready()` on the bus and the tracking invalidator, in ms. */
export const DEFAULT_READY_TIMEOUT = 10_000

/** Default bound of `close()` on the bus and the tracking invalidator (their QUIT), in ms. */
export const DEFAULT_QUIT_TIMEOUT = 1_000

/**
 * Starts connecting a duplicated connection that is still waiting for its first command. A duplicate
 * inherits the options of the user's client, `lazyConnect: true` included; a subscriber never sends a
 * command before its `ready` event, so without this it would wait forever. Connection errors are not
 * lost: ioredis reports them as `error` events (attach the listener first) and keeps retrying.
 */
export function connectIfWaiting(conn: Redis | Cluster): void {
  if (conn.status === 'wait') conn.connect().catch(() => {})
}

/**
 * The permission denials met by the connections of a bus or a tracking invalidator: every error they report
 * goes through {@link Denial.note}, which classifies it (contracts' `classifyRedisError`: an ACL denial becomes
 * a `PermissionError` naming the command) and keeps the latest denial, so that `ready()` rejects with it at once
 * instead of waiting for its timeout (the connection keeps retrying: the ACL may be fixed meanwhile).
 */
export class Denial {
  #error: PermissionError | undefined
  #waiters = new Set<(e: PermissionError) => void>()

  /** The latest denial, if any. */
  get error(): PermissionError | undefined {
    return this.#error
  }

  /** `e` classified; a denial is kept and rejects the `ready()` calls waiting. */
  note(e: unknown): unknown {
    const c = classifyRedisError(e)
    if (c instanceof PermissionError) {
      this.#error = c
      for (const w of this.#waiters) w(c)
    }
    return c
  }

  /** Rejects with the next denial; `cancel` stops waiting. */
  next(): { promise: Promise<never>; cancel: () => void } {
    let waiter!: (e: PermissionError) => void
    const promise = new Promise<never>((_, reject) => {
      waiter = reject
    })
    this.#waiters.add(waiter)
    return { promise, cancel: () => this.#waiters.delete(waiter) }
  }
}

/**
 * The `ready(options?)` of the bus and the tracking invalidator: resolves with `ready`, rejects with
 * `ReadyTimeoutError` after the timeout (its `cause` is `lastError()`, the last connection error seen), with
 * contracts' `PermissionError` as soon as the Redis ACL denied a command it needs (`denial`), or with
 * `ClosedError` when closed first. `options` is `{ timeout? }` as for `close`.
 */
export function boundedReady(
  where: string,
  what: string,
  options: unknown,
  fallback: number,
  state: {
    ready: Promise<void>
    isReady: () => boolean
    closed: Promise<void>
    isClosed: () => boolean
    denial: Denial
  },
  lastError: () => unknown,
): Promise<void> {
  const timeout = closeTimeout(where, options, fallback)
  if (state.isClosed()) return Promise.reject(new ClosedError(what))
  if (state.isReady()) return Promise.resolve()
  if (state.denial.error !== undefined) return Promise.reject(state.denial.error)
  let timer: ReturnType<typeof setTimeout> | undefined
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ReadyTimeoutError(where, what, timeout, lastError())), timeout)
  })
  const closed = state.closed.then(() => {
    throw new ClosedError(what)
  })
  const denied = state.denial.next()
  return Promise.race([state.ready, expired, closed, denied.promise]).finally(() => {
    clearTimeout(timer)
    denied.cancel()
  })
}

/**
 * Reconnection schedule of the connections this package owns (the bus's subscriber, the tracking
 * connection): 50, 100, 200, 400 ms, then every 500 ms, plus up to 50 ms of jitter, whatever the
 * `retryStrategy` of the client they were duplicated from (it may wait far longer: ioredis' default goes up
 * to 5 s, and a missed invalidation is stale data until the subscriber is back).
 * @internal
 */
export function ownRetryDelay(attempt: number): number {
  return Math.min(50 * 2 ** Math.max(0, attempt - 1), 500) + Math.floor(Math.random() * 50)
}

/** Rejects when `p` does not settle within `ms`. @internal */
export function bounded(p: Promise<unknown>, ms: number, what: string): Promise<unknown> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} not answered within ${ms} ms`)), ms)
  })
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer))
}

/**
 * Closes a connection this package owns without ever waiting on a dead server: QUIT (bounded to `timeout`
 * ms) when it is up, else at once.
 * @internal
 */
export async function closeOwned(c: Redis | Cluster, timeout: number = DEFAULT_QUIT_TIMEOUT): Promise<void> {
  if (c.status !== 'ready') {
    c.disconnect()
    return
  }
  try {
    await bounded(c.quit(), timeout, 'QUIT')
  } catch {
    c.disconnect()
  }
}
