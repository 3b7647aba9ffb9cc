import { ClosedError, closeTimeout } from '@tierkit/contracts'
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
 * The `ready(options?)` of the bus and the tracking invalidator: resolves with `ready`, rejects with
 * `ReadyTimeoutError` after the timeout (its `cause` is `lastError()`, the last connection error seen), or with
 * `ClosedError` when closed first. `options` is `{ timeout? }` as for `close`.
 */
export function boundedReady(
  where: string,
  what: string,
  options: unknown,
  fallback: number,
  state: { ready: Promise<void>; isReady: () => boolean; closed: Promise<void>; isClosed: () => boolean },
  lastError: () => unknown,
): Promise<void> {
  const timeout = closeTimeout(where, options, fallback)
  if (state.isClosed()) return Promise.reject(new ClosedError(what))
  if (state.isReady()) return Promise.resolve()
  let timer: ReturnType<typeof setTimeout> | undefined
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ReadyTimeoutError(where, what, timeout, lastError())), timeout)
  })
  const closed = state.closed.then(() => {
    throw new ClosedError(what)
  })
  return Promise.race([state.ready, expired, closed]).finally(() => clearTimeout(timer))
}
