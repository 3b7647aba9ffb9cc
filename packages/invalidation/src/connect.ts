import type { Cluster, Redis } from 'ioredis'
import { ReadyTimeoutError } from './errors.js'
import { checkPositive } from './validate.js'

/** Default bound of `ready()` on the bus and the tracking invalidator, in ms. */
export const DEFAULT_READY_TIMEOUT_MS = 10_000

/**
 * Starts connecting a duplicated connection that is still waiting for its first command. A duplicate
 * inherits the options of the user's client, `lazyConnect: true` included; a subscriber never sends a
 * command before its `ready` event, so without this it would wait forever. Connection errors are not
 * lost: ioredis reports them as `error` events (attach the listener first) and keeps retrying.
 */
export function connectIfWaiting(conn: Redis | Cluster): void {
  if (conn.status === 'wait') conn.connect().catch(() => {})
}

/** Checks a `readyTimeoutMs` option or argument (a positive finite number of ms). */
export function checkReadyTimeout(v: unknown, name: string): number {
  checkPositive(v, name, false)
  return v
}

/**
 * A `ready()` bounded in time: resolves with `ready`, or rejects with `ReadyTimeoutError` after `timeoutMs`
 * (its `cause` is `lastError()`, the last connection error seen, if any).
 */
export function boundedReady(
  ready: Promise<void>,
  what: string,
  timeoutMs: number,
  lastError: () => unknown,
): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ReadyTimeoutError(what, timeoutMs, lastError())), timeoutMs)
  })
  return Promise.race([ready, timeout]).finally(() => clearTimeout(timer))
}
