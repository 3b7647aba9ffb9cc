import {
  type CloseOptions,
  checkDuration,
  checkFunction,
  checkObject,
  checkStrings,
  closeTimeout,
  refuseRenamed,
} from '@tierkit/contracts'
import type { Redis } from 'ioredis'
import { checkEvictors, checkRedis } from './args.js'
import { bounded, closeOwned, ownRetryDelay } from './bus.js'
import { boundedReady, connectIfWaiting, DEFAULT_QUIT_TIMEOUT, DEFAULT_READY_TIMEOUT } from './connect.js'
import type { LocalEvictor } from './types.js'

/** Events of a tracking invalidator. */
export type TrackingEvent =
  /** Tracking is on and the invalidation channel subscribed (first time). */
  | { type: 'ready' }
  /** Keys changed in Redis (by any client); their L1 copies were evicted. */
  | { type: 'invalidate'; keys: readonly string[] }
  /**
   * Every cache was evicted (`evictLocal()`: its L1, its reads and loads in flight): Redis was flushed
   * (FLUSHDB/FLUSHALL, `flush`); tracking is on again after a connection was lost or tracking was found off
   * or redirected elsewhere (`reconnect`); or tracking is still not on (`disconnected`: repeated every
   * `verifyInterval` until it is, since nothing can report a change meanwhile).
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
  /**
   * Caches evicted: `evictLocal(keys)` for the keys that changed; `evictLocal()` (everything this process
   * holds: redis-aside's cache clears its L1) when Redis is flushed or a connection comes back, since
   * notifications may have been missed.
   */
  caches: readonly LocalEvictor[]
  /**
   * Turn tracking on for `redis` itself with `NOLOOP` (and re-enable it whenever that client reconnects),
   * so writes made through `redis`, e.g. by the cache, do not evict this instance's own fresh L1 copies.
   * With `false`, tracking is on the invalidator's own connection and every write is reported, own ones too.
   * @default true
   */
  noloop?: boolean
  /** Receives events (see {@link TrackingEvent}). A listener that throws is ignored. */
  onEvent?: (event: TrackingEvent) => void
  /**
   * How long `ready()` waits for tracking to be on before it rejects with `ReadyTimeoutError`
   * (`E_READY_TIMEOUT`), in ms; `ready({ timeout })` overrides it per call.
   * @default 10000
   */
  readyTimeout?: number
  /**
   * Every `verifyInterval` ms the invalidator checks (`CLIENT TRACKINGINFO`) that tracking is still on and
   * redirected to its own connection, and turns it on again (then evicts the caches) when not. While
   * tracking is not on (a connection lost, Redis down), it evicts the caches at this period, so that a value
   * cached meanwhile, which no invalidation can reach, is not kept.
   * @default 1000
   */
  verifyInterval?: number
}

/** A running tracking invalidator. */
export interface TrackingInvalidator {
  /**
   * Resolves once tracking is on (changes made after that are reported). Never hangs: each call waits at
   * most `timeout` ms.
   * @param options - `timeout`: the bound of this call, in ms (default: the `readyTimeout` option, 10000)
   * @throws ReadyTimeoutError (`E_READY_TIMEOUT`) when tracking is not on in time (e.g. Redis is
   * unreachable); its `cause` is the last connection error. It keeps retrying; a later call may resolve.
   * @throws ClosedError (`E_CLOSED`) when the invalidator is closed (before or while waiting).
   * @throws TierkitTypeError when `options` is not `{ timeout?: number }`.
   */
  ready(options?: CloseOptions): Promise<void>
  /** Counters: invalidation messages and keys evicted, clears (still readable after `close()`). */
  stats(): TrackingStats
  /**
   * Turns tracking off and closes the connection (each step bounded by `timeout` ms, default 1000).
   * Idempotent: a second call returns the first one's promise. Later `ready()` calls throw `ClosedError`.
   */
  close(options?: CloseOptions): Promise<void>
}

/** Counters of a tracking invalidator. */
export interface TrackingStats {
  /** Invalidation messages received from Redis. */
  messages: number
  /** Keys evicted from the caches. */
  evicted: number
  /** Times every cache was evicted (flush, reconnect, tracking off). */
  clears: number
}

const CHANNEL = '__redis__:invalidate'
/** Bound of each command the invalidator sends to set tracking up, in ms. */
const COMMAND_TIMEOUT = 2000

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
 * @throws TierkitTypeError (`E_INVALID_ARGUMENT`) when an option is invalid.
 * @example
 * const tracking = createTrackingInvalidator({
 *   redis, prefixes: ['ra:5:users:v:'], toKey: (k) => parseRedisKey(k)?.key, caches: [cache],
 * })
 */
export function createTrackingInvalidator(options: TrackingOptions): TrackingInvalidator {
  const where = 'createTrackingInvalidator'
  checkObject(where, 'options', options)
  refuseRenamed(where, options, {
    l1: 'removed: list the cache in caches, its evictLocal() clears its L1',
    readyTimeoutMs: 'renamed readyTimeout',
    verifyMs: 'renamed verifyInterval',
  })
  const { redis, toKey, onEvent } = options
  checkRedis(where, redis)
  const prefixes = checkStrings(where, 'prefixes', options.prefixes, true)
  checkFunction(where, 'toKey', toKey)
  const caches = [...checkEvictors(where, options.caches)]
  checkFunction(where, 'onEvent', onEvent, true)
  const readyTimeout = checkDuration(where, 'readyTimeout', options.readyTimeout ?? DEFAULT_READY_TIMEOUT)
  const verifyInterval = checkDuration(where, 'verifyInterval', options.verifyInterval ?? 1000, 1)

  const stats: TrackingStats = { messages: 0, evicted: 0, clears: 0 }
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
      COMMAND_TIMEOUT,
      args.join(' '),
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
          await bounded(conn.subscribe(CHANNEL), COMMAND_TIMEOUT, 'SUBSCRIBE')
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
  }, verifyInterval)
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

  let signalClosed!: () => void
  const closedPromise = new Promise<void>((r) => {
    signalClosed = r
  })
  let closing: Promise<void> | undefined

  return {
    async ready(options) {
      return boundedReady(
        'tracking.ready',
        'the tracking invalidator',
        options,
        readyTimeout,
        { ready, isReady: () => once, closed: closedPromise, isClosed: () => closed },
        () => lastError,
      )
    },
    stats: () => ({ ...stats }),
    close(options) {
      if (closing !== undefined) return closing
      let timeout: number
      try {
        timeout = closeTimeout('tracking.close', options, DEFAULT_QUIT_TIMEOUT)
      } catch (e) {
        return Promise.reject(e)
      }
      closed = true
      signalClosed()
      clearInterval(periodic)
      clearTimeout(retryTimer)
      redis.off('ready', onDataReady)
      redis.off('close', onDataClose)
      closing = (async () => {
        if (noloop && redis.status === 'ready') {
          await bounded(
            Promise.resolve().then(() => redis.call('CLIENT', 'TRACKING', 'off')),
            timeout,
            'CLIENT TRACKING off',
          ).catch(() => {})
        }
        await closeOwned(conn, timeout)
      })()
      return closing
    },
  }
}
