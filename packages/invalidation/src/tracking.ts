import type { Redis } from 'ioredis'
import {
  boundedPublish as bounded,
  type Clearable,
  closeOwned,
  type LocalEvictor,
  ownRetryDelay,
} from './bus.js'
import { boundedReady, checkReadyTimeout, connectIfWaiting, DEFAULT_READY_TIMEOUT_MS } from './connect.js'
import { InvalidArgumentError } from './errors.js'
import { checkObject, checkPositive } from './validate.js'

/** Events of a tracking invalidator. */
export type TrackingEvent =
  /** Tracking is on and the invalidation channel subscribed (first time). */
  | { type: 'ready' }
  /** Keys changed in Redis (by any client); their L1 copies were evicted. */
  | { type: 'invalidate'; keys: readonly string[] }
  /**
   * Every L1 was cleared: Redis was flushed (FLUSHDB/FLUSHALL, `flush`); tracking is on again after a
   * connection was lost or tracking was found off or redirected elsewhere (`reconnect`); or tracking is
   * still not on (`disconnected`: repeated every `verifyMs` until it is, since nothing can report a change
   * meanwhile).
   */
  | { type: 'cleared'; reason: 'flush' | 'reconnect' | 'disconnected' }
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
  /**
   * Every `verifyMs` the invalidator checks (`CLIENT TRACKINGINFO`) that tracking is still on and redirected
   * to its own connection, and turns it on again (then clears L1) when not. While tracking is not on (a
   * connection lost, Redis down), it clears L1 at this period, so that a value cached meanwhile, which no
   * invalidation can reach, is not kept. A positive integer (ms).
   * @default 1000
   */
  verifyMs?: number
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
/** Bound of each command the invalidator sends to set tracking up, in ms. */
const COMMAND_MS = 2000

/**
 * Redis client-side caching as an L1 invalidation channel: one connection turns on
 * `CLIENT TRACKING on REDIRECT <its own id> BCAST PREFIX ...` and subscribes to `__redis__:invalidate`, so
 * Redis itself reports every change of a watched key, by ANY client (a script, another service, redis-cli),
 * and the L1 copies are evicted. Beyond the bus, which only hears tierkit's own writers.
 * With `noloop` (the default) tracking is enabled on `redis` itself with `NOLOOP`, so the writes this
 * instance makes through `redis` do not evict its own L1 copies.
 *
 * Tracking lives with a connection: when either connection is lost (or Redis restarts, and client ids start
 * again, so an old REDIRECT id may now name another client), it is set up again on the new connections,
 * verified with `CLIENT TRACKINGINFO`, and L1 is cleared, every time. The invalidator's own connection
 * reconnects on its own schedule (at most every 500 ms), not on your client's `retryStrategy`.
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
  const verifyMs = options.verifyMs ?? 1000
  checkPositive(verifyMs, 'createTrackingInvalidator verifyMs')

  const stats = { messages: 0, evicted: 0, clears: 0 }
  const emit = (e: TrackingEvent): void => {
    try {
      onEvent?.(e)
    } catch {
      // ignore
    }
  }
  const clearAll = (reason: 'flush' | 'reconnect' | 'disconnected'): void => {
    // the caches first: their reads and loads in flight may predate a missed invalidation
    for (const c of caches) {
      try {
        c.evictLocal()
      } catch (error) {
        emit({ type: 'error', error })
      }
    }
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

  // RESP2: invalidations arrive as pub/sub messages on __redis__:invalidate. Our own reconnection schedule.
  const conn = redis.duplicate({
    protocol: 2,
    autoResubscribe: false,
    retryStrategy: ownRetryDelay,
  }) as Redis
  const noloop = options.noloop ?? true
  /** The connection whose tracking state matters: the data client with NOLOOP, else our own. */
  const target = noloop ? redis : conn
  let closed = false
  let once = false
  /** Tracking is on, redirected to `conn`'s current id, and `conn` is subscribed (as far as we know). */
  let confirmed = false
  /** Since tracking was last confirmed, it was (or may have been) off: changes may have been missed. */
  let lost = false
  /** `conn` is subscribed on its current connection. */
  let subscribed = false
  /** `conn`'s current client id (changes with every reconnection). */
  let connId: number | undefined
  let lastError: unknown
  let resolveReady!: () => void
  const ready = new Promise<void>((r) => {
    resolveReady = r
  })

  const call = (c: Redis, ...args: [string, ...Array<string | number>]): Promise<unknown> =>
    bounded(
      Promise.resolve().then(() => c.call(...args)),
      COMMAND_MS,
    )

  const enable = async (id: number): Promise<void> => {
    const args: [string, ...Array<string | number>] = ['CLIENT', 'TRACKING', 'on', 'REDIRECT', id, 'BCAST']
    if (noloop) args.push('NOLOOP')
    for (const p of prefixes) args.push('PREFIX', p)
    // off first: prefixes and REDIRECT replace the previous ones instead of adding to them
    await call(target, 'CLIENT', 'TRACKING', 'off')
    await call(target, ...args)
  }

  /** True when `CLIENT TRACKINGINFO` of the target says: on, BCAST, (NOLOOP), our prefixes, redirected to `id`. */
  const verify = async (id: number): Promise<boolean> => {
    let info: unknown
    try {
      info = await call(target, 'CLIENT', 'TRACKINGINFO')
    } catch (e) {
      if (/unknown subcommand|unknown command/i.test(String((e as Error)?.message))) return true // Redis < 6.2
      throw e
    }
    if (!Array.isArray(info)) return false
    const field = (name: string): unknown => {
      const i = info.findIndex((x, j) => j % 2 === 0 && String(x) === name)
      return i < 0 ? undefined : info[i + 1]
    }
    const flags = (Array.isArray(field('flags')) ? (field('flags') as unknown[]) : []).map(String)
    const redirect = Number(field('redirect'))
    const got = (Array.isArray(field('prefixes')) ? (field('prefixes') as unknown[]) : []).map(String)
    return (
      flags.includes('on') &&
      flags.includes('bcast') &&
      !flags.includes('broken_redirect') &&
      (!noloop || flags.includes('noloop')) &&
      redirect === id &&
      prefixes.every((p) => got.includes(p))
    )
  }

  let running = false
  let again = false
  let retryTimer: ReturnType<typeof setTimeout> | undefined
  /** Moves on with every `ready`/`close` of `conn`: a step that awaited across one starts over. */
  let epoch = 0

  /**
   * Brings tracking to the confirmed state: `conn` subscribed, tracking on the target redirected to
   * `conn`'s current id (verified with CLIENT TRACKINGINFO), then L1 cleared when anything was lost. One
   * run at a time; a failure retries shortly. Triggered by every connection event and by the periodic check.
   */
  const reconcile = async (): Promise<void> => {
    if (closed) return
    if (running) {
      again = true
      return
    }
    running = true
    try {
      do {
        again = false
        if (conn.status !== 'ready') return // conn's 'ready' runs this again
        // the data client's 'ready' runs this again (a lazy one in 'wait' is connected by the command)
        if (noloop && redis.status !== 'ready' && redis.status !== 'wait') return
        const e = epoch
        if (connId === undefined) {
          const id = Number(await call(conn, 'CLIENT', 'ID'))
          if (e !== epoch) {
            again = true
            continue
          }
          connId = id
        }
        const id = connId
        if (!subscribed) {
          if (!noloop) {
            // RESP2: tracking on `conn` itself must be set before it enters subscriber mode
            await enable(id)
            if (!(await verify(id))) throw new Error('CLIENT TRACKING is not on as requested')
          }
          await bounded(conn.subscribe(CHANNEL), COMMAND_MS)
          if (e !== epoch) {
            again = true
            continue
          }
          subscribed = true
        }
        if (noloop && !(await verify(id))) {
          // off, or redirected elsewhere (after a restart client ids start again: an old id may name another client)
          if (confirmed) lost = true
          confirmed = false
          await enable(id)
          if (!(await verify(id))) throw new Error('CLIENT TRACKING is not on as requested')
        }
        if (closed) return
        if (e !== epoch) {
          again = true
          continue
        }
        confirmed = true
        if (!once) {
          once = true
          lost = false
          resolveReady()
          emit({ type: 'ready' })
        } else if (lost) {
          lost = false
          clearAll('reconnect')
        }
      } while (again && !closed)
    } catch (error) {
      lastError = error
      if (!closed) {
        emit({ type: 'error', error })
        clearTimeout(retryTimer)
        retryTimer = setTimeout(() => void reconcile(), 200)
        retryTimer.unref?.()
      }
    } finally {
      running = false
    }
  }

  /** Tracking is (or may be) off: changes are not reported until it is confirmed again. */
  const lose = (): void => {
    if (once) lost = true
    confirmed = false
  }

  // periodic: verify that tracking is still on; while it is not, keep L1 clean
  const periodic = setInterval(() => {
    if (closed) return
    if (once && !confirmed) clearAll('disconnected')
    void reconcile()
  }, verifyMs)
  periodic.unref?.()

  const onDataReady = (): void => {
    if (closed) return
    lose()
    void reconcile()
  }
  const onDataClose = (): void => {
    if (!closed) lose()
  }
  if (noloop) {
    redis.on('ready', onDataReady)
    redis.on('close', onDataClose)
  }

  conn.on('ready', () => {
    if (closed) return
    epoch++
    connId = undefined
    subscribed = false
    void reconcile()
  })
  conn.on('close', () => {
    epoch++
    connId = undefined
    subscribed = false
    if (!closed) lose()
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
      clearInterval(periodic)
      clearTimeout(retryTimer)
      redis.off('ready', onDataReady)
      redis.off('close', onDataClose)
      if (noloop && redis.status === 'ready') {
        await call(redis, 'CLIENT', 'TRACKING', 'off').catch(() => {})
      }
      await closeOwned(conn)
    },
  }
}
