import type { Redis } from 'ioredis'
import type { Clearable, LocalEvictor } from './bus.js'
import { boundedReady, checkReadyTimeout, connectIfWaiting, DEFAULT_READY_TIMEOUT_MS } from './connect.js'
import { InvalidArgumentError } from './errors.js'
import { checkObject } from './validate.js'

/** Events of a tracking invalidator. */
export type TrackingEvent =
  /** Tracking is on and the invalidation channel subscribed (first time). */
  | { type: 'ready' }
  /** Keys changed in Redis (by any client); their L1 copies were evicted. */
  | { type: 'invalidate'; keys: readonly string[] }
  /** Redis was flushed (FLUSHDB/FLUSHALL) or the connection came back: every L1 was cleared. */
  | { type: 'cleared'; reason: 'flush' | 'reconnect' }
  /** A swallowed error. */
  | { type: 'error'; error: unknown }

/** Options of {@link createTrackingInvalidator}. */
export interface TrackingOptions {
  /**
   * An ioredis `Redis` (a single server; on a Cluster use the bus). Duplicated once (RESP2); not closed. A
   * client made with `lazyConnect: true` works: the duplicate is connected at once.
   */
  redis: Redis
  /** Key prefixes to watch (Redis `CLIENT TRACKING ... BCAST PREFIX`), e.g. the Redis key prefix of a cache namespace. */
  prefixes: readonly string[]
  /** Maps a changed Redis key to the cache key to evict (`undefined`: ignore it). */
  toKey: (redisKey: string) => string | undefined
  /** Caches whose L1 copies are evicted. */
  caches: readonly LocalEvictor[]
  /** L1 stores cleared when Redis is flushed or the connection comes back (notifications may have been missed). */
  l1?: readonly Clearable[]
  /**
   * Turn tracking on for `redis` itself with `NOLOOP` (and re-enable it whenever that client reconnects),
   * so writes made through `redis`, e.g. by the cache, do not evict this instance's own fresh L1 copies.
   * With `false`, tracking is on the invalidator's own connection and every write is reported, own ones too.
   * @default true
   */
  noloop?: boolean
  /** Receives events. Must not throw. */
  onEvent?: (event: TrackingEvent) => void
  /**
   * How long `ready()` waits for tracking to be on before it rejects with `ReadyTimeoutError`
   * (`E_READY_TIMEOUT`), in ms. A positive finite number; `ready(ms)` overrides it per call.
   * @default 10000
   */
  readyTimeoutMs?: number
}

/** A running tracking invalidator. */
export interface TrackingInvalidator {
  /**
   * Resolves once tracking is on (changes made after that are reported); at once after `close()`. Never
   * hangs: each call waits at most `timeoutMs`.
   * @param timeoutMs the bound of this call, in ms. @default the `readyTimeoutMs` option (10000)
   * @throws ReadyTimeoutError (`E_READY_TIMEOUT`) when tracking is not on within `timeoutMs` (e.g. Redis is
   * unreachable); its `cause` is the last connection error. It keeps retrying; a later call may resolve.
   * @throws InvalidArgumentError when `timeoutMs` is not a positive finite number.
   */
  ready(timeoutMs?: number): Promise<void>
  /** Counters: invalidation messages and keys evicted, clears. */
  stats(): { messages: number; evicted: number; clears: number }
  /** Turns tracking off and closes the connection. Idempotent. */
  close(): Promise<void>
}

const CHANNEL = '__redis__:invalidate'

/**
 * Redis client-side caching as an L1 invalidation channel: one connection turns on
 * `CLIENT TRACKING on REDIRECT <its own id> BCAST PREFIX ...` and subscribes to `__redis__:invalidate`, so
 * Redis itself reports every change of a watched key, by ANY client (a script, another service, redis-cli),
 * and the L1 copies are evicted. Beyond the bus, which only hears tierkit's own writers.
 * With `noloop` (the default) tracking is enabled on `redis` itself with `NOLOOP`, so the writes this
 * instance makes through `redis` do not evict its own L1 copies.
 * @throws InvalidArgumentError when an option is invalid.
 * @example
 * const tracking = createTrackingInvalidator({
 *   redis, prefixes: ['ra:5:users:v:'], toKey: (k) => parseRedisKey(k)?.key, caches: [cache], l1: [l1],
 * })
 */
export function createTrackingInvalidator(options: TrackingOptions): TrackingInvalidator {
  checkObject(options, 'createTrackingInvalidator options')
  const { redis, toKey, onEvent } = options
  if (typeof redis !== 'object' || redis === null || typeof redis.duplicate !== 'function') {
    throw new InvalidArgumentError('createTrackingInvalidator: redis must be an ioredis Redis')
  }
  const prefixes = options.prefixes
  if (
    !Array.isArray(prefixes) ||
    prefixes.length === 0 ||
    prefixes.some((p) => typeof p !== 'string' || p.length === 0)
  ) {
    throw new InvalidArgumentError(
      'createTrackingInvalidator: prefixes must be a non-empty array of non-empty strings',
    )
  }
  if (typeof toKey !== 'function')
    throw new InvalidArgumentError('createTrackingInvalidator: toKey must be a function')
  const caches = [...(options.caches ?? [])]
  if (caches.some((c) => typeof c?.evictLocal !== 'function')) {
    throw new InvalidArgumentError('createTrackingInvalidator: every cache must have an evictLocal method')
  }
  const l1s = [...(options.l1 ?? [])]
  if (l1s.some((c) => typeof c?.clear !== 'function')) {
    throw new InvalidArgumentError('createTrackingInvalidator: every l1 must have a clear method')
  }
  const readyTimeoutMs = checkReadyTimeout(
    options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS,
    'readyTimeoutMs',
  )

  const stats = { messages: 0, evicted: 0, clears: 0 }
  const emit = (e: TrackingEvent): void => {
    try {
      onEvent?.(e)
    } catch {
      // ignore
    }
  }
  const clearAll = (reason: 'flush' | 'reconnect'): void => {
    for (const l1 of l1s) {
      try {
        l1.clear()
      } catch (error) {
        emit({ type: 'error', error })
      }
    }
    stats.clears++
    emit({ type: 'cleared', reason })
  }

  // RESP2: invalidations arrive as pub/sub messages on __redis__:invalidate
  const conn = redis.duplicate({ protocol: 2, autoResubscribe: false }) as Redis
  let closed = false
  let once = false
  let lost = false
  let lastError: unknown
  let resolveReady!: () => void
  const ready = new Promise<void>((r) => {
    resolveReady = r
  })

  const noloop = options.noloop ?? true
  let redirectId: number | undefined

  const enable = async (target: Redis, id: number): Promise<void> => {
    const args: Array<string | number> = ['CLIENT', 'TRACKING', 'on', 'REDIRECT', id, 'BCAST']
    if (noloop) args.push('NOLOOP')
    for (const p of prefixes) args.push('PREFIX', p)
    if (noloop) await target.call('CLIENT', 'TRACKING', 'off').catch(() => {})
    await target.call(...(args as [string, ...Array<string | number>]))
  }

  const setup = async (): Promise<void> => {
    try {
      const id = (await conn.call('CLIENT', 'ID')) as number
      redirectId = id
      if (!noloop) await enable(conn, id)
      await conn.subscribe(CHANNEL)
      if (noloop) await enable(redis, id)
    } catch (error) {
      lastError = error
      if (!closed) emit({ type: 'error', error })
      return
    }
    if (!once) {
      once = true
      resolveReady()
      emit({ type: 'ready' })
    } else if (lost) {
      lost = false
      clearAll('reconnect')
    }
  }

  // the data client lost its tracking state when it reconnected: turn it on again, and clear L1
  const onDataReady = (): void => {
    if (closed || !noloop || !once || redirectId === undefined) return
    enable(redis, redirectId).then(
      () => clearAll('reconnect'),
      (error: unknown) => emit({ type: 'error', error }),
    )
  }
  if (noloop) redis.on('ready', onDataReady)

  conn.on('ready', () => {
    if (!closed) void setup()
  })
  conn.on('close', () => {
    if (once) lost = true
  })
  conn.on('error', (error: unknown) => {
    lastError = error
    if (!closed) emit({ type: 'error', error })
  })
  conn.on('messageBuffer', (channel: Buffer, payload: unknown) => {
    if (channel.toString() !== CHANNEL) return
    stats.messages++
    if (!Array.isArray(payload)) {
      clearAll('flush') // a null payload means the whole database was flushed
      return
    }
    const keys: string[] = []
    for (const raw of payload) {
      let k: string | undefined
      try {
        k = toKey(String(raw))
      } catch (error) {
        emit({ type: 'error', error })
      }
      if (typeof k === 'string' && k.length > 0) keys.push(k)
    }
    if (keys.length === 0) return
    for (const c of caches) {
      try {
        c.evictLocal(keys)
      } catch (error) {
        emit({ type: 'error', error })
      }
    }
    stats.evicted += keys.length
    emit({ type: 'invalidate', keys })
  })

  // a duplicate of a `lazyConnect: true` client waits for a first command that is only sent on `ready`
  connectIfWaiting(conn)

  return {
    async ready(timeoutMs = readyTimeoutMs) {
      const ms = checkReadyTimeout(timeoutMs, 'tracking.ready timeoutMs')
      if (once || closed) return ready
      return boundedReady(ready, 'the tracking invalidator', ms, () => lastError)
    },
    stats: () => ({ ...stats }),
    async close() {
      if (closed) return
      closed = true
      resolveReady()
      redis.off('ready', onDataReady)
      if (noloop) await redis.call('CLIENT', 'TRACKING', 'off').catch(() => {})
      try {
        await conn.quit()
      } catch {
        conn.disconnect()
      }
    },
  }
}
