import { randomUUID } from 'node:crypto'
import type { Cluster, Redis } from 'ioredis'
import { boundedReady, checkReadyTimeout, connectIfWaiting, DEFAULT_READY_TIMEOUT_MS } from './connect.js'
import { ClosedError, InvalidArgumentError, PublishError } from './errors.js'
import type { InvalidationPublisher } from './types.js'
import { checkKeys, checkObject, checkPositive, checkTags } from './validate.js'

/** A message received from another instance. */
export interface BusMessage {
  /** Keys to evict from L1. */
  readonly keys: readonly string[]
  /** Tags that were invalidated. */
  readonly tags: readonly string[]
  /** `instanceId` of the sender. */
  readonly from: string
}

/** What the bus reports (through `onEvent` and `subscribe`). */
export type BusEvent =
  /** The subscriber is subscribed (first time). */
  | { type: 'ready' }
  /** A message from another instance was applied (its keys evicted from every attached cache's L1). */
  | { type: 'message'; message: BusMessage }
  /**
   * The subscriber lost its connection (or, on a Cluster, moved to another node) and is subscribed again:
   * messages may have been lost meanwhile, so every attached L1 was cleared (`cleared` counts the `l1`
   * objects cleared). Reported after EVERY such loss, however it was detected (a closed connection, a
   * heartbeat that got no answer).
   */
  | { type: 'reconnect'; cleared: number }
  /** A payload on the channel that is not a bus message (ignored). */
  | { type: 'invalid-message'; payload: string }
  /** A swallowed error (an L1 that threw on evict/clear, a subscriber connection error). */
  | { type: 'error'; error: unknown }

/** Something with an `evictLocal` method (redis-aside's cache). */
export interface LocalEvictor {
  /**
   * Drops the L1 copies of these keys; without keys, every L1 copy and every read or load in flight (called
   * after the bus or the tracking channel may have missed invalidations).
   */
  evictLocal(keys?: string | readonly string[]): unknown
}

/** Something that can be cleared entirely (the L1 object given to redis-aside, e.g. an `L1Cache`). */
export interface Clearable {
  /** Removes every entry. */
  clear(): unknown
}

/** Options of {@link createInvalidationBus}. */
export interface InvalidationBusOptions {
  /**
   * An ioredis `Redis` or `Cluster` you own: used to publish, and duplicated once for the subscriber (not
   * closed by `close()`). A client made with `lazyConnect: true` works: the duplicate is connected at once.
   */
  redis: Redis | Cluster
  /** The pub/sub channel; every instance of one application uses the same. */
  channel: string
  /** Caches whose L1 copies are evicted when a message arrives. More can be added with `attach`. */
  caches?: readonly LocalEvictor[]
  /** L1 stores cleared when the subscriber reconnects (messages may have been lost while it was away). */
  l1?: readonly Clearable[]
  /** Identity of this instance; its own messages are ignored. @default a random UUID */
  instanceId?: string
  /** Receives every event. Must not throw. */
  onEvent?: (event: BusEvent) => void
  /**
   * How long `ready()` waits for the subscriber to connect and subscribe before it rejects with
   * `ReadyTimeoutError` (`E_READY_TIMEOUT`), in ms. A positive finite number; `ready(ms)` overrides it per call.
   * @default 10000
   */
  readyTimeoutMs?: number
  /**
   * Bound of one `publish`, in ms: past it, `publish` rejects with `PublishError` (Redis stopped or
   * unreachable: an ioredis client may otherwise keep the command queued for many seconds). A positive integer.
   * @default 1000
   */
  publishTimeoutMs?: number
  /**
   * Every `heartbeatMs` the subscriber connection is PINGed; when a PING is unanswered for 3 periods, the
   * connection is dropped and opened again (then L1 is cleared as on any reconnect). Catches a connection
   * that went silent without closing. A positive integer.
   * @default 1000
   */
  heartbeatMs?: number
}

/** Counters of a bus. */
export interface BusStats {
  /** Messages published by this instance. */
  published: number
  /** Messages from other instances that were applied. */
  received: number
  /** Own messages seen on the channel and ignored. */
  ignoredOwn: number
  /** Reconnections of the subscriber (each cleared the L1 stores). */
  reconnects: number
}

/** The bus returned by {@link createInvalidationBus}. */
export interface InvalidationBus extends InvalidationPublisher {
  /** Identity of this instance. */
  readonly instanceId: string
  /** The channel. */
  readonly channel: string
  /**
   * Resolves once the subscriber is subscribed (messages published after that are received); at once after
   * `close()`. Never hangs: each call waits at most `timeoutMs`.
   * @param timeoutMs the bound of this call, in ms. @default the `readyTimeoutMs` option (10000)
   * @throws ReadyTimeoutError (`E_READY_TIMEOUT`) when not subscribed within `timeoutMs` (e.g. Redis is
   * unreachable); its `cause` is the last connection error. The bus keeps retrying; a later call may resolve.
   * @throws InvalidArgumentError when `timeoutMs` is not a positive finite number.
   */
  ready(timeoutMs?: number): Promise<void>
  /**
   * Tells every OTHER instance to evict `keys` from its L1 (and passes `tags` to their listeners). This
   * instance's own caches are not touched: `cache.delete` already did that.
   * @throws InvalidArgumentError on an empty key or tag, or when both lists are empty.
   * @throws PublishError (`E_PUBLISH_FAILED`) when Redis refused it.
   * @throws ClosedError after `close()`.
   */
  publish(message: { keys?: readonly string[]; tags?: readonly string[] }): Promise<void>
  /** Evicts on messages for one more cache. Returns a function that detaches it. */
  attach(cache: LocalEvictor): () => void
  /** Listens to every event. Returns a function that stops listening. */
  subscribe(listener: (event: BusEvent) => void): () => void
  /** Counters. */
  stats(): BusStats
  /** Unsubscribes and closes the subscriber connection. Idempotent. */
  close(): Promise<void>
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

/** Rejects with `PublishError` when `p` does not settle within `ms`. @internal */
export function boundedPublish(p: Promise<unknown>, ms: number): Promise<unknown> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`PUBLISH not answered within ${ms} ms`)), ms)
  })
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer))
}

/**
 * Closes a connection this package owns without ever waiting on a dead server: QUIT (bounded to 1 s) when
 * it is up, else at once.
 * @internal
 */
export async function closeOwned(c: Redis | Cluster): Promise<void> {
  if (c.status !== 'ready') {
    c.disconnect()
    return
  }
  try {
    await boundedPublish(c.quit(), 1000)
  } catch {
    c.disconnect()
  }
}

function isCluster(redis: Redis | Cluster): redis is Cluster {
  return (redis as { isCluster?: unknown }).isCluster === true
}

/**
 * Cross-instance L1 invalidation over Redis pub/sub. `publish({ keys })` evicts those keys from the L1 of
 * every other instance; an instance ignores its own messages (they carry its `instanceId`); whenever the
 * subscriber loses its subscription and gets it back, it clears the `l1` stores, since messages may have
 * been lost while it was away, and reports `{ type: 'reconnect' }`.
 *
 * The subscriber connection is the bus's own: on a single Redis a duplicate of `redis`, on a Cluster a
 * connection to one of its nodes (PUBLISH reaches every node), moved to another node when that one fails.
 * It reconnects on its own schedule (at most every 500 ms), not on your client's `retryStrategy`.
 * @throws InvalidArgumentError when an option is invalid.
 * @example
 * const l1 = new L1Cache({ max: 10_000 })
 * const cache = createCache({ redis, l1, namespace: 'users', ttl: 60_000 })
 * const bus = createInvalidationBus({ redis, channel: 'app:invalidate', caches: [cache], l1: [l1] })
 * await bus.ready()
 */
export function createInvalidationBus(options: InvalidationBusOptions): InvalidationBus {
  checkObject(options, 'createInvalidationBus options')
  const { redis, channel, onEvent } = options
  if (typeof redis !== 'object' || redis === null || typeof redis.duplicate !== 'function') {
    throw new InvalidArgumentError('createInvalidationBus: redis must be an ioredis Redis or Cluster')
  }
  if (typeof channel !== 'string' || channel.length === 0) {
    throw new InvalidArgumentError('createInvalidationBus: channel must be a non-empty string')
  }
  const instanceId = options.instanceId ?? randomUUID()
  if (typeof instanceId !== 'string' || instanceId.length === 0) {
    throw new InvalidArgumentError('createInvalidationBus: instanceId must be a non-empty string')
  }
  const caches = new Set<LocalEvictor>()
  for (const c of options.caches ?? []) {
    if (typeof c?.evictLocal !== 'function') {
      throw new InvalidArgumentError('createInvalidationBus: every cache must have an evictLocal method')
    }
    caches.add(c)
  }
  const l1s = [...(options.l1 ?? [])]
  for (const c of l1s) {
    if (typeof c?.clear !== 'function') {
      throw new InvalidArgumentError('createInvalidationBus: every l1 must have a clear method')
    }
  }
  if (onEvent !== undefined && typeof onEvent !== 'function') {
    throw new InvalidArgumentError('createInvalidationBus: onEvent must be a function')
  }
  const readyTimeoutMs = checkReadyTimeout(
    options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS,
    'readyTimeoutMs',
  )
  const publishTimeoutMs = options.publishTimeoutMs ?? 1000
  checkPositive(publishTimeoutMs, 'createInvalidationBus publishTimeoutMs')
  const heartbeatMs = options.heartbeatMs ?? 1000
  checkPositive(heartbeatMs, 'createInvalidationBus heartbeatMs')

  const listeners = new Set<(event: BusEvent) => void>()
  const stats: BusStats = { published: 0, received: 0, ignoredOwn: 0, reconnects: 0 }
  let closed = false
  let everSubscribed = false
  /** Since the last confirmed subscription, the subscription was lost at least once (messages may be missed). */
  let missed = false
  let lastError: unknown

  const emit = (event: BusEvent): void => {
    for (const l of [...(onEvent ? [onEvent] : []), ...listeners]) {
      try {
        l(event)
      } catch {
        // listeners must not break the bus
      }
    }
  }

  let resolveReady!: () => void
  const readyPromise = new Promise<void>((r) => {
    resolveReady = r
  })

  const clearL1s = (): void => {
    stats.reconnects++
    let cleared = 0
    // the caches first: their reads and loads in flight may predate a missed message and must not fill the L1
    for (const c of caches) {
      try {
        c.evictLocal()
      } catch (e) {
        emit({ type: 'error', error: e })
      }
    }
    for (const l1 of l1s) {
      try {
        l1.clear()
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
    const keys = w.k ?? []
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
      clearL1s()
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
      if (Date.now() - pingSentAt > 3 * heartbeatMs) {
        pinging = false
        lose()
        emit({
          type: 'error',
          error: new Error(`the subscriber did not answer PING for ${3 * heartbeatMs} ms`),
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
  }, heartbeatMs)
  heartbeat.unref?.()

  return {
    instanceId,
    channel,
    async ready(timeoutMs = readyTimeoutMs) {
      const ms = checkReadyTimeout(timeoutMs, 'bus.ready timeoutMs')
      if (everSubscribed || closed) return readyPromise
      return boundedReady(readyPromise, 'the invalidation bus', ms, () => lastError)
    },
    async publish(message) {
      if (closed) throw new ClosedError('the invalidation bus')
      checkObject(message, 'bus.publish message')
      const keys = message.keys ?? []
      const tags = message.tags ?? []
      checkKeys(keys, 'bus.publish')
      checkTags(tags, 'bus.publish')
      if (keys.length === 0 && tags.length === 0) {
        throw new InvalidArgumentError('bus.publish: give at least one key or tag')
      }
      const wire: Wire = { i: instanceId }
      if (keys.length > 0) wire.k = [...keys]
      if (tags.length > 0) wire.t = [...tags]
      try {
        await boundedPublish(
          Promise.resolve().then(() => redis.publish(channel, JSON.stringify(wire))),
          publishTimeoutMs,
        )
      } catch (e) {
        throw new PublishError(e)
      }
      stats.published++
    },
    attach(cache) {
      if (typeof cache?.evictLocal !== 'function') {
        throw new InvalidArgumentError('bus.attach: cache must have an evictLocal method')
      }
      caches.add(cache)
      return () => {
        caches.delete(cache)
      }
    },
    subscribe(listener) {
      if (typeof listener !== 'function')
        throw new InvalidArgumentError('bus.subscribe: listener must be a function')
      listeners.add(listener)
      return () => {
        listeners.delete(listener)
      }
    },
    stats: () => ({ ...stats }),
    async close() {
      if (closed) return
      closed = true
      clearInterval(heartbeat)
      clearTimeout(timer)
      resolveReady()
      const c = conn
      conn = undefined
      generation++
      await Promise.all([c && closeOwned(c), discovery && closeOwned(discovery)])
    },
  }
}
