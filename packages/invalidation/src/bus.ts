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
import type { Cluster, Redis } from 'ioredis'
import { checkEvictor, checkEvictors, checkRedis } from './args.js'
import { boundedReady, connectIfWaiting, DEFAULT_QUIT_TIMEOUT, DEFAULT_READY_TIMEOUT } from './connect.js'
import { PublishError } from './errors.js'
import type { InvalidationPublisher, LocalEvictor } from './types.js'

/** A message received from another instance. */
export interface BusMessage {
  /** Keys to evict from L1. */
  readonly keys: readonly string[]
  /** Tags that were invalidated. */
  readonly tags: readonly string[]
  /** `instanceId` of the sender. */
  readonly from: string
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
  redis: Redis | Cluster
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
  publish(message: { keys?: readonly string[]; tags?: readonly string[] }): Promise<void>
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

interface Wire {
  i: string
  k?: string[]
  t?: string[]
}

function parse(payload: string): Wire | undefined {
  let m: unknown
  try {
    m = JSON.parse(payload)
  } catch {
    return undefined
  }
  if (typeof m !== 'object' || m === null) return undefined
  const w = m as Record<string, unknown>
  if (typeof w.i !== 'string') return undefined
  const strings = (v: unknown): boolean =>
    v === undefined || (Array.isArray(v) && v.every((x) => typeof x === 'string'))
  if (!strings(w.k) || !strings(w.t)) return undefined
  return w as unknown as Wire
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

function isCluster(redis: Redis | Cluster): redis is Cluster {
  return (redis as { isCluster?: unknown }).isCluster === true
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

  const stats: BusStats = { published: 0, received: 0, ignoredOwn: 0, reconnects: 0 }
  let closed = false
  let closing: Promise<void> | undefined
  let everSubscribed = false
  /** Since the last confirmed subscription, the subscription was lost at least once (messages may be missed). */
  let missed = false
  let lastError: unknown

  const emit = (event: BusEvent): void => {
    if (onEvent === undefined) return
    try {
      onEvent(event)
    } catch {
      // a listener must not break the bus
    }
  }
  let signalClosed!: () => void
  const closedPromise = new Promise<void>((r) => {
    signalClosed = r
  })

  let resolveReady!: () => void
  const readyPromise = new Promise<void>((r) => {
    resolveReady = r
  })

  const evictAll = (): void => {
    stats.reconnects++
    let cleared = 0
    // every cache: its L1, and its reads and loads in flight, which may predate a missed message
    for (const c of caches) {
      try {
        c.evictLocal()
        cleared++
      } catch (e) {
        emit({ type: 'error', error: e })
      }
    }
    emit({ type: 'reconnect', cleared })
  }

  const onMessage = (ch: string, payload: string): void => {
    if (ch !== channel) return
    const w = parse(payload)
    if (w === undefined) {
      emit({ type: 'invalid-message', payload: payload.slice(0, 200) })
      return
    }
    if (w.i === instanceId) {
      stats.ignoredOwn++
      return
    }
    // an empty key names no entry (the family's caches refuse one), as the tracking invalidator drops it too
    const keys = w.k === undefined ? [] : w.k.filter((k) => k.length > 0)
    if (keys.length > 0) {
      for (const c of caches) {
        try {
          c.evictLocal(keys)
        } catch (e) {
          emit({ type: 'error', error: e })
        }
      }
    }
    stats.received++
    emit({ type: 'message', message: { keys, tags: w.t ?? [], from: w.i } })
  }

  // ---- the subscriber connection: one at a time; `generation` tells the current one from replaced ones
  let conn: Redis | undefined
  let generation = 0
  let subscribed = false
  let pingSentAt = 0
  let pinging = false
  let timer: ReturnType<typeof setTimeout> | undefined

  // On a Cluster, a private duplicate of the user's client discovers the nodes; the subscriber is a plain
  // connection to one of them, so that its every loss is seen here (ioredis' own cluster subscriber moves
  // to another node silently, and the messages published meanwhile are lost without a trace).
  const discovery = isCluster(redis) ? (redis.duplicate() as Cluster) : undefined
  let nodeIndex = Math.floor(Math.random() * 1024)
  discovery?.on('error', (e: unknown) => {
    lastError = e
  })

  const subscribeOn = async (c: Redis, gen: number): Promise<void> => {
    try {
      await c.subscribe(channel)
    } catch (e) {
      lastError = e
      if (!closed && gen === generation) {
        emit({ type: 'error', error: e })
        // still connected but not subscribed (e.g. refused): try again shortly
        timer = setTimeout(() => {
          if (!closed && gen === generation && c.status === 'ready') void subscribeOn(c, gen)
        }, 200)
        timer.unref?.()
      }
      return
    }
    if (closed || gen !== generation) return
    subscribed = true
    pinging = false
    if (!everSubscribed) {
      everSubscribed = true
      missed = false
      resolveReady()
      emit({ type: 'ready' })
      return
    }
    if (missed) {
      missed = false
      evictAll()
    }
  }

  const lose = (): void => {
    if (everSubscribed) missed = true
    subscribed = false
  }

  const attach = (c: Redis): void => {
    const gen = ++generation
    conn = c
    subscribed = false
    c.on('ready', () => {
      if (!closed && gen === generation) void subscribeOn(c, gen)
    })
    c.on('close', () => {
      if (gen === generation) lose()
    })
    c.on('end', () => {
      if (closed || gen !== generation) return
      lose()
      // a cluster node that does not come back within a few attempts: move to another node
      if (discovery !== undefined) openNodeConnection()
    })
    c.on('error', (e: unknown) => {
      lastError = e
      if (!closed && gen === generation) emit({ type: 'error', error: e })
    })
    c.on('message', (ch: string, payload: string) => {
      if (gen === generation) onMessage(ch, payload)
    })
    // a duplicate of a `lazyConnect: true` client waits for a first command that a subscriber never sends
    connectIfWaiting(c)
  }

  const retire = (c: Redis | undefined): void => {
    if (c === undefined) return
    c.removeAllListeners('message')
    c.on('error', () => {})
    c.disconnect()
  }

  const openNodeConnection = (): void => {
    if (closed || discovery === undefined) return
    const nodes = discovery.nodes('all')
    if (nodes.length === 0) {
      // the cluster is not known yet (or lost every node): look again shortly
      connectIfWaiting(discovery)
      timer = setTimeout(openNodeConnection, 100)
      timer.unref?.()
      return
    }
    const node = nodes[nodeIndex++ % nodes.length]!
    const previous = conn
    attach(
      node.duplicate({
        lazyConnect: false,
        enableOfflineQueue: true,
        autoResubscribe: false,
        // a few quick attempts on the same node, then 'end': the next node
        retryStrategy: (attempt: number) => (attempt <= 3 ? ownRetryDelay(attempt) : null),
      }) as Redis,
    )
    retire(previous)
  }

  if (discovery === undefined) {
    attach(
      (redis as Redis).duplicate({
        autoResubscribe: false,
        retryStrategy: ownRetryDelay,
      }) as Redis,
    )
  } else {
    connectIfWaiting(discovery)
    if (discovery.status === 'ready') openNodeConnection()
    else discovery.once('ready', openNodeConnection)
  }

  // heartbeat: a subscriber connection that stopped answering is dropped and opened again
  const heartbeat = setInterval(() => {
    const c = conn
    if (closed || c === undefined || !subscribed) return
    if (pinging) {
      if (Date.now() - pingSentAt > 3 * heartbeatInterval) {
        pinging = false
        lose()
        emit({
          type: 'error',
          error: new Error(`the subscriber did not answer PING for ${3 * heartbeatInterval} ms`),
        })
        c.disconnect(true)
      }
      return
    }
    pinging = true
    pingSentAt = Date.now()
    const gen = generation
    c.ping().then(
      () => {
        if (gen === generation) pinging = false
      },
      () => {
        if (gen === generation) pinging = false
      },
    )
  }, heartbeatInterval)
  heartbeat.unref?.()

  return {
    instanceId,
    channel,
    async ready(options) {
      return boundedReady(
        'bus.ready',
        'the invalidation bus',
        options,
        readyTimeout,
        {
          ready: readyPromise,
          isReady: () => everSubscribed,
          closed: closedPromise,
          isClosed: () => closed,
        },
        () => lastError,
      )
    },
    async publish(message) {
      if (closed) throw new ClosedError('the invalidation bus')
      checkObject('bus.publish', 'message', message)
      const keys = message.keys ?? []
      const tags = message.tags ?? []
      checkStrings('bus.publish', 'message.keys', keys)
      checkStrings('bus.publish', 'message.tags', tags)
      if (keys.length === 0 && tags.length === 0) {
        throw invalidArgument('bus.publish', 'message', 'an object with at least one key or tag', message)
      }
      const wire: Wire = { i: instanceId }
      if (keys.length > 0) wire.k = [...keys]
      if (tags.length > 0) wire.t = [...tags]
      try {
        await bounded(
          Promise.resolve().then(() => redis.publish(channel, JSON.stringify(wire))),
          publishTimeout,
          'PUBLISH',
        )
      } catch (e) {
        throw new PublishError(channel, e)
      }
      stats.published++
    },
    attach(cache) {
      if (closed) throw new ClosedError('the invalidation bus')
      checkEvictor('bus.attach', 'cache', cache)
      caches.add(cache)
      return () => {
        caches.delete(cache)
      }
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
      closed = true
      clearInterval(heartbeat)
      clearTimeout(timer)
      signalClosed()
      const c = conn
      conn = undefined
      generation++
      closing = Promise.all([c && closeOwned(c, timeout), discovery && closeOwned(discovery, timeout)]).then(
        () => undefined,
      )
      return closing
    },
  }
}
