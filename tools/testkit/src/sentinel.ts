/**
 * `startSentinel`: a real primary + replica under three `redis-sentinel` processes on free loopback ports, in one
 * temporary folder, with helpers to fail the primary over (SENTINEL FAILOVER) or kill a node and let the
 * sentinels promote the replica by themselves.
 */
import type { ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort } from './ports.js'
import { exited, isRunning, terminate, trackDir } from './processes.js'
import { portTaken, spawnRedis } from './redis.js'
import { RespError, redisCommand } from './redis-resp.js'
import { positiveInt, redisSentinelBin, type SentinelProc, spawnSentinel } from './sentinel-process.js'
import { SentinelQueries } from './sentinel-queries.js'

export { redisSentinelBin }

/** Options of {@link startSentinel}. */
export interface StartSentinelOptions {
  /** Name of the monitored master (`sentinel monitor <name> ...`). @default 'tierkit' */
  name?: string
  /** Sentinels that must agree the primary is down. @default 2 */
  quorum?: number
  /** `sentinel down-after-milliseconds`: how long the primary may be silent before it is considered down. @default 1000 */
  downAfterMs?: number
  /** `sentinel failover-timeout`. @default 5000 */
  failoverTimeoutMs?: number
  /** How long to wait for the whole set-up (replica in sync, sentinels know each other). @default 30000 */
  startTimeoutMs?: number
}

/** One redis-server of the set (primary or replica; the roles swap on a failover). */
export interface SentinelRedisNode {
  /** Always `127.0.0.1`. */
  readonly host: string
  /** The port (kept across restarts). */
  readonly port: number
  /** The data dir (log). */
  readonly dir: string
  /** True while the process runs. */
  readonly running: boolean
  /** pid of the current process, undefined while stopped. */
  readonly pid: number | undefined
  /** Kills the node with SIGKILL and waits for it to exit. */
  kill(): Promise<void>
  /**
   * Starts the node again on its port (no data kept) as a replica of the current primary, and waits until it
   * answers PING. The sentinels then count it as a replica again.
   */
  restart(): Promise<void>
}

/** A running Sentinel set started by {@link startSentinel}. */
export interface SentinelSet {
  /** The monitored master's name, for `new Redis({ sentinels, name })`. */
  readonly name: string
  /** The sentinels' addresses, for `new Redis({ sentinels, name })`. */
  readonly sentinels: ReadonlyArray<{ host: string; port: number }>
  /** The two redis-server nodes (primary and replica at the start, in that order). */
  readonly nodes: readonly SentinelRedisNode[]
  /** The root temp folder (removed when the tests end). */
  readonly dir: string
  /** The primary as the sentinels report it now (asks each sentinel in turn). */
  masterAddress(): Promise<{ host: string; port: number }>
  /** The node that is the primary according to the sentinels (undefined when they report another address). */
  primary(): Promise<SentinelRedisNode | undefined>
  /**
   * Forces a failover (`SENTINEL FAILOVER <name>`, retried while the sentinels refuse it as not ready) and
   * waits until every sentinel reports the new primary and it answers as a master (about a second); then, unless
   * `waitForReplica: false`, also until the old primary follows it as a replica (the sentinels reconfigure it
   * about 10 s later), so that another failover can follow.
   * @returns the new primary's address.
   * @throws Error when that does not happen within `timeoutMs` (default 30000).
   */
  failover(options?: {
    timeoutMs?: number
    waitForReplica?: boolean
  }): Promise<{ host: string; port: number }>
  /**
   * Waits until the node that is not the primary (when it runs) is a replica of the primary with its link up, and
   * every sentinel counts it as a healthy replica: then a failover can promote it.
   */
  waitForReplica(timeoutMs?: number): Promise<void>
  /**
   * SIGKILLs the node that has `role` now (`'primary'` or `'replica'`) and returns it; `node.restart()` brings it
   * back as a replica. Killing the primary makes the sentinels promote the replica after `downAfterMs`.
   */
  kill(role: 'primary' | 'replica'): Promise<SentinelRedisNode>
  /** Waits until every sentinel reports a primary other than `oldPort` and it answers as a master. */
  waitForNewPrimary(oldPort: number, timeoutMs?: number): Promise<{ host: string; port: number }>
  /** Stops the sentinels and both nodes and waits for them to exit. Idempotent. */
  stop(): Promise<void>
}

/** Starts a redis-server of the set (diskless replication), on `port` or a free one, following `replicaOf`. */
async function spawnNode(
  port: number | undefined,
  dir: string,
  replicaOf: { host: string; port: number } | undefined,
): Promise<{ child: ChildProcess; port: number }> {
  const args = [
    '--appendonly',
    'no',
    '--save',
    '',
    '--repl-diskless-sync',
    'yes',
    '--repl-diskless-sync-delay',
    '0',
    ...(replicaOf ? ['--replicaof', replicaOf.host, String(replicaOf.port)] : []),
  ]
  for (let attempt = 0; ; attempt++) {
    const p = port ?? (await freePort())
    try {
      return { child: await spawnRedis(p, dir, args, { timeoutMs: 10_000 }), port: p }
    } catch (e) {
      if (port === undefined && attempt < 4 && portTaken(e)) continue
      throw e
    }
  }
}

/** A node of the set; `restart()` brings it back as a replica of the sentinels' current primary (if another). */
function makeNode(
  dir: string,
  port: number,
  slot: { child: ChildProcess | undefined },
  masterAddress: () => Promise<{ host: string; port: number }>,
): SentinelRedisNode {
  return {
    host: '127.0.0.1',
    port,
    dir,
    get running() {
      return slot.child !== undefined && isRunning(slot.child)
    },
    get pid() {
      return slot.child && isRunning(slot.child) ? slot.child.pid : undefined
    },
    async kill() {
      const c = slot.child
      if (!c || !isRunning(c)) return
      const gone = exited(c)
      c.kill('SIGKILL')
      await gone
    },
    async restart() {
      if (slot.child && isRunning(slot.child)) await terminate(slot.child, 2000)
      // the sentinels' current primary, unless that is this node (then it comes back as a master with no data)
      const primaryAddr = await masterAddress().catch(() => undefined)
      const follow = primaryAddr && primaryAddr.port !== port ? primaryAddr : undefined
      slot.child = (await spawnNode(port, dir, follow)).child
    },
  }
}

/**
 * Starts a primary, one replica (`--replicaof`) and three `redis-sentinel` processes monitoring the primary as
 * `name` (quorum 2, `downAfterMs` 1000, `failoverTimeoutMs` 5000, so that a failover takes a few seconds), all on
 * free loopback ports in one temporary folder; resolves once the replica is in sync and every sentinel knows the
 * replica and the two other sentinels. Everything is stopped when the test file ends (also on failure) or the
 * process exits, and the folder removed.
 * @throws TypeError on a bad option; Error when the set does not come up within `startTimeoutMs`.
 * @example
 * const set = await startSentinel()
 * const redis = new Redis({ sentinels: [...set.sentinels], name: set.name })
 * await set.failover() // redis follows the new primary
 */
export async function startSentinel(options: StartSentinelOptions = {}): Promise<SentinelSet> {
  const name = options.name ?? 'tierkit'
  if (typeof name !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(name)) {
    throw new TypeError('startSentinel: name must be a non-empty string of letters, digits, _ . -')
  }
  const quorum = positiveInt('quorum', options.quorum ?? 2)
  if (quorum > 3) throw new TypeError('startSentinel: quorum must be at most 3 (there are 3 sentinels)')
  const downAfterMs = positiveInt('downAfterMs', options.downAfterMs ?? 1000)
  const failoverTimeoutMs = positiveInt('failoverTimeoutMs', options.failoverTimeoutMs ?? 5000)
  const startTimeoutMs = positiveInt('startTimeoutMs', options.startTimeoutMs ?? 30_000)

  const root = mkdtempSync(join(tmpdir(), 'tierkit-sentinel-'))
  const untrackRoot = trackDir(root)
  const procs: Array<{ child: ChildProcess | undefined }> = []
  const sentinelProcs: SentinelProc[] = []
  let stopped = false

  const stopAll = async (): Promise<void> => {
    await Promise.all(sentinelProcs.map((s) => terminate(s.child, 2000)))
    await Promise.all(procs.map((p) => (p.child ? terminate(p.child, 2000) : undefined)))
  }
  const q = new SentinelQueries(name, sentinelProcs)
  const masterAddress = (): Promise<{ host: string; port: number }> => q.masterAddress()

  try {
    const primaryDir = join(root, 'node-a')
    const replicaDir = join(root, 'node-b')
    mkdirSync(primaryDir)
    mkdirSync(replicaDir)
    const a = await spawnNode(undefined, primaryDir, undefined)
    const slotA = { child: a.child as ChildProcess | undefined }
    procs.push(slotA)
    const b = await spawnNode(undefined, replicaDir, { host: '127.0.0.1', port: a.port })
    const slotB = { child: b.child as ChildProcess | undefined }
    procs.push(slotB)
    const nodes = [
      makeNode(primaryDir, a.port, slotA, masterAddress),
      makeNode(replicaDir, b.port, slotB, masterAddress),
    ]
    for (let i = 0; i < 3; i++) {
      const d = join(root, `sentinel-${i}`)
      mkdirSync(d)
      sentinelProcs.push(await spawnSentinel(d, name, a.port, quorum, downAfterMs, failoverTimeoutMs))
    }
    await q.waitUntil('replica sync and sentinel discovery', startTimeoutMs, async () => {
      return (await q.replicaReady(a.port, b.port)) && (await q.sentinelsKnowEachOther())
    })

    const nodeAt = (port: number): SentinelRedisNode | undefined => nodes.find((n) => n.port === port)

    const waitForNewPrimary = async (
      oldPort: number,
      timeoutMs = 30_000,
    ): Promise<{ host: string; port: number }> => {
      let found: number | undefined
      await q.waitUntil(`a primary other than ${oldPort}`, timeoutMs, async () => {
        const p = await q.agreed()
        if (p === undefined || p === oldPort) return false
        found = p
        return true
      })
      return { host: '127.0.0.1', port: found! }
    }

    const set: SentinelSet = {
      name,
      sentinels: sentinelProcs.map((s) => ({ host: '127.0.0.1', port: s.port })),
      nodes,
      dir: root,
      masterAddress,
      async primary() {
        return nodeAt((await masterAddress()).port)
      },
      async failover(opts = {}) {
        const timeoutMs = opts.timeoutMs ?? 30_000
        const deadline = Date.now() + timeoutMs
        const old = await masterAddress()
        for (;;) {
          const s = sentinelProcs[0]!
          const r = await redisCommand({ host: '127.0.0.1', port: s.port }, ['SENTINEL', 'FAILOVER', name], {
            timeoutMs: 2000,
          }).catch((e: unknown) => new RespError(String((e as Error)?.message ?? e)))
          if (r === 'OK') break
          // NOGOODSLAVE / INPROG: the replica is not ready yet, or a failover runs; try again
          if (Date.now() > deadline) throw new Error(`startSentinel: SENTINEL FAILOVER refused: ${String(r)}`)
          await sleep(200)
        }
        const next = await waitForNewPrimary(old.port, Math.max(1000, deadline - Date.now()))
        if (opts.waitForReplica !== false) await set.waitForReplica(Math.max(1000, deadline - Date.now()))
        return next
      },
      async waitForReplica(timeoutMs = 30_000) {
        await q.waitUntil('the replica to follow the primary', timeoutMs, async () => {
          const p = await q.agreed()
          if (p === undefined) return false
          const other = nodes.find((n) => n.port !== p)
          if (!other?.running) return true
          return q.replicaReady(p, other.port)
        })
      },
      async kill(role) {
        const p = (await masterAddress()).port
        const node = role === 'primary' ? nodeAt(p) : nodes.find((n) => n.port !== p)
        if (!node) throw new Error(`startSentinel: no ${role} node is known`)
        await node.kill()
        return node
      },
      waitForNewPrimary,
      async stop() {
        if (stopped) return
        stopped = true
        await stopAll()
        untrackRoot()
      },
    }
    return set
  } catch (e) {
    await stopAll()
    untrackRoot()
    throw e
  }
}
