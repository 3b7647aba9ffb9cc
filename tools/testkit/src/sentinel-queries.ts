/** What the sentinels and the nodes of a set report: the agreed primary, the replica's health, discovery. */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { RespError, type RespValue, redisCommand } from './redis-resp.js'
import { infoField, row, type SentinelProc } from './sentinel-process.js'

/** Queries over the sentinels of the set named `name` (the list fills as they start). */
export class SentinelQueries {
  readonly #name: string
  readonly #sentinels: readonly SentinelProc[]

  constructor(name: string, sentinels: readonly SentinelProc[]) {
    this.#name = name
    this.#sentinels = sentinels
  }

  /** The same command to every sentinel, in order; a failure is a {@link RespError} in its place. */
  async askSentinels(args: string[]): Promise<RespValue[]> {
    const out: RespValue[] = []
    for (const s of this.#sentinels) {
      out.push(
        await redisCommand({ host: '127.0.0.1', port: s.port }, args, { timeoutMs: 1000 }).catch(
          (e: unknown) => new RespError(String((e as Error)?.message ?? e)),
        ),
      )
    }
    return out
  }

  /** The primary the first sentinel that answers reports. */
  async masterAddress(): Promise<{ host: string; port: number }> {
    let last: unknown
    for (const s of this.#sentinels) {
      try {
        const r = await redisCommand(
          { host: '127.0.0.1', port: s.port },
          ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.#name],
          { timeoutMs: 1000 },
        )
        if (Array.isArray(r) && r.length === 2) return { host: String(r[0]), port: Number(r[1]) }
        last = r
      } catch (e) {
        last = e
      }
    }
    throw new Error(`startSentinel: no sentinel reports a primary for ${this.#name}: ${String(last)}`)
  }

  async #isMaster(port: number): Promise<boolean> {
    const r = await redisCommand({ host: '127.0.0.1', port }, ['ROLE'], { timeoutMs: 1000 }).catch(() => null)
    return Array.isArray(r) && r[0] === 'master'
  }

  /** The port every sentinel agrees on as the primary, when it answers ROLE as a master. */
  async agreed(): Promise<number | undefined> {
    const replies = await this.askSentinels(['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.#name])
    const ports = replies.map((r) => (Array.isArray(r) && r.length === 2 ? Number(r[1]) : Number.NaN))
    const p = ports[0]
    if (p === undefined || Number.isNaN(p) || ports.some((x) => x !== p)) return undefined
    return (await this.#isMaster(p)) ? p : undefined
  }

  /** The replica (the node at `replicaPort`) is linked to the primary and known, healthy, by every sentinel. */
  async replicaReady(primaryPort: number, replicaPort: number): Promise<boolean> {
    const info = await redisCommand({ host: '127.0.0.1', port: replicaPort }, ['INFO', 'replication'], {
      timeoutMs: 1000,
    }).catch(() => null)
    if (info === null || infoField(info, 'role') !== 'slave') return false
    if (Number(infoField(info, 'master_port')) !== primaryPort) return false
    if (infoField(info, 'master_link_status') !== 'up') return false
    const lists = await this.askSentinels(['SENTINEL', 'REPLICAS', this.#name])
    return lists.every(
      (l) =>
        Array.isArray(l) &&
        l.some((r) => {
          const f = row(r)
          return Number(f.port) === replicaPort && !/s_down|o_down|disconnected/.test(f.flags ?? '')
        }),
    )
  }

  /** Every sentinel lists the other ones. */
  async sentinelsKnowEachOther(): Promise<boolean> {
    const lists = await this.askSentinels(['SENTINEL', 'SENTINELS', this.#name])
    return lists.every((l) => Array.isArray(l) && l.length === this.#sentinels.length - 1)
  }

  /** Polls `fn` every 50 ms; throws with the tails of the sentinels' logs when it does not hold in time. */
  async waitUntil(what: string, timeoutMs: number, fn: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      if (await fn()) return
      await sleep(50)
    }
    if (await fn()) return
    const logs = this.#sentinels
      .map((s) => {
        const p = join(s.dir, 'sentinel.log')
        return existsSync(p) ? readFileSync(p, 'utf8').split('\n').slice(-6).join('\n') : ''
      })
      .join('\n---\n')
    throw new Error(`startSentinel: ${what} did not happen within ${timeoutMs} ms\n${logs}`)
  }
}
