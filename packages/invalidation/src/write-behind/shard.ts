/**
 * The loop of one shard of a flusher: makes sure the consumer group exists, then, step after step, keeps
 * the entries waiting for a retry its own, takes over the entries of crashed consumers (`XAUTOCLAIM`),
 * retries the due ones, and reads new entries (a blocking read for a queue of one shard, polling for a
 * sharded one), each batch through `processBatch`. When Redis lost the stream or the group it starts over.
 */
import type { Redis } from 'ioredis'
import { RAISE, Script } from '../scripts.js'
import { processBatch } from './batch.js'
import type { FlusherContext, ShardState } from './config.js'
import { keysOf, type QueueKeys } from './keys.js'
import { entriesOf, fieldsOf, queueLost, type RawEntry } from './stream.js'

/**
 * Claims entries for ARGV[2] only where they are still pending at ARGV[2] (taken over by no other consumer).
 * With ARGV[3] = '1' (JUSTID) it only resets their idle time, so that an entry waiting for a retry longer
 * than `claimTimeout` is not taken over as if its consumer had crashed, and returns the ids still owned;
 * otherwise it delivers them again (counting a delivery) and returns the entries.
 * KEYS: stream. ARGV: group, consumer, '1' | '0', ids...
 */
const CLAIM_OWN: Script = new Script(`
local out = {}
for i = 4, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if #p == 1 and p[1][2] == ARGV[2] then
    if ARGV[3] == '1' then
      redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
      out[#out + 1] = ARGV[i]
    else
      local e = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i])
      if #e == 1 then out[#out + 1] = e[1] end
    end
  end
end
return out
`)

/** One shard's loop (started by the constructor; `loop` settles when the flusher stops). */
export class ShardLoop<T = unknown> implements ShardState<T> {
  readonly flusher: FlusherContext<T>
  readonly keys: QueueKeys
  readonly retryAt: Map<string, number> = new Map()
  readonly loop: Promise<void>
  private claimCursor = '0-0'
  private nextClaim = 0
  private nextPrune = 0
  private nextTouch = 0
  /** How long a polled shard that had nothing to read waits before the next read (grows up to pollInterval). */
  private idle = 0

  constructor(flusher: FlusherContext<T>, index: number) {
    this.flusher = flusher
    this.keys = keysOf(flusher.config.name, index)
    this.loop = this.run()
  }

  private get redis(): Redis {
    return this.flusher.config.redis as Redis
  }

  /** Until stopped: the group first (retried with a backoff), then steps; an error pauses, a lost queue recovers. */
  private async run(): Promise<void> {
    const f = this.flusher
    let delay = 50
    while (!f.stopping) {
      try {
        await this.ensureGroup()
        break
      } catch (error) {
        f.emit({ type: 'error', error })
        await f.pause(delay)
        delay = Math.min(delay * 2, 2000)
      }
    }
    delay = 50
    while (!f.stopping) {
      try {
        await this.step()
        delay = 50
      } catch (error) {
        if (f.stopping) break
        f.emit({ type: 'error', error })
        if (queueLost(error)) {
          try {
            await this.recover()
            delay = 50
            continue
          } catch (e) {
            f.emit({ type: 'error', error: e })
          }
        }
        await f.pause(delay)
        delay = Math.min(delay * 2, 2000)
      }
    }
  }

  /**
   * Creates the group (and the stream) if missing. From id 0: every entry in the stream is delivered, so a
   * group re-created after a loss skips none of the writes acknowledged since (the stream holds only
   * entries not yet applied: applied ones are deleted).
   */
  private async ensureGroup(): Promise<void> {
    try {
      await this.redis.xgroup('CREATE', this.keys.stream, this.flusher.config.group, '0', 'MKSTREAM')
    } catch (e) {
      if (!String((e as Error)?.message).includes('BUSYGROUP')) throw e
    }
  }

  /**
   * Redis lost the stream or the group: re-create the group and start over. Retries kept in memory are
   * dropped (their entries are gone, or are delivered again by the new group); the version counter, lost
   * too, is raised to the highest version seen, so new writes keep newer versions than the applied ones.
   */
  private async recover(): Promise<void> {
    this.retryAt.clear()
    this.claimCursor = '0-0'
    this.nextClaim = 0
    this.nextPrune = 0
    await this.ensureGroup()
    if (this.flusher.highest > 0) await RAISE.run(this.redis, [this.keys.seq], [this.flusher.highest])
  }

  /** One round: retries kept, stale entries claimed, due retries run, then new entries read. True when it worked. */
  private async step(): Promise<boolean> {
    const now = Date.now()
    if (this.retryAt.size > 0 && now >= this.nextTouch) await this.keepRetries(now)
    let worked = false
    if (now >= this.nextClaim) worked = await this.claimStale()
    if (await this.retryDue()) worked = true
    const wait = this.waitTime()
    if (this.flusher.retrying() >= this.flusher.config.maxRetrying) {
      // the Store is failing a lot (an outage?): do not take more entries until the retries succeed, so an
      // outage longer than the retry schedule dead-letters at most this many entries; the rest wait queued
      await this.flusher.pause(wait)
      return worked
    }
    return this.readFresh(wait, worked)
  }

  /** Entries waiting for a retry stay ours: reset their idle time well before claimTimeout. */
  private async keepRetries(now: number): Promise<void> {
    const { group, consumer, claimTimeout } = this.flusher.config
    this.nextTouch = now + claimTimeout / 3
    const ids = [...this.retryAt.keys()]
    const kept = new Set(
      (await CLAIM_OWN.run(this.redis, [this.keys.stream], [group, consumer, '1', ...ids])) as string[],
    )
    for (const id of ids) if (!kept.has(id)) this.retryAt.delete(id) // applied or taken over elsewhere
  }

  /** Takes over the entries idle longer than `claimTimeout` at other consumers (crashed ones). */
  private async claimStale(): Promise<boolean> {
    const f = this.flusher
    const { group, consumer, claimTimeout, batchSize } = f.config
    const r = (await this.redis.xautoclaim(
      this.keys.stream,
      group,
      consumer,
      claimTimeout,
      this.claimCursor,
      'COUNT',
      batchSize,
    )) as unknown[]
    this.claimCursor = typeof r[0] === 'string' ? r[0] : '0-0'
    const claimed = entriesOf(r[1]).filter(([, fields]) => fields !== undefined)
    if (claimed.length > 0) {
      f.stats.claimed += claimed.length
      f.emit({ type: 'claimed', entries: claimed.length })
      await processBatch(this, claimed)
    }
    this.nextClaim = this.claimCursor === '0-0' ? Date.now() + Math.max(50, claimTimeout / 4) : 0
    if (this.claimCursor === '0-0') await this.pruneConsumers()
    return claimed.length > 0
  }

  /** Runs the retries that are due (up to a batch). */
  private async retryDue(): Promise<boolean> {
    const { group, consumer, batchSize } = this.flusher.config
    const due = [...this.retryAt].filter(([, at]) => at <= Date.now()).map(([id]) => id)
    if (due.length === 0) return false
    const batch = due.slice(0, batchSize)
    for (const id of batch) this.retryAt.delete(id)
    const r = await CLAIM_OWN.run(this.redis, [this.keys.stream], [group, consumer, '0', ...batch])
    await processBatch(this, entriesOf(r))
    return true
  }

  /** How long the next read may wait: until the soonest claim, touch or retry, at most `pollInterval`. */
  private waitTime(): number {
    let soonest = this.nextClaim === 0 ? Date.now() : this.nextClaim
    if (this.retryAt.size > 0 && this.nextTouch < soonest) soonest = this.nextTouch
    for (const at of this.retryAt.values()) if (at < soonest) soonest = at
    const poll = this.flusher.stopping ? 50 : this.flusher.config.pollInterval
    return Math.max(1, Math.min(poll, soonest - Date.now()))
  }

  /**
   * Reads new entries: a queue of one shard with a blocking `XREADGROUP` on the flusher's own connection;
   * the shards of a sharded queue are polled on `redis` itself, so that one blocked read does not hold back
   * the reads of other shards served by the same Cluster node.
   */
  private async readFresh(wait: number, worked: boolean): Promise<boolean> {
    const { group, consumer, batchSize, pollInterval } = this.flusher.config
    const polled = this.flusher.shardCount() > 1
    const args = ['GROUP', group, consumer, 'COUNT', batchSize] as const
    const r = (
      polled
        ? await this.redis.xreadgroup(...args, 'STREAMS', this.keys.stream, '>')
        : await this.flusher
            .blocking()
            .xreadgroup(...args, 'BLOCK', Math.ceil(wait), 'STREAMS', this.keys.stream, '>')
    ) as Array<[string, unknown]> | null
    const fresh: RawEntry[] = r?.[0] ? entriesOf(r[0][1]) : []
    if (fresh.length > 0) {
      this.idle = 0
      await processBatch(this, fresh)
      return true
    }
    if (polled && !worked) {
      this.idle = Math.min(pollInterval, Math.max(10, this.idle * 2))
      await this.flusher.pause(Math.min(wait, this.idle))
    }
    return worked
  }

  /** Removes consumers that left nothing pending and have been silent longer than `claimTimeout` (crashed ones). */
  private async pruneConsumers(): Promise<void> {
    const f = this.flusher
    const { group, consumer, claimTimeout } = f.config
    if (Date.now() < this.nextPrune) return
    this.nextPrune = Date.now() + claimTimeout
    const rows = (await this.redis.xinfo('CONSUMERS', this.keys.stream, group)) as unknown[]
    for (const row of rows) {
      const fields = fieldsOf(row)
      const name = fields?.get('name')
      if (!name || name === consumer) continue
      if (Number(fields?.get('pending')) === 0 && Number(fields?.get('idle')) > claimTimeout) {
        await this.redis.xgroup('DELCONSUMER', this.keys.stream, group, name)
        f.stats.prunedConsumers++
      }
    }
  }
}
