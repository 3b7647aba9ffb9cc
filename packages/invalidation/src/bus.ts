import { randomUUID } from 'node:crypto'
import type { Cluster, Redis } from 'ioredis'
import { boundedReady, checkReadyTimeout, connectIfWaiting, DEFAULT_READY_TIMEOUT_MS } from './connect.js'
import { ClosedError, InvalidArgumentError, PublishError } from './errors.js'
import type { InvalidationPublisher } from './types.js'
import { checkKeys, checkObject, checkTags } from './validate.js'

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
   * The subscriber lost its connection and is subscribed again: messages may have been lost meanwhile, so
   * every attached L1 was cleared (`cleared` counts the `l1` objects cleared).
   */
  | { type: 'reconnect'; cleared: number }
  /** A payload on the channel that is not a bus message (ignored). */
  | { type: 'invalid-message'; payload: string }
  /** A swallowed error (an L1 that threw on evict/clear, a subscriber connection error). */
  | { type: 'error'; error: unknown }

/** Something with an `evictLocal` method (redis-aside's cache). */
export interface LocalEvictor {
  /** Drops the L1 copies of these keys. */
  evictLocal(keys: string | readonly string[]): unknown
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
 * Cross-instance L1 invalidation over Redis pub/sub. `publish({ keys })` evicts those keys from the L1 of
 * every other instance; an instance ignores its own messages (they carry its `instanceId`); when the
 * subscriber reconnects it clears the `l1` stores, since messages may have been lost while it was away, and
 * reports `{ type: 'reconnect' }`.
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

  const listeners = new Set<(event: BusEvent) => void>()
  const stats: BusStats = { published: 0, received: 0, ignoredOwn: 0, reconnects: 0 }
  let closed = false
  let subscribedOnce = false
  let disconnected = false
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

  const sub = (redis as Redis).duplicate() as Redis
  let resolveReady!: () => void
  const readyPromise = new Promise<void>((r) => {
    resolveReady = r
  })

  const subscribeNow = async (): Promise<void> => {
    try {
      await sub.subscribe(channel)
    } catch (e) {
      lastError = e
      if (!closed) emit({ type: 'error', error: e })
      return
    }
    if (!subscribedOnce) {
      subscribedOnce = true
      disconnected = false
      resolveReady()
      emit({ type: 'ready' })
      return
    }
    if (!disconnected) return
    disconnected = false
    stats.reconnects++
    let cleared = 0
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

  sub.on('ready', () => {
    if (!closed) void subscribeNow()
  })
  sub.on('close', () => {
    if (subscribedOnce) disconnected = true
  })
  sub.on('error', (e: unknown) => {
    lastError = e
    if (!closed) emit({ type: 'error', error: e })
  })
  sub.on('message', (ch: string, payload: string) => {
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
  })

  // a duplicate of a `lazyConnect: true` client waits for a first command that a subscriber never sends
  connectIfWaiting(sub)

  return {
    instanceId,
    channel,
    async ready(timeoutMs = readyTimeoutMs) {
      const ms = checkReadyTimeout(timeoutMs, 'bus.ready timeoutMs')
      if (subscribedOnce || closed) return readyPromise
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
        await redis.publish(channel, JSON.stringify(wire))
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
      resolveReady()
      try {
        await sub.quit()
      } catch {
        sub.disconnect()
      }
    },
  }
}
