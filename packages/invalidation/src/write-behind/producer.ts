/**
 * The producer side of write-behind: appends a write or a removal to its shard's stream with a version
 * (the ENQUEUE script: idempotent across re-sends, versions that only grow), records the shard count for the
 * flushers, and remembers the newest entry queued in each shard, which is what its `flush()` waits for.
 */
import { randomBytes } from 'node:crypto'
import { isReplyError } from '@tierkit/contracts/redis'
import type { Cluster, Redis } from 'ioredis'
import { QueueWriteError } from '../errors.js'
import { RAISE, Script } from '../scripts.js'
import { waitDrained } from './drain.js'
import { keysOf, type QueueKeys, shardOf, shardsKey } from './keys.js'
import { compareIds } from './stream.js'
import type { QueuedWrite } from './types.js'

/**
 * Appends one write to the queue with its version: max(now in µs from the server clock, last version + 1,
 * floor + 1), where `floor` is the highest version the writer has seen. The floor keeps one writer's
 * versions growing when Redis lost the version counter and its clock is behind the versions handed out
 * before (a restart on another host, a failover).
 *
 * Idempotent: each writer numbers its writes and keeps, in a sorted set of its own (`writes`), the result of
 * every write whose reply it may not have received yet. A write sent again (ioredis re-sends unanswered
 * commands after a reconnect; under node-redis, which rejects them, the writer sends it again itself) finds
 * its number there and gets the first run's id and version back instead of being queued twice. Each call
 * drops the results below the lowest number still waiting for its reply (those replies have arrived, so they
 * can never be re-sent), so the set holds at most the writes in flight.
 *
 * KEYS: stream, seq, writes. ARGV: key, op, payload, floor, write number, lowest number in flight, TTL of
 * `writes` in ms. Returns { id, version }.
 */
const ENQUEUE: Script = new Script(`
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[6])
local seen = redis.call('ZRANGEBYSCORE', KEYS[3], ARGV[5], ARGV[5])
if #seen > 0 then
  local id, vs = string.match(seen[1], '^%d+ (%S+) (%d+)$')
  if id then return {id, vs} end
end
local t = redis.call('TIME')
local v = tonumber(t[1]) * 1000000 + tonumber(t[2])
local last = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
local floor = tonumber(ARGV[4]) or 0
if last < floor then last = floor end
if v <= last then v = last + 1 end
local vs = string.format('%d', v)
redis.call('SET', KEYS[2], vs)
local id = redis.call('XADD', KEYS[1], '*', 'k', ARGV[1], 'o', ARGV[2], 'v', ARGV[3], 'n', vs)
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[5] .. ' ' .. id .. ' ' .. vs)
redis.call('PEXPIRE', KEYS[3], ARGV[7])
return {id, vs}
`)

/**
 * How long a writer's record of its writes in flight is kept after its last write, in ms. It only has to
 * outlive a re-send, which ioredis makes when it reconnects: a day covers any reconnect loop worth waiting
 * for, and the record holds only the writes in flight, so an idle writer leaves one small key behind.
 */
const WRITES_TTL = 86_400_000

/**
 * How many times the writer itself sends a write again whose connection was lost before the reply came.
 * ioredis re-sends such a command on the new connection by itself; node-redis rejects it (the script may
 * have run), so the writer does what ioredis does, and ENQUEUE answers a re-sent write with its first run.
 */
const MAX_RESENDS = 5

/**
 * The connection dropped while the command waited for its reply: node-redis' `SocketClosedUnexpectedlyError`
 * or a socket reset (ioredis never rejects with these: it re-sends). Not a reply of Redis (a refusal, a
 * denial), nor a timeout: those are final.
 */
function lostInFlight(e: unknown): boolean {
  if (!(e instanceof Error) || isReplyError(e)) return false
  const code = (e as { code?: unknown }).code
  return e.constructor.name === 'SocketClosedUnexpectedlyError' || code === 'ECONNRESET' || code === 'EPIPE'
}

/** Queues the writes of one writer (`writeBehind`) on the `shards` shards of queue `name`. */
export class Producer {
  private readonly shards: ReadonlyArray<{ keys: QueueKeys; writes: string }>
  /** The newest entry this writer queued, by shard: what `flush()` waits for. */
  private readonly last = new Map<number, string>()
  /** The highest version this writer was given: the floor of its next versions (see ENQUEUE). */
  private highest = 0
  private writeNumber = 0
  /** Numbers of the writes sent and not answered yet, in increasing order (a Set keeps insertion order). */
  private readonly inFlight = new Set<number>()
  /**
   * A sharded queue records its shard count for the flushers (see createFlusher), once, in the background:
   * the first shard's master may be down, and that must not hold back writes to the other shards.
   */
  private recorded: boolean
  private nextRecord = 0
  private readonly redis: Redis | Cluster
  private readonly name: string
  private readonly shardCount: number

  constructor(redis: Redis | Cluster, name: string, shardCount: number) {
    this.redis = redis
    this.name = name
    this.shardCount = shardCount
    this.recorded = shardCount === 1
    const writerId = randomBytes(8).toString('hex')
    this.shards = Array.from({ length: shardCount }, (_, i) => {
      const keys = keysOf(name, i)
      /** This writer's record of its writes in flight in the shard (see ENQUEUE): `…:w:<writer id>`. */
      return { keys, writes: `${keys.stream.slice(0, -1)}w:${writerId}` }
    })
  }

  /**
   * Appends `op` (`s` save, `d` remove) of `key` with `payload` to the key's shard; resolves once it is
   * durably queued. @throws QueueWriteError (named `where`) when Redis did not take it.
   */
  async enqueue(where: string, key: string, op: 's' | 'd', payload: string): Promise<QueuedWrite> {
    let r: unknown
    const shard = shardOf(key, this.shardCount)
    const { keys, writes } = this.shards[shard]!
    const n = ++this.writeNumber
    this.inFlight.add(n)
    try {
      const lowest = this.inFlight.values().next().value as number
      const args = [key, op, payload, this.highest, n, lowest, WRITES_TTL]
      for (let resends = 0; ; resends++) {
        try {
          r = await ENQUEUE.run(this.redis, [keys.stream, keys.seq, writes], args)
          break
        } catch (e) {
          // the same write again (the same number): queued once, whether or not the lost one ran
          if (resends >= MAX_RESENDS || !lostInFlight(e)) throw e
        }
      }
    } catch (e) {
      throw new QueueWriteError(where, key, e)
    } finally {
      this.inFlight.delete(n)
    }
    this.recordShards()
    const [id, raw] = r as [string, string | number]
    const version = Number(raw)
    const prev = this.last.get(shard)
    if (prev === undefined || compareIds(id, prev) > 0) this.last.set(shard, id)
    if (version > this.highest) this.highest = version
    return { id, version }
  }

  /** Waits until every entry this writer queued is gone from its shard (applied or dead-lettered). */
  drained(call: string, timeout: number): Promise<void> {
    const targets = new Map([...this.last].map(([shard, id]) => [this.shards[shard]!.keys.stream, id]))
    return waitDrained(call, this.name, this.redis, targets, timeout)
  }

  private recordShards(): void {
    if (this.recorded || Date.now() < this.nextRecord) return
    this.nextRecord = Date.now() + 5_000
    RAISE.run(this.redis, [shardsKey(this.name)], [this.shardCount]).then(
      () => {
        this.recorded = true
      },
      () => {},
    )
  }
}
