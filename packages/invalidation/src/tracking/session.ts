/**
 * The tracking invalidator's connection and the state it reconciles: its own connection (RESP2, on the
 * package's reconnection schedule) subscribed to `__redis__:invalidate`, and `CLIENT TRACKING on REDIRECT
 * <its id> BCAST PREFIX ...` on the target (the data client with NOLOOP, else the connection itself),
 * verified with `CLIENT TRACKINGINFO`. Every connection event and a periodic check bring it back to that
 * state; whenever it was (or may have been) off, the caches are cleared.
 */
import { serverOf, UnsupportedServerError } from '@tierkit/contracts/redis'
import type { Redis } from 'ioredis'
import { bounded, closeOwned, connectIfWaiting, ownRetryDelay } from '../connect.js'
import { CHANNEL } from './messages.js'

/** Bound of each command the invalidator sends to set tracking up, in ms. */
const COMMAND_TIMEOUT = 2000

/** Redis refusing a command on a RESP2 connection in subscriber mode. */
const SUBSCRIBER_CONTEXT = /only \(P\|S\)SUBSCRIBE .* allowed in this context/

/** What the session tells the invalidator. */
export interface SessionHooks {
  /** Tracking is on for the first time. */
  ready(): void
  /** Tracking is on again after it was (or may have been) off. */
  recovered(): void
  /** Tracking is still not on at a periodic check: nothing can report a change meanwhile. */
  disconnected(): void
  /** A message on the connection. */
  message(channel: Buffer, payload: unknown): void
  error(error: unknown): void
  /** The server cannot do what the session needs (Dragonfly): the session has stopped trying. */
  unsupported(error: UnsupportedServerError): void
}

/** The tracking session of one invalidator (connects at once). */
export class TrackingSession {
  /** The last error seen (the `cause` of a `ready()` that timed out). */
  lastError: unknown
  /** Tracking was confirmed at least once. */
  once = false
  private closed = false
  /** Tracking is on, redirected to `conn`'s current id, and `conn` is subscribed (as far as we know). */
  private confirmed = false
  /** Since tracking was last confirmed, it was (or may have been) off: changes may have been missed. */
  private lost = false
  /** `conn` is subscribed on its current connection. */
  private subscribed = false
  /** `conn`'s current client id (changes with every reconnection). */
  private connId: number | undefined
  private running = false
  private again = false
  /** `INFO server` was read on `conn` once (the server does not change behind a single connection's address). */
  private serverChecked = false
  private retryTimer: ReturnType<typeof setTimeout> | undefined
  /** Moves on with every `ready`/`close` of `conn`: a step that awaited across one starts over. */
  private epoch = 0
  private readonly conn: Redis
  /** The connection whose tracking state matters: the data client with NOLOOP, else our own. */
  private readonly target: Redis
  private readonly periodic: ReturnType<typeof setInterval>
  private readonly onDataReady = (): void => {
    if (this.closed) return
    this.lose()
    void this.reconcile()
  }
  private readonly onDataClose = (): void => {
    if (!this.closed) this.lose()
  }

  constructor(
    private readonly redis: Redis,
    private readonly prefixes: readonly string[],
    private readonly noloop: boolean,
    verifyInterval: number,
    private readonly hooks: SessionHooks,
  ) {
    // RESP2: invalidations arrive as pub/sub messages on __redis__:invalidate. Our own reconnection schedule.
    this.conn = redis.duplicate({
      protocol: 2,
      autoResubscribe: false,
      retryStrategy: ownRetryDelay,
    }) as Redis
    this.target = noloop ? redis : this.conn
    // periodic: verify that tracking is still on; while it is not, keep L1 clean
    this.periodic = setInterval(() => {
      if (this.closed) return
      if (this.once && !this.confirmed) hooks.disconnected()
      void this.reconcile()
    }, verifyInterval)
    this.periodic.unref?.()
    if (noloop) {
      redis.on('ready', this.onDataReady)
      redis.on('close', this.onDataClose)
    }
    this.listen()
  }

  /** Turns tracking off (with NOLOOP) and closes the connection, each step bounded by `timeout`. */
  async close(timeout: number): Promise<void> {
    this.closed = true
    clearInterval(this.periodic)
    clearTimeout(this.retryTimer)
    this.redis.off('ready', this.onDataReady)
    this.redis.off('close', this.onDataClose)
    if (this.noloop && this.redis.status === 'ready') {
      await bounded(
        Promise.resolve().then(() => this.redis.call('CLIENT', 'TRACKING', 'off')),
        timeout,
        'CLIENT TRACKING off',
      ).catch(() => {})
    }
    await closeOwned(this.conn, timeout)
  }

  private listen(): void {
    const conn = this.conn
    conn.on('ready', () => {
      if (this.closed) return
      this.epoch++
      this.connId = undefined
      this.subscribed = false
      void this.reconcile()
    })
    conn.on('close', () => {
      this.epoch++
      this.connId = undefined
      this.subscribed = false
      if (!this.closed) this.lose()
    })
    conn.on('error', (error: unknown) => {
      this.lastError = error
      if (!this.closed) this.hooks.error(error)
    })
    conn.on('messageBuffer', (channel: Buffer, payload: unknown) => this.hooks.message(channel, payload))
    // a duplicate of a `lazyConnect: true` client waits for a first command that is only sent on `ready`
    connectIfWaiting(conn)
  }

  /** Tracking is (or may be) off: changes are not reported until it is confirmed again. */
  private lose(): void {
    if (this.once) this.lost = true
    this.confirmed = false
  }

  private call(c: Redis, ...args: [string, ...Array<string | number>]): Promise<unknown> {
    return bounded(
      Promise.resolve().then(() => c.call(...args)),
      COMMAND_TIMEOUT,
      args.join(' '),
    )
  }

  private async enable(id: number): Promise<void> {
    const args: [string, ...Array<string | number>] = ['CLIENT', 'TRACKING', 'on', 'REDIRECT', id, 'BCAST']
    if (this.noloop) args.push('NOLOOP')
    for (const p of this.prefixes) args.push('PREFIX', p)
    // off first: prefixes and REDIRECT replace the previous ones instead of adding to them
    await this.call(this.target, 'CLIENT', 'TRACKING', 'off')
    await this.call(this.target, ...args)
  }

  /** Turns tracking on and checks that it is. */
  private async enableVerified(id: number): Promise<void> {
    await this.enable(id)
    if (!(await this.verify(id))) throw new Error('CLIENT TRACKING is not on as requested')
  }

  /** True when `CLIENT TRACKINGINFO` of the target says: on, BCAST, (NOLOOP), our prefixes, redirected to `id`. */
  private async verify(id: number): Promise<boolean> {
    let info: unknown
    try {
      info = await this.call(this.target, 'CLIENT', 'TRACKINGINFO')
    } catch (e) {
      if (/unknown subcommand|unknown command/i.test(String((e as Error)?.message))) return true // Redis < 6.2
      throw e
    }
    if (!Array.isArray(info)) return false
    const field = (name: string): unknown => {
      const i = info.findIndex((x, j) => j % 2 === 0 && String(x) === name)
      return i < 0 ? undefined : info[i + 1]
    }
    const list = (name: string): string[] => {
      const v = field(name)
      return (Array.isArray(v) ? (v as unknown[]) : []).map(String)
    }
    const flags = list('flags')
    const got = list('prefixes')
    return (
      flags.includes('on') &&
      flags.includes('bcast') &&
      !flags.includes('broken_redirect') &&
      (!this.noloop || flags.includes('noloop')) &&
      Number(field('redirect')) === id &&
      this.prefixes.every((p) => got.includes(p))
    )
  }

  /**
   * Brings tracking to the confirmed state: `conn` subscribed, tracking on the target redirected to
   * `conn`'s current id (verified with CLIENT TRACKINGINFO), then L1 cleared when anything was lost. One
   * run at a time; a failure retries shortly. Triggered by every connection event and by the periodic check.
   */
  private async reconcile(): Promise<void> {
    if (this.closed) return
    if (this.running) {
      this.again = true
      return
    }
    this.running = true
    try {
      do {
        this.again = false
        if (!(await this.pass())) return
      } while (this.again && !this.closed)
    } catch (error) {
      this.lastError = error
      if (!this.closed) {
        this.hooks.error(error)
        clearTimeout(this.retryTimer)
        this.retryTimer = setTimeout(() => void this.reconcile(), 200)
        this.retryTimer.unref?.()
      }
    } finally {
      this.running = false
    }
  }

  /**
   * One pass of `reconcile`. False when there is nothing to do now (a connection is not ready: its `ready`
   * runs this again; or closed); true otherwise, with `again` set when a connection event came in between.
   */
  private async pass(): Promise<boolean> {
    if (this.conn.status !== 'ready') return false
    // the data client's 'ready' runs this again (a lazy one in 'wait' is connected by the command)
    if (this.noloop && this.redis.status !== 'ready' && this.redis.status !== 'wait') return false
    const e = this.epoch
    const moved = (): boolean => {
      if (e === this.epoch) return false
      this.again = true
      return true
    }
    if (!this.serverChecked) {
      const { name } = serverOf(String(await this.call(this.conn, 'INFO', 'server')))
      if (moved()) return true
      this.serverChecked = true
      if (name === 'dragonfly') {
        // its CLIENT TRACKING has no REDIRECT, BCAST or PREFIX (and needs RESP3): no connection can get the
        // invalidations of keys this process did not read itself, so this channel cannot work there
        this.hooks.unsupported(
          new UnsupportedServerError(
            name,
            'CLIENT TRACKING with REDIRECT, BCAST and PREFIX',
            'use the invalidation bus (createInvalidationBus) for cross-instance L1 invalidation',
          ),
        )
        return false
      }
    }
    if (this.connId === undefined) {
      const id = await this.clientId()
      if (moved()) return true
      this.connId = id
    }
    const id = this.connId
    if (!this.subscribed) {
      // RESP2: tracking on `conn` itself must be set before it enters subscriber mode
      if (!this.noloop) await this.enableVerified(id)
      await bounded(this.conn.subscribe(CHANNEL), COMMAND_TIMEOUT, 'SUBSCRIBE')
      if (moved()) return true
      this.subscribed = true
    }
    if (this.noloop && !(await this.verify(id))) {
      // off, or redirected elsewhere (after a restart client ids start again: an old id may name another client)
      if (this.confirmed) this.lost = true
      this.confirmed = false
      await this.enableVerified(id)
    }
    if (this.closed) return false
    if (moved()) return true
    this.confirm()
    return true
  }

  /**
   * `conn`'s CLIENT ID. node-redis subscribes a connection again by itself when it is back (it has no
   * `autoResubscribe: false`), and RESP2 refuses CLIENT ID in subscriber mode: then it unsubscribes first
   * (subscribed again below, once tracking is set; the caches are cleared when it is confirmed).
   */
  private async clientId(): Promise<number> {
    try {
      return Number(await this.call(this.conn, 'CLIENT', 'ID'))
    } catch (e) {
      if (!SUBSCRIBER_CONTEXT.test(String((e as Error)?.message))) throw e
      await bounded(this.conn.unsubscribe(CHANNEL), COMMAND_TIMEOUT, 'UNSUBSCRIBE')
      return Number(await this.call(this.conn, 'CLIENT', 'ID'))
    }
  }

  private confirm(): void {
    this.confirmed = true
    if (!this.once) {
      this.once = true
      this.lost = false
      this.hooks.ready()
    } else if (this.lost) {
      this.lost = false
      this.hooks.recovered()
    }
  }
}
