import { randomUUID } from 'node:crypto'
import {
  ClosedError,
  type CloseOptions,
  checkDuration,
  checkFunction,
  checkObject,
  checkString,
  checkStrings,
  closeTimeout,
  invalidArgument,
  refuseRenamed,
} from '@tierkit/contracts'
import type { IoredisLike, NodeRedisClientLike } from '@tierkit/contracts/redis'
import type { Cluster, Redis } from 'ioredis'
import { checkEvictor, checkEvictors, checkRedis, withRedis } from './args.js'
import { Subscriber } from './bus/subscriber.js'
import { TagListeners } from './bus/tag-listeners.js'
import { decodeMessage, encodeMessage } from './bus/wire.js'
import { bounded, boundedReady, DEFAULT_QUIT_TIMEOUT, DEFAULT_READY_TIMEOUT, Denial } from './connect.js'
import { PublishError } from './errors.js'
import { evictEverything, evictKeys } from './evict.js'
import type {
  InvalidationMessage,
  InvalidationPublisher,
  LocalEvictor,
  TagVersionListener,
  TagVersionsMessage,
} from './types.js'

/** A message received from another instance. */
export interface BusMessage {
  /** Keys to evict from L1. */
  readonly keys: readonly string[]
  /** Tags that were invalidated. */
  readonly tags: readonly string[]
  /** `instanceId` of the sender. */
  readonly from: string
  /** The versions of `tags` after the invalidation, when the sender gave them (`createTags` does). */
  readonly tagVersions?: TagVersionsMessage
}

/** What the bus reports through its `onEvent` option. */
export type BusEvent =
  /** The subscriber is subscribed (first time). */
  | { type: 'ready' }
  /** A message from another instance was applied (its keys evicted from every attached cache). */
  | { type: 'message'; message: BusMessage }
  /**
   * The subscriber lost its connection (or, on a Cluster, moved to another node) and is subscribed again:
   * messages may have been lost meanwhile, so `evictLocal()` was called on every attached cache (its L1, its
   * reads and loads in flight); `cleared` counts the caches evicted. Reported after EVERY such loss, however
   * it was detected (a closed connection, a heartbeat that got no answer).
   */
  | { type: 'reconnect'; cleared: number }
  /** A payload on the channel that is not a bus message (ignored). */
  | { type: 'invalid-message'; payload: string }
  /** A swallowed error (a cache that threw on evictLocal, a subscriber connection error). */
  | { type: 'error'; error: unknown }

/** Options of {@link createInvalidationBus}. */
export interface InvalidationBusOptions {
  /**
   * An ioredis `Redis` or `Cluster` you own: used to publish, and duplicated once for the subscriber (not
   * closed by `close()`). A client made with `lazyConnect: true` works: the duplicate is connected at once.
   */
  redis: Redis | Cluster | IoredisLike | NodeRedisClientLike
  /** The pub/sub channel; every instance of one application uses the same. */
  channel: string
  /**
   * Caches evicted when a message arrives (`evictLocal(keys)`) and when the subscriber is back after a loss
   * (`evictLocal()`: everything this process holds, since messages may have been missed; redis-aside's cache
   * clears its L1 then). More can be added with `attach`.
   */
  caches?: readonly LocalEvictor[]
  /** Identity of this instance; its own messages are ignored. @default a random UUID */
  instanceId?: string
  /** Receives every event (see {@link BusEvent}). A listener that throws is ignored. */
  onEvent?: (event: BusEvent) => void
  /**
   * How long `ready()` waits for the subscriber to connect and subscribe before it rejects with
   * `ReadyTimeoutError` (`E_READY_TIMEOUT`), in ms; `ready({ timeout })` overrides it per call.
   * @default 10000
   */
  readyTimeout?: number
  /**
   * Bound of one `publish`, in ms: past it, `publish` rejects with `PublishError` (Redis stopped or
   * unreachable: an ioredis client may otherwise keep the command queued for many seconds).
   * @default 1000
   */
  publishTimeout?: number
  /**
   * Every `heartbeatInterval` ms the subscriber connection is PINGed; when a PING is unanswered for 3
   * periods, the connection is dropped and opened again (then the caches are evicted as on any reconnect).
   * Catches a connection that went silent without closing.
   * @default 1000
   */
  heartbeatInterval?: number
}

/** Counters of a bus. */
export interface BusStats {
  /** Messages published by this instance. */
  published: number
  /** Messages from other instances that were applied. */
  received: number
  /** Own messages seen on the channel and ignored. */
  ignoredOwn: number
  /** Reconnections of the subscriber (each evicted the caches). */
  reconnects: number
}

/** The bus returned by {@link createInvalidationBus}. */
export interface InvalidationBus extends InvalidationPublisher {
  /** Identity of this instance. */
  readonly instanceId: string
  /** The channel. */
  readonly channel: string
  /**
   * Resolves once the subscriber is subscribed (messages published after that are received). Never hangs:
   * each call waits at most `timeout` ms.
   * @param options - `timeout`: the bound of this call, in ms (default: the `readyTimeout` option, 10000)
   * @throws ReadyTimeoutError (`E_READY_TIMEOUT`) when not subscribed in time (e.g. Redis is unreachable);
   * its `cause` is the last connection error. The bus keeps retrying; a later call may resolve.
   * @throws ClosedError (`E_CLOSED`) when the bus is closed (before or while waiting).
   * @throws TierkitTypeError when `options` is not `{ timeout?: number }`.
   */
  ready(options?: CloseOptions): Promise<void>
  /**
   * Tells every OTHER instance to evict `keys` from its L1 (and passes `tags` to their listeners). This
   * instance's own caches are not touched: `cache.delete` already did that.
   * @throws TierkitTypeError on an empty key or tag, or when both lists are empty.
   * @throws PublishError (`E_PUBLISH_FAILED`) when Redis refused it or did not answer within `publishTimeout`.
   * @throws ClosedError (`E_CLOSED`) after `close()`.
   */
  publish(message: InvalidationMessage): Promise<void>
  /**
   * Lets a tags object (`createTags({ bus })` calls it) learn the tag versions other instances announce, and
   * whether the subscription is up (told at once, then on every change). Returns a function that detaches it.
   * @throws ClosedError after `close()`.
   */
  attachTags(listener: TagVersionListener): () => void
  /**
   * Evicts on messages (and after a lost subscription) for one more cache. Returns a function that detaches it.
   * @throws ClosedError after `close()`.
   */
  attach(cache: LocalEvictor): () => void
  /** Counters (still readable after `close()`). */
  stats(): BusStats
  /**
   * Unsubscribes and closes the subscriber connection (QUIT, at most `timeout` ms, default 1000; then the
   * connection is dropped). Idempotent: a second call returns the first one's promise. Later calls of
   * `publish`, `ready` and `attach` throw `ClosedError`.
   */
  close(options?: CloseOptions): Promise<void>
}

/**
 * Cross-instance L1 invalidation over Redis pub/sub. `publish({ keys })` evicts those keys from the L1 of
 * every other instance (`cache.evictLocal(keys)`); an instance ignores its own messages (they carry its
 * `instanceId`); whenever the subscriber loses its subscription and gets it back, it calls `evictLocal()` on
 * every cache (messages may have been lost while it was away; redis-aside's cache clears its L1 and drops its
 * reads and loads in flight) and reports `{ type: 'reconnect' }`.
 *
 * The subscriber connection is the bus's own: on a single Redis a duplicate of `redis`, on a Cluster a
 * connection to one of its nodes (PUBLISH reaches every node), moved to another node when that one fails.
 * It reconnects on its own schedule (at most every 500 ms), not on your client's `retryStrategy`.
 * @throws TierkitTypeError (`E_INVALID_ARGUMENT`) when an option is invalid.
 * @example
 * const cache = createCache({ redis, l1: new L1Cache({ max: 10_000 }), namespace: 'users', ttl: 60_000 })
 * const bus = createInvalidationBus({ redis, channel: 'app:invalidate', caches: [cache] })
 * await bus.ready()
 */
export function createInvalidationBus(options: InvalidationBusOptions): InvalidationBus {
  const o = withRedis('createInvalidationBus', checkOptions(options)) // checked first, as tracking's
  const { channel, instanceId, caches } = o
  const stats: BusStats = { published: 0, received: 0, ignoredOwn: 0, reconnects: 0 }
  const emit = emitter(o.onEvent)
  // an ACL denial (SUBSCRIBE, PING) is reported as contracts' PermissionError and rejects ready() at once
  const denial = new Denial()
  const onError = (error: unknown): void => emit({ type: 'error', error: denial.note(error) })
  const { promise: readyPromise, resolve: resolveReady } = signal()
  const tagListeners = new TagListeners(onError)
  const subscriber = new Subscriber(o.redis, channel, o.heartbeatInterval, {
    ready() {
      tagListeners.subscription(true)
      resolveReady()
      emit({ type: 'ready' })
    },
    recovered() {
      // messages may have been lost while the subscription was away: every cache is evicted
      stats.reconnects++
      tagListeners.subscription(true)
      emit({ type: 'reconnect', cleared: evictEverything(caches, onError) })
    },
    lost: () => tagListeners.subscription(false),
    message: (ch, payload) => onMessage(o, stats, emit, ch, payload, tagListeners),
    error: onError,
  })
  let closing: Promise<void> | undefined
  const { promise: closedPromise, resolve: signalClosed } = signal()
  return {
    instanceId,
    channel,
    async ready(options) {
      return boundedReady(
        'bus.ready',
        'the invalidation bus',
        options,
        o.readyTimeout,
        {
          ready: readyPromise,
          isReady: () => subscriber.everSubscribed,
          closed: closedPromise,
          isClosed: () => closing !== undefined,
          denial,
        },
        () => subscriber.lastError,
      )
    },
    async publish(message) {
      if (closing !== undefined) throw new ClosedError('the invalidation bus')
      await publish(o, message)
      stats.published++
    },
    attach(cache) {
      if (closing !== undefined) throw new ClosedError('the invalidation bus')
      checkEvictor('bus.attach', 'cache', cache)
      caches.add(cache)
      return () => {
        caches.delete(cache)
      }
    },
    attachTags(listener) {
      if (closing !== undefined) throw new ClosedError('the invalidation bus')
      return tagListeners.attach(listener, subscriber.isSubscribed)
    },
    stats: () => ({ ...stats }),
    close(options) {
      if (closing !== undefined) return closing
      let timeout: number
      try {
        timeout = closeTimeout('bus.close', options, DEFAULT_QUIT_TIMEOUT)
      } catch (e) {
        return Promise.reject(e)
      }
      closing = subscriber.close(timeout)
      tagListeners.close()
      signalClosed()
      return closing
    },
  }
}

/** A promise and the function that resolves it. */
function signal(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void
  const promise = new Promise<void>((r) => {
    resolve = r
  })
  return { promise, resolve }
}

/** Reports events to `onEvent`; a listener that throws is ignored. */
function emitter(onEvent: ((event: BusEvent) => void) | undefined): (event: BusEvent) => void {
  return (event) => {
    if (onEvent === undefined) return
    try {
      onEvent(event)
    } catch {
      // a listener must not break the bus
    }
  }
}

/** The bus's options, checked and resolved. */
interface BusConfig {
  readonly redis: Redis | Cluster
  readonly channel: string
  readonly instanceId: string
  /** The attached caches (`attach` adds to them). */
  readonly caches: Set<LocalEvictor>
  readonly onEvent: ((event: BusEvent) => void) | undefined
  readonly readyTimeout: number
  readonly publishTimeout: number
  readonly heartbeatInterval: number
}

function checkOptions(options: InvalidationBusOptions): BusConfig {
  const where = 'createInvalidationBus'
  checkObject(where, 'options', options)
  refuseRenamed(where, options, {
    l1: 'removed: list the cache in caches, its evictLocal() clears its L1',
    readyTimeoutMs: 'renamed readyTimeout',
    publishTimeoutMs: 'renamed publishTimeout',
    heartbeatMs: 'renamed heartbeatInterval',
  })
  const { redis, channel, onEvent } = options
  checkRedis(where, redis)
  checkString(where, 'channel', channel)
  const instanceId = options.instanceId ?? randomUUID()
  checkString(where, 'instanceId', instanceId)
  const caches = new Set<LocalEvictor>(
    options.caches === undefined ? [] : checkEvictors(where, options.caches),
  )
  checkFunction(where, 'onEvent', onEvent, true)
  const readyTimeout = checkDuration(where, 'readyTimeout', options.readyTimeout ?? DEFAULT_READY_TIMEOUT)
  const publishTimeout = checkDuration(where, 'publishTimeout', options.publishTimeout ?? 1000, 1)
  const heartbeatInterval = checkDuration(where, 'heartbeatInterval', options.heartbeatInterval ?? 1000, 1)
  return { redis, channel, instanceId, caches, onEvent, readyTimeout, publishTimeout, heartbeatInterval }
}

/** A message on the channel: ignored when it is our own or not a bus message, else its keys are evicted. */
function onMessage(
  o: BusConfig,
  stats: BusStats,
  emit: (event: BusEvent) => void,
  ch: string,
  payload: string,
  tagListeners: TagListeners,
): void {
  if (ch !== o.channel) return
  const w = decodeMessage(payload)
  if (w === undefined) {
    emit({ type: 'invalid-message', payload: payload.slice(0, 200) })
    return
  }
  if (w.i === o.instanceId) {
    stats.ignoredOwn++
    return
  }
  // an empty key names no entry (the family's caches refuse one), as the tracking invalidator drops it too
  const keys = w.k === undefined ? [] : w.k.filter((k) => k.length > 0)
  if (keys.length > 0) evictKeys(o.caches, keys, (error) => emit({ type: 'error', error }))
  const tags = w.t ?? []
  const tagVersions = w.v !== undefined && w.s !== undefined ? { hard: w.v, soft: w.s } : undefined
  if (tags.length > 0) tagListeners.tagVersions(tags, tagVersions)
  stats.received++
  const message: BusMessage =
    tagVersions === undefined ? { keys, tags, from: w.i } : { keys, tags, from: w.i, tagVersions }
  emit({ type: 'message', message })
}

/** Checks and publishes one message, bounded by `publishTimeout`. */
async function publish(o: BusConfig, message: InvalidationMessage): Promise<void> {
  checkObject('bus.publish', 'message', message)
  const keys = message.keys ?? []
  const tags = message.tags ?? []
  checkStrings('bus.publish', 'message.keys', keys)
  checkStrings('bus.publish', 'message.tags', tags)
  if (keys.length === 0 && tags.length === 0) {
    throw invalidArgument('bus.publish', 'message', 'an object with at least one key or tag', message)
  }
  const versions = message.tagVersions
  if (versions !== undefined) checkTagVersions(versions, tags.length)
  const payload = encodeMessage(o.instanceId, keys, tags, versions)
  try {
    await bounded(
      Promise.resolve().then(() => o.redis.publish(o.channel, payload)),
      o.publishTimeout,
      'PUBLISH',
    )
  } catch (e) {
    throw new PublishError(o.channel, e)
  }
}

/** `message.tagVersions`: as many hard versions and soft stamps as tags, each an integer >= 0. */
function checkTagVersions(v: TagVersionsMessage, n: number): void {
  const ok = (a: unknown): boolean =>
    Array.isArray(a) && a.length === n && a.every((x) => Number.isSafeInteger(x) && (x as number) >= 0)
  if (typeof v !== 'object' || v === null || !ok(v.hard) || !ok(v.soft)) {
    throw invalidArgument(
      'bus.publish',
      'message.tagVersions',
      `{ hard, soft }, each an array of ${n} integers >= 0 (one per tag)`,
      v,
    )
  }
}
