import {
  type CloseOptions,
  checkDuration,
  checkFunction,
  checkObject,
  checkStrings,
  closeTimeout,
  refuseRenamed,
} from '@tierkit/contracts'
import type { IoredisLike, NodeRedisClientLike, UnsupportedServerError } from '@tierkit/contracts/redis'
import type { Cluster, Redis } from 'ioredis'
import { checkEvictors, checkRedis, withRedis } from './args.js'

import { boundedReady, DEFAULT_QUIT_TIMEOUT, DEFAULT_READY_TIMEOUT, Denial } from './connect.js'
import { evictEverything, evictKeys } from './evict.js'
import { ClusterTracking, type Tracker } from './tracking/cluster.js'
import { CHANNEL, decodeInvalidation } from './tracking/messages.js'
import { type SessionHooks, TrackingSession } from './tracking/session.js'
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
   * An ioredis `Redis` (duplicated once, RESP2) or `Cluster` (one tracking session per master, on the Cluster's
   * own connection to it, following slot moves, failovers and replaced nodes); not closed. A client made with
   * `lazyConnect: true` works: the duplicate is connected at once.
   */
  redis: Redis | Cluster | IoredisLike | NodeRedisClientLike
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
   * @throws UnsupportedServerError (`E_UNSUPPORTED_SERVER`, from `@tierkit/contracts/redis`) when the server
   * cannot track for this channel (Dragonfly: no REDIRECT, BCAST or PREFIX); the invalidator has stopped and
   * every later call throws it too: use the bus.
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
  // checked first: a refused call wraps (and so connects) no node-redis client
  const o = withRedis('createTrackingInvalidator', checkOptions(options))
  const stats: TrackingStats = { messages: 0, evicted: 0, clears: 0 }
  // an ACL denial (CLIENT TRACKING, SUBSCRIBE...) is reported as contracts' PermissionError and rejects ready() at once
  const denial = new Denial()
  const { hooks, ready } = trackingHooks(o, stats, () => session, denial)
  // a Cluster: one session per master, following the topology; a single server: one session
  const session: Tracker =
    (o.redis as { isCluster?: boolean }).isCluster === true
      ? new ClusterTracking(o.redis as Cluster, o.prefixes, o.noloop, o.verifyInterval, hooks)
      : new TrackingSession(o.redis as Redis, o.prefixes, o.noloop, o.verifyInterval, hooks)
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
        o.readyTimeout,
        {
          ready,
          isReady: () => session.once,
          closed: closedPromise,
          isClosed: () => closing !== undefined,
          denial,
        },
        () => session.lastError,
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
      signalClosed()
      closing = session.close(timeout)
      return closing
    },
  }
}

/**
 * What the session(s) tell the invalidator, turned into evictions, clears and events; `ready` settles once: on
 * with the first confirmation, or refused for good by a server that cannot track (Dragonfly).
 */
function trackingHooks(
  o: TrackingConfig,
  stats: TrackingStats,
  session: () => Tracker,
  denial: Denial,
): { hooks: SessionHooks; ready: Promise<void> } {
  const emit = (e: TrackingEvent): void => {
    try {
      o.onEvent?.(e)
    } catch {
      // ignore
    }
  }
  const onError = (error: unknown): void => emit({ type: 'error', error: denial.note(error) })
  const clearAll = (reason: 'flush' | 'reconnect' | 'disconnected'): void => {
    // the caches first: their reads and loads in flight may predate a missed invalidation
    evictEverything(o.caches, onError)
    stats.clears++
    emit({ type: 'cleared', reason })
  }
  let resolveReady!: () => void
  let refuse!: (error: UnsupportedServerError) => void
  // settles once: on with the first confirmation, or refused for good by a server that cannot track (Dragonfly)
  const ready = new Promise<void>((resolve, reject) => {
    resolveReady = resolve
    refuse = reject
  })
  ready.catch(() => {})
  const hooks: SessionHooks = {
    ready() {
      resolveReady()
      emit({ type: 'ready' })
    },
    recovered: () => clearAll('reconnect'),
    disconnected: () => clearAll('disconnected'),
    message(channel, payload) {
      if (channel.toString() !== CHANNEL) return
      stats.messages++
      const keys = decodeInvalidation(payload, o.toKey, onError)
      if (keys === 'flush') return clearAll('flush') // a null payload means the whole database was flushed
      if (keys.length === 0) return
      evictKeys(o.caches, keys, onError)
      stats.evicted += keys.length
      emit({ type: 'invalidate', keys })
    },
    error: onError,
    unsupported(error) {
      refuse(error)
      emit({ type: 'error', error })
      void session().close(DEFAULT_QUIT_TIMEOUT)
    },
  }
  return { hooks, ready }
}

/** The invalidator's options, checked and resolved. */
interface TrackingConfig {
  readonly redis: Redis | Cluster
  readonly prefixes: readonly string[]
  readonly toKey: (redisKey: string) => string | undefined
  readonly caches: readonly LocalEvictor[]
  readonly noloop: boolean
  readonly onEvent: ((event: TrackingEvent) => void) | undefined
  readonly readyTimeout: number
  readonly verifyInterval: number
}

function checkOptions(options: TrackingOptions): TrackingConfig {
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
  const noloop = options.noloop ?? true
  return { redis, prefixes, toKey, caches, noloop, onEvent, readyTimeout, verifyInterval }
}
