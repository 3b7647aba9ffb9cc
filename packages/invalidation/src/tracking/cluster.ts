/**
 * Client tracking on a Redis Cluster: tracking is per server, so one {@link TrackingSession} per master, on the
 * Cluster's own connection to that master (with NOLOOP: the writes this instance makes through the Cluster do not
 * evict its own L1 copies) redirected to a subscriber connection to the same master. The set of masters follows the
 * Cluster's topology (`+node`, `-node`, `refresh`: slot moves, a failover, a node replaced); a master that joins
 * after tracking was first on may have changed keys nobody reported, so its first confirmation clears the caches,
 * as a reconnection does.
 */
import type { UnsupportedServerError } from '@tierkit/contracts/redis'
import type { Cluster, Redis } from 'ioredis'
import { connectIfWaiting } from '../connect.js'
import { type SessionHooks, TrackingSession } from './session.js'

/** What the invalidator reads of its session(s). */
export interface Tracker {
  /** Tracking was confirmed on every master (at least once). */
  readonly once: boolean
  readonly lastError: unknown
  close(timeout: number): Promise<void>
}

const addressOf = (node: Redis): string => `${node.options.host}:${node.options.port}`

/** The tracking sessions of a Cluster, one per master. */
export class ClusterTracking implements Tracker {
  private readonly sessions = new Map<string, { node: Redis; session: TrackingSession }>()
  private closed = false
  private started = false
  private confirmedOnce = false
  private own: unknown
  private readonly periodic: ReturnType<typeof setInterval>

  private readonly sync = (): void => {
    if (this.closed) return
    const masters = new Map(this.cluster.nodes('master').map((n) => [addressOf(n), n]))
    for (const [address, s] of this.sessions) {
      // gone, or another connection to that address (ioredis replaced the node)
      if (masters.get(address) !== s.node) {
        this.sessions.delete(address)
        void s.session.close(1000)
      }
    }
    for (const [address, node] of masters) if (!this.sessions.has(address)) this.add(address, node)
    this.started = this.started || this.sessions.size > 0
    this.checkReady()
  }

  constructor(
    private readonly cluster: Cluster,
    private readonly prefixes: readonly string[],
    private readonly noloop: boolean,
    private readonly verifyInterval: number,
    private readonly hooks: SessionHooks,
  ) {
    cluster.on('+node', this.sync)
    cluster.on('-node', this.sync)
    cluster.on('refresh', this.sync)
    cluster.on('ready', this.sync)
    connectIfWaiting(cluster)
    if (cluster.status === 'ready') this.sync()
    this.periodic = setInterval(() => this.watchCoverage(), verifyInterval)
    this.periodic.unref?.()
  }

  /**
   * A master the slots still name but the Cluster dropped from its pool (killed, unreachable) has no session:
   * nothing reports its changes, so the caches are cleared every period until it is back, and the Cluster is
   * asked to refresh its slots (ioredis re-adds a node only on a refresh, which L1 hits never cause).
   */
  private watchCoverage(): void {
    if (this.closed || !this.confirmedOnce) return
    const needed = new Set<string>()
    for (const owners of this.cluster.slots) if (owners?.[0] !== undefined) needed.add(owners[0])
    for (const address of needed) {
      if (this.sessions.has(address)) continue
      this.hooks.disconnected()
      this.cluster.refreshSlotsCache()
      return
    }
  }

  get once(): boolean {
    return this.confirmedOnce
  }

  get lastError(): unknown {
    for (const { session } of this.sessions.values())
      if (session.lastError !== undefined) return session.lastError
    return this.own
  }

  private add(address: string, node: Redis): void {
    const joinedLate = this.confirmedOnce
    let first = true
    const session = new TrackingSession(node, this.prefixes, this.noloop, this.verifyInterval, {
      ready: () => {
        // a master that joins later: what changed there before now was reported to nobody
        if (first && joinedLate) this.hooks.recovered()
        first = false
        this.checkReady()
      },
      recovered: () => this.hooks.recovered(),
      disconnected: () => this.hooks.disconnected(),
      message: (channel, payload) => this.hooks.message(channel, payload),
      error: (error) => {
        this.own = error
        this.hooks.error(error)
      },
      unsupported: (error: UnsupportedServerError) => this.hooks.unsupported(error),
    })
    this.sessions.set(address, { node, session })
  }

  private checkReady(): void {
    if (this.confirmedOnce || !this.started || this.closed) return
    for (const { session } of this.sessions.values()) if (!session.once) return
    this.confirmedOnce = true
    this.hooks.ready()
  }

  async close(timeout: number): Promise<void> {
    this.closed = true
    clearInterval(this.periodic)
    this.cluster.off('+node', this.sync)
    this.cluster.off('-node', this.sync)
    this.cluster.off('refresh', this.sync)
    this.cluster.off('ready', this.sync)
    await Promise.all([...this.sessions.values()].map((s) => s.session.close(timeout)))
    this.sessions.clear()
  }
}
