/**
 * The bus's subscriber connection and its resubscription: one connection at a time (`generation` tells the
 * current one from replaced ones), subscribed again whenever it is back, PINGed every `heartbeatInterval`
 * and dropped when it stops answering. On a Cluster it is a plain connection to one node found by a private
 * discovery client, moved to another node when that one fails, so that its every loss is seen here.
 */
import { PermissionError } from '@tierkit/contracts'
import { classifyRedisError, isReplyError } from '@tierkit/contracts/redis'
import type { Cluster, Redis } from 'ioredis'
import { closeOwned, connectIfWaiting, ownRetryDelay } from '../connect.js'

/** What the subscriber tells the bus. */
export interface SubscriberHooks {
  /** Subscribed for the first time. */
  ready(): void
  /** Subscribed again after the subscription was lost (messages may have been missed). */
  recovered(): void
  /** The subscription was lost (messages may be missed until `recovered`). */
  lost(): void
  /** A message on the current connection. */
  message(channel: string, payload: string): void
  /** An error of the current connection, or a failed subscribe. */
  error(error: unknown): void
}

function isCluster(redis: Redis | Cluster): redis is Cluster {
  return (redis as { isCluster?: unknown }).isCluster === true
}

/** The subscriber of one bus (connects at once). */
export class Subscriber {
  /** The last connection error seen (the `cause` of a `ready()` that timed out). */
  lastError: unknown
  /** Subscribed at least once. */
  everSubscribed = false
  /** Since the last confirmed subscription, the subscription was lost at least once (messages may be missed). */
  private missed = false
  private closed = false
  private conn: Redis | undefined
  private generation = 0
  private subscribed = false
  private pingSentAt = 0
  private pinging = false
  private timer: ReturnType<typeof setTimeout> | undefined
  private readonly heartbeat: ReturnType<typeof setInterval>
  /**
   * On a Cluster, a private duplicate of the user's client discovers the nodes; the subscriber is a plain
   * connection to one of them (ioredis' own cluster subscriber moves to another node silently, and the
   * messages published meanwhile are lost without a trace).
   */
  private readonly discovery: Cluster | undefined
  private nodeIndex = Math.floor(Math.random() * 1024)
  private readonly channel: string
  private readonly heartbeatInterval: number
  private readonly hooks: SubscriberHooks

  constructor(redis: Redis | Cluster, channel: string, heartbeatInterval: number, hooks: SubscriberHooks) {
    this.channel = channel
    this.heartbeatInterval = heartbeatInterval
    this.hooks = hooks
    this.discovery = isCluster(redis) ? (redis.duplicate() as Cluster) : undefined
    const discovery = this.discovery
    discovery?.on('error', (e: unknown) => {
      this.lastError = e
    })
    if (discovery === undefined) {
      this.attach(
        (redis as Redis).duplicate({ autoResubscribe: false, retryStrategy: ownRetryDelay }) as Redis,
      )
    } else {
      connectIfWaiting(discovery)
      if (discovery.status === 'ready') this.openNodeConnection()
      else discovery.once('ready', () => this.openNodeConnection())
    }
    this.heartbeat = setInterval(() => this.beat(), heartbeatInterval)
    this.heartbeat.unref?.()
  }

  /** Stops: no more resubscriptions; the connections are closed (QUIT bounded by `timeout`). */
  close(timeout: number): Promise<void> {
    this.closed = true
    clearInterval(this.heartbeat)
    clearTimeout(this.timer)
    const c = this.conn
    this.conn = undefined
    this.generation++
    const discovery = this.discovery
    return Promise.all([c && closeOwned(c, timeout), discovery && closeOwned(discovery, timeout)]).then(
      () => undefined,
    )
  }

  private async subscribeOn(c: Redis, gen: number): Promise<void> {
    try {
      await c.subscribe(this.channel)
    } catch (e) {
      const error = classifyRedisError(e)
      this.lastError = error
      if (!this.closed && gen === this.generation) {
        this.hooks.error(error)
        // still connected but not subscribed (e.g. refused): try again shortly; denied by the ACL, every 2 s
        // (it may be granted meanwhile; each attempt is reported)
        this.timer = setTimeout(
          () => {
            if (!this.closed && gen === this.generation && c.status === 'ready') void this.subscribeOn(c, gen)
          },
          error instanceof PermissionError ? 2000 : 200,
        )
        this.timer.unref?.()
      }
      return
    }
    if (this.closed || gen !== this.generation) return
    this.subscribed = true
    this.pinging = false
    if (!this.everSubscribed) {
      this.everSubscribed = true
      this.missed = false
      this.hooks.ready()
      return
    }
    if (this.missed) {
      this.missed = false
      this.hooks.recovered()
    }
  }

  private lose(): void {
    if (this.everSubscribed) this.missed = true
    const was = this.subscribed
    this.subscribed = false
    if (was) this.hooks.lost()
  }

  /** Subscribed on the current connection now. */
  get isSubscribed(): boolean {
    return this.subscribed
  }

  /** Makes `c` the current connection. */
  private attach(c: Redis): void {
    const gen = ++this.generation
    const current = (): boolean => gen === this.generation
    this.conn = c
    if (this.subscribed) this.lose()
    c.on('ready', () => {
      if (!this.closed && current()) void this.subscribeOn(c, gen)
    })
    c.on('close', () => {
      if (current()) this.lose()
    })
    c.on('end', () => {
      if (this.closed || !current()) return
      this.lose()
      // a cluster node that does not come back within a few attempts: move to another node
      if (this.discovery !== undefined) this.openNodeConnection()
    })
    c.on('error', (e: unknown) => {
      this.lastError = e
      if (!this.closed && current()) this.hooks.error(e)
    })
    c.on('message', (ch: string, payload: string) => {
      if (current()) this.hooks.message(ch, payload)
    })
    // a duplicate of a `lazyConnect: true` client waits for a first command that a subscriber never sends
    connectIfWaiting(c)
  }

  private retire(c: Redis | undefined): void {
    if (c === undefined) return
    c.removeAllListeners('message')
    c.on('error', () => {})
    c.disconnect()
  }

  /** On a Cluster: a connection to the next node (the current one, if any, is retired). */
  private openNodeConnection(): void {
    const discovery = this.discovery
    if (this.closed || discovery === undefined) return
    const nodes = discovery.nodes('all')
    if (nodes.length === 0) {
      // the cluster is not known yet (or lost every node): look again shortly
      connectIfWaiting(discovery)
      this.timer = setTimeout(() => this.openNodeConnection(), 100)
      this.timer.unref?.()
      return
    }
    const node = nodes[this.nodeIndex++ % nodes.length]!
    const previous = this.conn
    this.attach(
      node.duplicate({
        lazyConnect: false,
        enableOfflineQueue: true,
        autoResubscribe: false,
        // a few quick attempts on the same node, then 'end': the next node
        retryStrategy: (attempt: number) => (attempt <= 3 ? ownRetryDelay(attempt) : null),
      }) as Redis,
    )
    this.retire(previous)
  }

  /** The heartbeat: a subscriber connection that stopped answering is dropped and opened again. */
  private beat(): void {
    const c = this.conn
    if (this.closed || c === undefined || !this.subscribed) return
    if (this.pinging) {
      if (Date.now() - this.pingSentAt > 3 * this.heartbeatInterval) {
        this.pinging = false
        this.lose()
        this.hooks.error(new Error(`the subscriber did not answer PING for ${3 * this.heartbeatInterval} ms`))
        c.disconnect(true)
      }
      return
    }
    this.pinging = true
    this.pingSentAt = Date.now()
    const gen = this.generation
    const done = (): void => {
      if (gen === this.generation) this.pinging = false
    }
    // a reply error (PING denied by the ACL) is no dead connection, but it is reported, never silent
    // lower-case: iovalkey checks the command allowed in subscriber mode by its name as given
    c.call('ping').then(done, (e: unknown) => {
      done()
      if (isReplyError(e) && !this.closed && gen === this.generation) this.hooks.error(classifyRedisError(e))
    })
  }
}
