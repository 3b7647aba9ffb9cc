import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import {
  type CacheObserver,
  ClosedError,
  type CloseOptions,
  checkDuration,
  checkFunction,
  checkInteger,
  checkObject,
  checkString,
  checkTtl,
  closeTimeout,
  exactSerializer,
  invalidArgument,
  refuseRenamed,
  type Serializer,
  type Store,
  type StoreWrite,
  type WritableCache,
} from '@tierkit/contracts'
import type { Cluster, Redis } from 'ioredis'
import {
  checkBus,
  checkCache,
  checkName,
  checkObserver,
  checkRedis,
  checkSerializer,
  checkStore,
} from './args.js'
import { connectIfWaiting } from './connect.js'
import {
  corruptEntry,
  FlushTimeoutError,
  MalformedEntryError,
  QueueWriteError,
  ShardCountError,
  unserializable,
} from './errors.js'
import { DEAD_LETTER, REQUEUE, Script } from './scripts.js'
import { callStore } from './store.js'
import { checkJitter, checkTtlOption, resolveTtl } from './ttl.js'
import type { InvalidationPublisher, TtlOption } from './types.js'
import {
  checkRepair,
  checkValue,
  type RepairOptions,
  RepairQueue,
  type WriteOptions,
  type WriterEvent,
} from './writers.js'

/**
 * Redis keys of one shard of a write-behind queue (all in one hash slot, so the scripts run on a Cluster).
 */
export interface QueueKeys {
  /** The stream of pending writes. */
  readonly stream: string
  /** The last version handed out. */
  readonly seq: string
  /** The dead-letter stream. */
  readonly dead: string
  /** Prefix of the per-key applied-version guards. */
  readonly guard: string
}

/** Most shards a queue can have. */
const MAX_SHARDS = 256

/**
 * The Redis keys of shard `shard` (default 0) of the queue `name`. Shard 0: `wb:{name}:q` (stream),
 * `wb:{name}:seq`, `wb:{name}:dead`, `wb:{name}:a:<key>` (guards); shard i > 0: the same under
 * `wb:{name|i}:si:`. The part in braces is a hash tag: a shard lives in one slot, and on a Cluster the
 * shards of a queue are spread over the masters.
 * @throws TierkitTypeError (`E_INVALID_ARGUMENT`) when `name` is empty or contains `{` or `}`, or `shard`
 * is not an integer from 0 to 255.
 */
export function queueKeys(name: string, shard = 0): QueueKeys {
  checkName('queueKeys', 'name', name)
  checkInteger('queueKeys', 'shard', shard, 0, MAX_SHARDS - 1)
  return keysOf(name, shard)
}

function keysOf(name: string, shard: number): QueueKeys {
  const base = shard === 0 ? `wb:{${name}}` : `wb:{${name}|${shard}}:s${shard}`
  return { stream: `${base}:q`, seq: `${base}:seq`, dead: `${base}:dead`, guard: `${base}:a:` }
}

/** Where writers record the shard count of a sharded queue (in the slot of shard 0). */
function shardsKey(name: string): string {
  return `wb:{${name}}:shards`
}

/** 16 shards on a Cluster (spread over its masters), 1 on a single Redis. */
function defaultShards(redis: Redis | Cluster): number {
  return (redis as Cluster).isCluster === true ? 16 : 1
}

function checkShards(where: string, v: unknown): number {
  return checkInteger(where, 'shards', v, 1, MAX_SHARDS)
}

/** The shard of `key`: FNV-1a (32 bits, over the UTF-16 code units) modulo `shards`. */
function shardOf(key: string, shards: number): number {
  if (shards === 1) return 0
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return (h >>> 0) % shards
}

/** What `write` and `remove` resolve to once the write is durably queued (acknowledged). */
export interface QueuedWrite {
  /** Stream entry id. */
  readonly id: string
  /** Version of the write (grows with every write on this queue). */
  readonly version: number
}

/** Events of a flusher. */
export type FlusherEvent =
  /** Entries were applied to the Store (or skipped as superseded) and removed from the queue. */
  | { type: 'applied'; entries: number; keys: number; versions: readonly number[] }
  /** A write failed and will be retried after `delay` ms. */
  | { type: 'retry'; key: string; id: string; attempt: number; delay: number; error: unknown }
  /** A write failed `attempts` times (or was malformed) and was moved to the dead-letter stream. */
  | { type: 'dead-letter'; key: string; id: string; attempts: number; error: unknown }
  /** Entries of a consumer that stopped answering were taken over (`XAUTOCLAIM`). */
  | { type: 'claimed'; entries: number }
  /** A Redis error in the loop (it goes on after a pause). */
  | { type: 'error'; error: unknown }

/** Options of {@link createFlusher}. */
export interface FlusherOptions<T = unknown> {
  /**
   * An ioredis `Redis` or `Cluster` (duplicated once for blocking reads; not closed by `close()`). A client
   * made with `lazyConnect: true` works: the duplicate is connected at once.
   */
  redis: Redis | Cluster
  /** The queue name (the same as given to `writeBehind`). */
  name: string
  /** The database. Make `save`/`remove` honour `context.version` (see `WriteContext`). */
  store: Store<T>
  /**
   * Shards of the queue, as given to `writeBehind` (each is read on its own, so a Cluster master that is
   * down holds back only its shards). More shards recorded by a writer (`wb:{name}:shards`) are read too.
   * @default 16 on a Cluster, 1 on a single Redis
   */
  shards?: number
  /** Consumer group name. @default 'flushers' */
  group?: string
  /** This consumer's name; unique per running flusher. @default `${hostname}-${pid}-${random}` */
  consumer?: string
  /** Entries read per batch: an integer from 1 to 1000. @default 100 */
  batchSize?: number
  /**
   * How long an idle flusher waits for new entries before it looks again, in ms: a queue of one shard is read
   * with a blocking `XREADGROUP` that returns as soon as an entry arrives, at the latest after this; a
   * sharded queue is polled, an idle shard at most this often. Also bounds how long `close()` waits for the
   * current read. @default 500
   */
  pollInterval?: number
  /**
   * Tries before an entry goes to the dead-letter stream. While more than `4 × batchSize` entries wait for a
   * retry, no new entries are taken, so a database outage dead-letters at most that many. @default 8
   */
  maxAttempts?: number
  /** Retry delay: `base * 2^(attempt-1)` ms, at most `max`, with jitter (about 64 s over 8 tries). @default { base: 500, max: 60000 } */
  backoff?: { base?: number; max?: number }
  /**
   * How long an entry may stay pending at a consumer that does not acknowledge it before another consumer
   * takes it over (`XAUTOCLAIM`), in ms: the time after which a silent consumer counts as crashed. An entry
   * waiting for its retry is not taken over. @default 30000
   */
  claimTimeout?: number
  /** Time to live of the per-key applied-version guards in Redis (`wb:{name}:a:<key>`), in ms. @default 86400000 */
  guardTtl?: number
  /** Value encoding; must match the producers'. @default `exactSerializer` of `@tierkit/contracts` */
  serializer?: Serializer
  /**
   * Told about every database write: `record('db', 'set' | 'error', duration)` (a `CacheObserver`;
   * `@tierkit/metrics`' observer is one).
   */
  observer?: CacheObserver
  /**
   * The cache the producers update. When an entry is dead-lettered, its key is deleted from it (and
   * published on `bus`), so readers fall back to what the database really holds. Without it, a
   * dead-lettered value stays cached until its TTL.
   */
  cache?: WritableCache
  /** Tells the other instances to drop their L1 copies of dead-lettered keys. */
  bus?: InvalidationPublisher
  /** Receives events (see {@link FlusherEvent}). A listener that throws is ignored. */
  onEvent?: (event: FlusherEvent) => void
}

/** Counters of a flusher. */
export interface FlusherStats {
  /** Keys written to the Store. */
  saved: number
  /** Entries removed from the queue because a newer entry of the same key was applied with them (coalescing). */
  coalesced: number
  /** Entries skipped because the guard showed a newer version already applied. */
  skipped: number
  /** Failed attempts that will be retried. */
  retries: number
  /** Entries moved to the dead-letter stream. */
  deadLettered: number
  /** Entries taken over from other consumers. */
  claimed: number
  /** Store batches (saveMany calls or rounds of save calls). */
  batches: number
  /** Crashed consumers removed from the group once nothing was pending at them. */
  prunedConsumers: number
}

/** A running flusher. */
export interface Flusher {
  /** This consumer's name. */
  readonly consumer: string
  /**
   * Resolves when every entry queued before the call has been applied or dead-lettered.
   * @param options - `timeout`: how long to wait, in ms (default 30000)
   * @throws FlushTimeoutError (`E_FLUSH_TIMEOUT`) after `timeout` (nothing is lost: the entries stay queued).
   * @throws ClosedError (`E_CLOSED`) after `close()`.
   */
  flush(options?: CloseOptions): Promise<void>
  /**
   * Drains the queue (as `flush`), then stops and closes its blocking connection. Idempotent: a second call
   * returns the first one's promise.
   * @param options - `timeout`: how long to drain, in ms (default 30000)
   * @throws FlushTimeoutError when it could not drain in time (it still stops; entries stay queued).
   */
  close(options?: CloseOptions): Promise<void>
  /** Counters (still readable after `close()`). */
  stats(): FlusherStats
}

/** One entry of the dead-letter stream. */
export interface DeadLetter {
  /** Id in the dead-letter stream. */
  readonly id: string
  /** The key. */
  readonly key: string
  /** `save` or `remove`. */
  readonly operation: 'save' | 'remove' | 'unknown'
  /** The encoded value. */
  readonly payload: string
  /** Version of the write. */
  readonly version: number
  /** Id the entry had in the queue. */
  readonly originalId: string
  /** Attempts made. */
  readonly attempts: number
  /** The last error's message. */
  readonly error: string
  /** The last error's code, when it had one. */
  readonly code: string
  /** The shard whose dead-letter stream holds it (0 for a queue of one shard). */
  readonly shard: number
}

/** The default bound of `flush()` and `close()` of a writer or a flusher, in ms (the README documents it). */
export const DEFAULT_DRAIN_TIMEOUT = 30_000

/**
 * The flusher's defaults (the README's option table documents these; a test compares the two). Not exported
 * by the package. Retries:
 * with 8 tries and delays of 500 · 2^(attempt-1) ms (jittered to between half and all of it), an entry is
 * dead-lettered after about 32–64 s of failures, so a database restart or failover does not dead-letter what
 * was queued meanwhile; the 60 s cap matters only when `maxAttempts` is raised above 8.
 */
export const FLUSHER_DEFAULTS: {
  readonly group: string
  readonly batchSize: number
  readonly pollInterval: number
  readonly maxAttempts: number
  readonly backoff: { readonly base: number; readonly max: number }
  readonly claimTimeout: number
  readonly guardTtl: number
} = Object.freeze({
  group: 'flushers',
  batchSize: 100,
  pollInterval: 500,
  maxAttempts: 8,
  backoff: Object.freeze({ base: 500, max: 60_000 }),
  claimTimeout: 30_000,
  guardTtl: 86_400_000,
})

/**
 * Appends one write to the queue with its version: max(now in µs from the server clock, last version + 1,
 * floor + 1), where `floor` is the highest version the writer has seen. The floor keeps one writer's
 * versions growing when Redis lost the version counter and its clock is behind the versions handed out
 * before (a restart on another host, a failover).
 *
 * Idempotent: each writer numbers its writes and keeps, in a sorted set of its own (`writes`), the result of
 * every write whose reply it may not have received yet. A write sent again (ioredis re-sends unanswered
 * commands after a reconnect) finds its number there and gets the first run's id and version back instead of
 * being queued twice. Each call drops the results below the lowest number still waiting for its reply
 * (those replies have arrived, so they can never be re-sent), so the set holds at most the writes in flight.
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
 * Acknowledges applied entries: raises each key's applied-version guard (never lowers it; a guard that is
 * not a number is overwritten), then XACK and XDEL the entry ids.
 * KEYS: stream, guard keys... ARGV: group, guard TTL ms, versions (one per guard key), ids...
 */
const ACK: Script = new Script(`
local n = #KEYS - 1
for i = 1, n do
  local cur = tonumber(redis.call('GET', KEYS[i + 1]) or '0') or 0
  if tonumber(ARGV[2 + i]) > cur then redis.call('SET', KEYS[i + 1], ARGV[2 + i], 'PX', ARGV[2]) end
end
local ids = {}
for i = 3 + n, #ARGV do ids[#ids + 1] = ARGV[i] end
if #ids > 0 then
  redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
  redis.call('XDEL', KEYS[1], unpack(ids))
end
return #ids
`)

/** Raises a counter (the version counter, the recorded shard count) to at least ARGV[1], never lowers it. KEYS: the counter. */
const RAISE: Script = new Script(`
local cur = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if tonumber(ARGV[1]) > cur then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
`)

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

/**
 * True for the errors Redis answers when the queue's stream or its consumer group is gone (FLUSHALL, a
 * restart without persistence, a replica promoted before it had them, `XGROUP DESTROY`).
 */
function queueLost(e: unknown): boolean {
  return /NOGROUP|no such key|no longer exists/i.test(String((e as Error)?.message ?? e))
}

interface Entry {
  id: string
  key: string
  op: 's' | 'd'
  payload: string
  version: number
}

/** Compares two stream ids `ms-seq`. */
function compareIds(a: string, b: string): number {
  const [am = '0', as = '0'] = a.split('-')
  const [bm = '0', bs = '0'] = b.split('-')
  return Number(am) - Number(bm) || Number(as) - Number(bs)
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

function fieldsOf(raw: unknown): Map<string, string> | undefined {
  if (!Array.isArray(raw)) return undefined
  const m = new Map<string, string>()
  for (let i = 0; i + 1 < raw.length; i += 2) m.set(String(raw[i]), String(raw[i + 1]))
  return m
}

function errorCode(e: unknown): string {
  const c = (e as { code?: unknown })?.code
  return typeof c === 'string' ? c : ''
}

function errorMessage(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e)
  const cause = e instanceof Error && e.cause instanceof Error ? `: ${e.cause.message}` : ''
  return (msg + cause).slice(0, 1000)
}

/** Parses an XRANGE/XREADGROUP reply `[[id, [f, v, ...]], ...]`. */
function entriesOf(raw: unknown): Array<[string, Map<string, string> | undefined]> {
  if (!Array.isArray(raw)) return []
  const out: Array<[string, Map<string, string> | undefined]> = []
  for (const e of raw) {
    if (Array.isArray(e) && typeof e[0] === 'string') out.push([e[0], fieldsOf(e[1])])
  }
  return out
}

/**
 * Resolves once no entry with an id up to its target is left in each stream (`null`: the stream's last entry
 * when first read). A stream Redis cannot be asked about (its Cluster master is down) is asked again until
 * the time is up.
 * @throws FlushTimeoutError when the time is up: `remaining` counts the entries left in the streams that
 * could be read, `unreachableShards` the streams that could not; `cause` is the last Redis error.
 */
async function waitDrained(
  where: string,
  queue: string,
  redis: Redis | Cluster,
  targets: ReadonlyMap<string, string | null>,
  timeout: number,
): Promise<void> {
  const deadline = Date.now() + timeout
  const pending = new Map(targets)
  let lastError: unknown
  let delay = 5
  for (;;) {
    await Promise.all(
      [...pending].map(async ([stream, target]) => {
        try {
          const upTo = target ?? (await lastId(redis, stream))
          if (upTo === undefined) return void pending.delete(stream)
          pending.set(stream, upTo)
          const left = (await (redis as Redis).xrange(stream, '-', upTo, 'COUNT', 1)) as unknown[]
          if (left.length === 0) pending.delete(stream)
        } catch (e) {
          lastError = e
        }
      }),
    )
    if (pending.size === 0) return
    if (Date.now() >= deadline) {
      let remaining = 0
      let unreachableShards = 0
      let unreadError: unknown
      await Promise.all(
        [...pending].map(async ([stream, upTo]) => {
          try {
            if (upTo === null) throw lastError ?? new Error('the stream could not be read')
            remaining += ((await (redis as Redis).xrange(stream, '-', upTo)) as unknown[]).length
          } catch (e) {
            unreachableShards++
            unreadError = e
          }
        }),
      )
      throw new FlushTimeoutError(where, {
        queue,
        timeout,
        remaining,
        unreachableShards,
        cause: unreadError ?? lastError,
      })
    }
    await sleep(delay)
    delay = Math.min(delay * 2, 100)
  }
}

async function lastId(redis: Redis | Cluster, stream: string): Promise<string | undefined> {
  const last = (await (redis as Redis).xrevrange(stream, '+', '-', 'COUNT', 1)) as Array<[string, unknown]>
  return last[0]?.[0]
}

/**
 * Starts a flusher: a consumer in a Redis Stream consumer group that applies queued writes to the `Store`.
 * Each batch is coalesced by key (the highest version wins; the older entries are removed with it), written
 * with `Store.saveMany` when there is one (falling back to `save` one by one to isolate a failing entry),
 * and acknowledged atomically with a per-key applied-version guard, so a replayed older entry is skipped.
 * A failed write is retried with exponential backoff; after `maxAttempts` it goes to the dead-letter stream.
 * Entries left pending by a crashed consumer are taken over with `XAUTOCLAIM` after `claimTimeout`.
 * @throws TierkitTypeError (`E_INVALID_ARGUMENT`) when an option is invalid.
 * @example
 * const flusher = createFlusher({ redis, name: 'users', store: usersTable })
 * process.on('SIGTERM', () => flusher.close())
 */
export function createFlusher<T = unknown>(options: FlusherOptions<T>): Flusher {
  return startFlusher(options, 'createFlusher', '')
}

/** `createFlusher`, its options named `prefix + name` in messages (`writeBehind: flusher.batchSize ...`). */
function startFlusher<T>(options: FlusherOptions<T>, where: string, prefix: string): Flusher {
  const opt = (n: string): string => prefix + n
  checkObject(where, prefix === '' ? 'options' : 'flusher', options)
  refuseRenamed(
    where,
    options,
    { blockMs: 'renamed pollInterval', claimIdleMs: 'renamed claimTimeout', guardTtlMs: 'renamed guardTtl' },
    prefix,
  )
  checkRedis(where, options.redis)
  const name = options.name
  checkName(where, 'name', name)
  const { redis, store } = options
  const initialShards =
    options.shards === undefined ? defaultShards(redis) : checkShards(where, options.shards)
  checkStore(where, store)
  const group = options.group ?? FLUSHER_DEFAULTS.group
  const consumer =
    options.consumer ?? `${hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`
  checkString(where, opt('group'), group)
  checkString(where, opt('consumer'), consumer)
  const batchSize = checkInteger(
    where,
    opt('batchSize'),
    options.batchSize ?? FLUSHER_DEFAULTS.batchSize,
    1,
    1000,
  )
  const pollInterval = checkDuration(
    where,
    opt('pollInterval'),
    options.pollInterval ?? FLUSHER_DEFAULTS.pollInterval,
    1,
  )
  const maxAttempts = checkInteger(
    where,
    opt('maxAttempts'),
    options.maxAttempts ?? FLUSHER_DEFAULTS.maxAttempts,
    1,
    1_000_000,
  )
  if (options.backoff !== undefined) checkObject(where, opt('backoff'), options.backoff)
  const base = checkDuration(
    where,
    opt('backoff.base'),
    options.backoff?.base ?? FLUSHER_DEFAULTS.backoff.base,
    1,
  )
  const max = checkDuration(
    where,
    opt('backoff.max'),
    options.backoff?.max ?? FLUSHER_DEFAULTS.backoff.max,
    1,
  )
  const maxRetrying = batchSize * 4
  const claimTimeout = checkDuration(
    where,
    opt('claimTimeout'),
    options.claimTimeout ?? FLUSHER_DEFAULTS.claimTimeout,
    1,
  )
  const guardTtl = checkTtl(where, opt('guardTtl'), options.guardTtl ?? FLUSHER_DEFAULTS.guardTtl)
  checkSerializer(where, options.serializer)
  const serializer = options.serializer ?? exactSerializer
  const onEvent = options.onEvent
  checkFunction(where, opt('onEvent'), onEvent, true)
  checkObserver(where, options.observer)
  if (options.cache !== undefined) checkCache(where, options.cache)
  checkBus(where, options.bus)
  const observer = options.observer

  const stats: FlusherStats = {
    saved: 0,
    coalesced: 0,
    skipped: 0,
    retries: 0,
    deadLettered: 0,
    claimed: 0,
    batches: 0,
    prunedConsumers: 0,
  }
  const emit = (e: FlusherEvent): void => {
    if (!onEvent) return
    try {
      onEvent(e)
    } catch {
      // ignore
    }
  }
  let stopping = false
  let stopNow: () => void = () => {}
  const stopped = new Promise<void>((resolve) => {
    stopNow = resolve
  })
  /** Sleeps `ms`, or less when the flusher stops. */
  const pause = (ms: number): Promise<void> => Promise.race([sleep(ms), stopped])
  /** The highest version seen in the queue: the version counter is raised to it when Redis lost the queue. */
  let highest = 0
  /** One loop per shard, each on its own: a shard whose master is down does not hold the others back. */
  const shards: Array<{ loop: Promise<void>; retrying: () => number }> = []
  const retryingTotal = (): number => shards.reduce((n, s) => n + s.retrying(), 0)
  /**
   * A queue of one shard is read with a blocking `XREADGROUP` on a duplicate of `redis` (it is made on
   * first use); the shards of a sharded queue are polled on `redis` itself, so that one blocked read does not
   * hold back the reads of other shards served by the same Cluster node.
   */
  let blocking: Redis | undefined
  const blockingConnection = (): Redis => {
    if (blocking === undefined) {
      blocking = (redis as Redis).duplicate() as Redis
      blocking.on('error', () => {})
      // a duplicate of a `lazyConnect: true` client: connect now rather than on the first blocking read
      connectIfWaiting(blocking)
    }
    return blocking
  }

  const backoff = (attempt: number): number => {
    const d = Math.min(max, base * 2 ** Math.max(0, attempt - 1))
    return Math.ceil(d / 2 + (Math.random() * d) / 2)
  }

  const { cache: dlCache, bus: dlBus } = options
  /** The value of a dead-lettered write never reached the database: drop it from the cache. */
  const uncache = async (key: string): Promise<void> => {
    if (dlCache !== undefined) {
      try {
        await dlCache.delete(key)
      } catch (error) {
        emit({ type: 'error', error })
        try {
          await dlCache.evictLocal(key)
        } catch {
          // nothing more to do
        }
      }
    }
    if (dlBus !== undefined) {
      try {
        await dlBus.publish({ keys: [key] })
      } catch (error) {
        emit({ type: 'error', error })
      }
    }
  }

  const startShard = (index: number): void => {
    const keys = keysOf(name, index)
    /** Failed entries of this consumer: id → when to retry. */
    const retryAt = new Map<string, number>()
    let claimCursor = '0-0'
    let nextClaim = 0
    let nextPrune = 0
    let nextTouch = 0
    /** How long a polled shard that had nothing to read waits before the next read (grows up to pollInterval). */
    let idle = 0
    /**
     * Creates the group (and the stream) if missing. From id 0: every entry in the stream is delivered, so a
     * group re-created after a loss skips none of the writes acknowledged since (the stream holds only
     * entries not yet applied: applied ones are deleted).
     */
    const ensureGroup = async (): Promise<void> => {
      try {
        await (redis as Redis).xgroup('CREATE', keys.stream, group, '0', 'MKSTREAM')
      } catch (e) {
        if (!String((e as Error)?.message).includes('BUSYGROUP')) throw e
      }
    }

    /**
     * Redis lost the stream or the group: re-create the group and start over. Retries kept in memory are
     * dropped (their entries are gone, or are delivered again by the new group); the version counter, lost
     * too, is raised to the highest version seen, so new writes keep newer versions than the applied ones.
     */
    const recover = async (): Promise<void> => {
      retryAt.clear()
      claimCursor = '0-0'
      nextClaim = 0
      nextPrune = 0
      await ensureGroup()
      if (highest > 0) await RAISE.run(redis, [keys.seq], [highest])
    }

    const deadLetter = async (
      e: Entry | undefined,
      id: string,
      ids: string[],
      attempts: number,
      error: unknown,
    ) => {
      // first out of the cache, so that once dead-lettered the value is no longer served (failures are events)
      if (e?.key) await uncache(e.key)
      await DEAD_LETTER.run(
        redis,
        [keys.stream, keys.dead],
        [
          group,
          e?.key ?? '',
          e?.op ?? '',
          e?.payload ?? '',
          e?.version ?? 0,
          id,
          attempts,
          errorMessage(error),
          errorCode(error),
          ...ids,
        ],
      )
      for (const i of ids) retryAt.delete(i)
      stats.deadLettered++
      emit({ type: 'dead-letter', key: e?.key ?? '', id, attempts, error })
    }

    const deliveries = async (id: string): Promise<number> => {
      const r = (await (redis as Redis).xpending(keys.stream, group, id, id, 1)) as unknown[]
      const row = r[0] as unknown[] | undefined
      return row === undefined ? 0 : Number(row[3])
    }

    const processBatch = async (raw: Array<[string, Map<string, string> | undefined]>): Promise<void> => {
      if (raw.length === 0) return
      for (const [id] of raw) retryAt.delete(id)
      for (const [, f] of raw) {
        const n = Number(f?.get('n'))
        if (Number.isSafeInteger(n) && n > highest) highest = n
      }
      // parse; malformed entries are poison: dead-letter them at once
      const byKey = new Map<string, { win: Entry; ids: string[] }>()
      for (const [id, f] of raw) {
        const key = f?.get('k')
        const op = f?.get('o')
        const payload = f?.get('v')
        const version = Number(f?.get('n'))
        if (!key || (op !== 's' && op !== 'd') || payload === undefined || !Number.isSafeInteger(version)) {
          await deadLetter(
            key ? { key, op: op === 'd' ? 'd' : 's', payload: payload ?? '', version: 0, id } : undefined,
            id,
            [id],
            1,
            new MalformedEntryError(id),
          )
          continue
        }
        const e: Entry = { id, key, op, payload, version }
        const g = byKey.get(key)
        if (g === undefined) byKey.set(key, { win: e, ids: [id] })
        else {
          g.ids.push(id)
          if (e.version > g.win.version) g.win = e
        }
      }
      if (byKey.size === 0) return
      const groups = [...byKey.values()]
      // the guard: skip keys whose applied version is already newer
      const guards = (await (redis as Redis).mget(...groups.map((g) => keys.guard + g.win.key))) as Array<
        string | null
      >
      const done: Array<{ win: Entry; ids: string[] }> = []
      const todo: Array<{ win: Entry; ids: string[] }> = []
      const skipped = new Set<Entry>()
      groups.forEach((g, i) => {
        if (Number(guards[i] ?? 0) >= g.win.version) {
          stats.skipped += g.ids.length
          skipped.add(g.win)
          done.push(g)
        } else todo.push(g)
      })
      const failed: Array<{ g: { win: Entry; ids: string[] }; error: unknown }> = []
      // decode; a value that cannot be decoded is poison
      const saves: Array<{ win: Entry; ids: string[]; value: unknown }> = []
      const removes: Array<{ win: Entry; ids: string[] }> = []
      for (const g of todo) {
        if (g.win.op === 'd') {
          removes.push(g)
          continue
        }
        try {
          saves.push({ ...g, value: serializer.decode(g.win.payload) })
        } catch (error) {
          await deadLetter(g.win, g.win.id, g.ids, 1, corruptEntry(g.win.key, g.win.id, error))
        }
      }
      if (saves.length > 0 || removes.length > 0) stats.batches++
      let batched = false
      if (saves.length > 1 && typeof store.saveMany === 'function') {
        const writes: StoreWrite<T>[] = saves.map((s) => ({
          key: s.win.key,
          value: s.value as T,
          version: s.win.version,
        }))
        try {
          await callStore('saveMany', saves[0]!.win.key, () => store.saveMany!(writes), observer)
          batched = true
          done.push(...saves)
        } catch {
          // fall back to one by one, so that a poison entry does not hold back the others
        }
      }
      const single = async (g: { win: Entry; ids: string[] }, call: () => unknown, op: 'save' | 'remove') => {
        try {
          await callStore(op, g.win.key, call, observer)
          done.push(g)
        } catch (error) {
          failed.push({ g, error })
        }
      }
      await Promise.all([
        ...(batched
          ? []
          : saves.map((s) =>
              single(s, () => store.save(s.win.key, s.value as T, { version: s.win.version }), 'save'),
            )),
        ...removes.map((r) => single(r, () => store.remove(r.win.key, { version: r.win.version }), 'remove')),
      ])
      if (done.length > 0) {
        const applied = done.filter((g) => !skipped.has(g.win))
        const ids = done.flatMap((g) => g.ids)
        await ACK.run(
          redis,
          [keys.stream, ...applied.map((g) => keys.guard + g.win.key)],
          [group, guardTtl, ...applied.map((g) => g.win.version), ...ids],
        )
        stats.saved += applied.length
        stats.coalesced += done.reduce((n, g) => n + (skipped.has(g.win) ? 0 : g.ids.length - 1), 0)
        emit({
          type: 'applied',
          entries: ids.length,
          keys: done.length,
          versions: applied.map((g) => g.win.version),
        })
      }
      for (const { g, error } of failed) {
        const attempts = await deliveries(g.win.id)
        if (attempts >= maxAttempts) {
          await deadLetter(g.win, g.win.id, g.ids, attempts, error)
        } else {
          const delay = backoff(attempts)
          const at = Date.now() + delay
          for (const id of g.ids) retryAt.set(id, at)
          stats.retries++
          emit({ type: 'retry', key: g.win.key, id: g.win.id, attempt: attempts, delay, error })
        }
      }
    }

    /** Removes consumers that left nothing pending and have been silent longer than `claimTimeout` (crashed ones). */
    const pruneConsumers = async (): Promise<void> => {
      if (Date.now() < nextPrune) return
      nextPrune = Date.now() + claimTimeout
      const rows = (await (redis as Redis).xinfo('CONSUMERS', keys.stream, group)) as unknown[]
      for (const row of rows) {
        const f = fieldsOf(row)
        const name = f?.get('name')
        if (!name || name === consumer) continue
        if (Number(f?.get('pending')) === 0 && Number(f?.get('idle')) > claimTimeout) {
          await (redis as Redis).xgroup('DELCONSUMER', keys.stream, group, name)
          stats.prunedConsumers++
        }
      }
    }

    const step = async (): Promise<boolean> => {
      let worked = false
      const now = Date.now()
      if (retryAt.size > 0 && now >= nextTouch) {
        // entries waiting for a retry stay ours: reset their idle time well before claimTimeout
        nextTouch = now + claimTimeout / 3
        const ids = [...retryAt.keys()]
        const kept = new Set(
          (await CLAIM_OWN.run(redis, [keys.stream], [group, consumer, '1', ...ids])) as string[],
        )
        for (const id of ids) if (!kept.has(id)) retryAt.delete(id) // applied or taken over elsewhere
      }
      if (now >= nextClaim) {
        const r = (await (redis as Redis).xautoclaim(
          keys.stream,
          group,
          consumer,
          claimTimeout,
          claimCursor,
          'COUNT',
          batchSize,
        )) as unknown[]
        claimCursor = typeof r[0] === 'string' ? r[0] : '0-0'
        const claimed = entriesOf(r[1]).filter(([, f]) => f !== undefined)
        if (claimed.length > 0) {
          stats.claimed += claimed.length
          emit({ type: 'claimed', entries: claimed.length })
          await processBatch(claimed)
          worked = true
        }
        nextClaim = claimCursor === '0-0' ? Date.now() + Math.max(50, claimTimeout / 4) : 0
        if (claimCursor === '0-0') await pruneConsumers()
      }
      const due = [...retryAt].filter(([, at]) => at <= Date.now()).map(([id]) => id)
      if (due.length > 0) {
        const batch = due.slice(0, batchSize)
        for (const id of batch) retryAt.delete(id)
        const r = await CLAIM_OWN.run(redis, [keys.stream], [group, consumer, '0', ...batch])
        await processBatch(entriesOf(r))
        worked = true
      }
      let soonest = nextClaim === 0 ? Date.now() : nextClaim
      if (retryAt.size > 0 && nextTouch < soonest) soonest = nextTouch
      for (const at of retryAt.values()) if (at < soonest) soonest = at
      const wait = Math.max(1, Math.min(stopping ? 50 : pollInterval, soonest - Date.now()))
      if (retryingTotal() >= maxRetrying) {
        // the Store is failing a lot (an outage?): do not take more entries until the retries succeed, so an
        // outage longer than the retry schedule dead-letters at most this many entries; the rest wait queued
        await pause(wait)
        return worked
      }
      const polled = shards.length > 1
      const r = (
        polled
          ? await (redis as Redis).xreadgroup(
              'GROUP',
              group,
              consumer,
              'COUNT',
              batchSize,
              'STREAMS',
              keys.stream,
              '>',
            )
          : await blockingConnection().xreadgroup(
              'GROUP',
              group,
              consumer,
              'COUNT',
              batchSize,
              'BLOCK',
              Math.ceil(wait),
              'STREAMS',
              keys.stream,
              '>',
            )
      ) as Array<[string, unknown]> | null
      const fresh = r?.[0] ? entriesOf(r[0][1]) : []
      if (fresh.length > 0) {
        idle = 0
        await processBatch(fresh)
        worked = true
      } else if (polled && !worked) {
        idle = Math.min(pollInterval, Math.max(10, idle * 2))
        await pause(Math.min(wait, idle))
      }
      return worked
    }

    const loop = (async () => {
      let delay = 50
      while (!stopping) {
        try {
          await ensureGroup()
          break
        } catch (error) {
          emit({ type: 'error', error })
          await pause(delay)
          delay = Math.min(delay * 2, 2000)
        }
      }
      delay = 50
      while (!stopping) {
        try {
          await step()
          delay = 50
        } catch (error) {
          if (stopping) break
          emit({ type: 'error', error })
          if (queueLost(error)) {
            try {
              await recover()
              delay = 50
              continue
            } catch (e) {
              emit({ type: 'error', error: e })
            }
          }
          await pause(delay)
          delay = Math.min(delay * 2, 2000)
        }
      }
    })()
    shards.push({ loop, retrying: () => retryAt.size })
  }

  for (let i = 0; i < initialShards; i++) startShard(i)

  /**
   * Writers record their shard count (`wb:{name}:shards`); a flusher given fewer shards (a mismatch of the
   * `shards` option) reads all the recorded ones, so that no shard is left without a reader.
   */
  const followRecordedShards = (async () => {
    while (!stopping) {
      try {
        const recorded = Number(await (redis as Redis).get(shardsKey(name)))
        if (Number.isSafeInteger(recorded) && recorded > shards.length && recorded <= MAX_SHARDS) {
          emit({ type: 'error', error: new ShardCountError(name, recorded, shards.length) })
          for (let i = shards.length; i < recorded; i++) startShard(i)
        }
      } catch {
        // the node of the first shard is unreachable: try again later
      }
      await pause(Math.min(claimTimeout, 10_000))
    }
  })()

  let closing: Promise<void> | undefined
  const flusher: Flusher = {
    consumer,
    async flush(options) {
      const timeout = closeTimeout('flusher.flush', options, DEFAULT_DRAIN_TIMEOUT)
      if (closing !== undefined) throw new ClosedError('the flusher')
      await drain('flusher.flush', timeout)
    },
    close(options) {
      if (closing !== undefined) return closing
      let timeout: number
      try {
        timeout = closeTimeout('flusher.close', options, DEFAULT_DRAIN_TIMEOUT)
      } catch (e) {
        return Promise.reject(e)
      }
      return close('flusher.close', timeout)
    },
    stats: () => ({ ...stats }),
  }
  /** Drains (as `call`, for the messages), then stops; once. */
  const close = (call: string, timeout: number): Promise<void> => {
    closing ??= (async () => {
      let failure: unknown
      try {
        await drain(call, timeout)
      } catch (e) {
        failure = e
      }
      stopping = true
      stopNow()
      await followRecordedShards
      await Promise.all(shards.map((s) => s.loop))
      if (blocking !== undefined) {
        try {
          await blocking.quit()
        } catch {
          blocking.disconnect()
        }
      }
      if (failure !== undefined) throw failure
    })()
    return closing
  }
  closeFlusher.set(flusher, close)
  /** Every shard: what is in it now must be applied (or dead-lettered). */
  const drain = (call: string, timeout: number): Promise<void> => {
    const targets = new Map<string, string | null>()
    for (let i = 0; i < shards.length; i++) targets.set(keysOf(name, i).stream, null)
    return waitDrained(call, name, redis, targets, timeout)
  }
  return flusher
}

/** The close of each flusher, under the name of the call that closes it (`writeBehind.close` for its own). */
const closeFlusher = new WeakMap<Flusher, (call: string, timeout: number) => Promise<void>>()

/** Options of {@link writeBehind}. */
export interface WriteBehindOptions<T = unknown> {
  /** An ioredis `Redis` or `Cluster` you own (not closed by `close()`). Use `appendonly yes` + `appendfsync always` for no loss on a server crash. */
  redis: Redis | Cluster
  /** The queue name; producers and flushers of one queue use the same. No `{` or `}`. */
  name: string
  /** The cache updated at once (redis-aside's cache is one). */
  cache?: WritableCache
  /** Tells the other instances to drop their L1 copies of written keys. */
  bus?: InvalidationPublisher
  /** TTL of values set in the cache (ms, or a function of key and value). @default the cache's own TTL */
  ttl?: TtlOption<T>
  /** Random fraction (0 to 1) by which each TTL is shortened. @default 0 */
  jitter?: number
  /**
   * Value encoding of the queue. The default, `exactSerializer` of `@tierkit/contracts` (redis-aside's too),
   * gives back exactly what was written: JSON values plus `undefined`, `NaN`, `±Infinity`, `-0`, bigint,
   * `Date`, `Buffer`, `Uint8Array`, `Map` and `Set`, at any depth; so the Store receives exactly what the
   * cache holds. A value it cannot encode exactly (a function, a symbol, a class instance, a cycle, a symbol
   * key, an accessor or non-enumerable property, a hole or named property of an array) is refused with
   * `UnserializableValueError` (`E_UNSERIALIZABLE`, with the `path`) before anything is queued or cached. A
   * serializer of your own is trusted to be exact.
   * @default exactSerializer
   */
  serializer?: Serializer
  /**
   * Shards of the queue: it is spread over this many streams, each in its own hash slot (see `queueKeys`),
   * and a key always goes to the same one (FNV-1a of the key). On a Cluster a master that is down then
   * stops only the writes of the keys whose shard it serves. Give the flushers of the queue the same number
   * (a flusher also reads every shard a writer recorded in `wb:{name}:shards`).
   * @default 16 on a Cluster, 1 on a single Redis
   */
  shards?: number
  /**
   * Runs a flusher in this process with these options (`close()` drains and stops it); it gets this
   * writer's `cache`, `bus`, `serializer` and `shards`.
   */
  flusher?: Omit<FlusherOptions<T>, 'redis' | 'name' | 'serializer' | 'shards'>
  /**
   * A write is acknowledged once it is queued, so a cache update, the fallback delete or the publish that fails
   * after it cannot fail the write: the key goes into a bounded background repair queue (as with
   * `deleteOnUpdate`), which deletes it from the cache and publishes it until that works. When the queue is full
   * the key is only evicted from this process's L1 (a `repair-overflow` event) and L2 keeps what it had until
   * the next write of the key or the TTL. @default { maxKeys: 10000, retryDelay: 100 }
   */
  repair?: RepairOptions
  /**
   * Receives cache failures after a write was queued (the write stays queued) and the repair queue's events
   * (`repair-queued`, `repaired`, `repair-failed`, `repair-overflow`, `repair-dropped`). A listener that
   * throws is ignored.
   */
  onEvent?: (event: WriteBehindEvent) => void
}

/** What {@link writeBehind} reports: a cache failure after a write was queued, and the repair of it. */
export type WriteBehindEvent = { type: 'cache-error'; key: string; error: unknown } | WriterEvent

/** A write-behind writer returned by {@link writeBehind}. */
export interface WriteBehind<T = unknown> {
  /**
   * Queues `value` for the database (durable once this resolves: the write is acknowledged) and sets it in
   * the cache at once (if the cache cannot be set, the key is deleted from it instead; see `onEvent`).
   * @throws TierkitTypeError (`E_INVALID_ARGUMENT`) on an empty key, an `undefined` value or a bad TTL;
   * UnserializableValueError (`E_UNSERIALIZABLE`, with the `path`: nothing queued or cached);
   * QueueWriteError (`E_QUEUE_WRITE_FAILED`: NOT acknowledged, the cache untouched); ClosedError after `close()`.
   */
  write(key: string, value: T, options?: WriteOptions): Promise<QueuedWrite>
  /** Queues the removal of `key` and deletes it from the cache. @throws as `write`. */
  remove(key: string): Promise<QueuedWrite>
  /**
   * Resolves once every write this writer acknowledged has been applied to the Store (or dead-lettered).
   * Needs a running flusher (here or in another process).
   * @param options - `timeout`: how long to wait, in ms (default 30000)
   * @throws FlushTimeoutError (`E_FLUSH_TIMEOUT`: says how many entries are still queued; nothing is lost);
   * ClosedError after `close()`.
   */
  flush(options?: CloseOptions): Promise<void>
  /**
   * Refuses new writes, drains (as `flush`) and stops the in-process flusher. Idempotent: a second call
   * returns the first one's promise.
   * @param options - `timeout`: how long to drain, in ms (default 30000)
   * @throws FlushTimeoutError when it could not drain in time (the writer is closed anyway; entries stay queued).
   */
  close(options?: CloseOptions): Promise<void>
  /** The in-process flusher, when `flusher` was given. */
  readonly flusher: Flusher | undefined
}

/** The repair queue's cache when a writer has only a bus (it then only publishes: nothing is deleted). */
const NO_CACHE: WritableCache = {
  set: () => undefined,
  delete: () => undefined,
  deleteMany: () => undefined,
  evictLocal: () => undefined,
}

/**
 * Write-behind: the cache is updated at once and the database write goes into a durable queue on a Redis
 * Stream (`XADD` in a Lua script that also assigns the write's version), applied later in batches by a
 * flusher (`createFlusher`, or `options.flusher` for one in this process).
 * @throws TierkitTypeError (`E_INVALID_ARGUMENT`) when an option is invalid.
 * @example
 * const users = writeBehind({ redis, name: 'users', cache, bus, flusher: { store: usersTable } })
 * await users.write('user:1', { name: 'Ada' }) // acknowledged: queued durably, cache updated
 * await users.close() // drains on shutdown
 */
export function writeBehind<T = unknown>(options: WriteBehindOptions<T>): WriteBehind<T> {
  const where = 'writeBehind'
  checkObject(where, 'options', options)
  checkRedis(where, options.redis)
  const { redis, cache, bus, ttl, jitter, onEvent } = options
  const name = options.name
  checkName(where, 'name', name)
  const shardCount = options.shards === undefined ? defaultShards(redis) : checkShards(where, options.shards)
  if (cache !== undefined) checkCache(where, cache)
  checkBus(where, bus)
  checkTtlOption(where, ttl)
  checkJitter(where, jitter)
  checkSerializer(where, options.serializer)
  checkRepair(where, options.repair)
  checkFunction(where, 'onEvent', onEvent, true)
  const serializer = options.serializer ?? exactSerializer
  const flusher =
    options.flusher === undefined
      ? undefined
      : startFlusher<T>(
          {
            ...(cache === undefined ? {} : { cache }),
            ...(bus === undefined ? {} : { bus }),
            ...options.flusher,
            redis,
            name,
            serializer,
            shards: shardCount,
          },
          where,
          'flusher.',
        )
  const writerId = randomBytes(8).toString('hex')
  const shards = Array.from({ length: shardCount }, (_, i) => {
    const keys = keysOf(name, i)
    /** This writer's record of its writes in flight in the shard (see ENQUEUE): `…:w:<writer id>`. */
    return { keys, writes: `${keys.stream.slice(0, -1)}w:${writerId}` }
  })
  /** The newest entry this writer queued, by shard: what `flush()` waits for. */
  const last = new Map<number, string>()
  /** The highest version this writer was given: the floor of its next versions (see ENQUEUE). */
  let highest = 0
  let writeNumber = 0
  /** Numbers of the writes sent and not answered yet, in increasing order (a Set keeps insertion order). */
  const inFlight = new Set<number>()

  const report = (key: string, error: unknown): void => {
    try {
      onEvent?.({ type: 'cache-error', key, error })
    } catch {
      // ignore
    }
  }

  /**
   * A sharded queue records its shard count for the flushers (see createFlusher), once, in the background:
   * the first shard's master may be down, and that must not hold back writes to the other shards.
   */
  let recorded = shardCount === 1
  let nextRecord = 0
  const recordShards = (): void => {
    if (recorded || Date.now() < nextRecord) return
    nextRecord = Date.now() + 5_000
    RAISE.run(redis, [shardsKey(name)], [shardCount]).then(
      () => {
        recorded = true
      },
      () => {},
    )
  }

  const enqueue = async (
    where: string,
    key: string,
    op: 's' | 'd',
    payload: string,
  ): Promise<QueuedWrite> => {
    let r: unknown
    const shard = shardOf(key, shardCount)
    const { keys, writes } = shards[shard]!
    const n = ++writeNumber
    inFlight.add(n)
    try {
      const lowest = inFlight.values().next().value as number
      r = await ENQUEUE.run(
        redis,
        [keys.stream, keys.seq, writes],
        [key, op, payload, highest, n, lowest, WRITES_TTL],
      )
    } catch (e) {
      throw new QueueWriteError(where, key, e)
    } finally {
      inFlight.delete(n)
    }
    recordShards()
    const [id, raw] = r as [string, string | number]
    const version = Number(raw)
    const prev = last.get(shard)
    if (prev === undefined || compareIds(id, prev) > 0) last.set(shard, id)
    if (version > highest) highest = version
    return { id, version }
  }

  /** Waits until every entry this writer queued is gone from its shard (applied or dead-lettered). */
  const drained = (call: string, timeout: number): Promise<void> =>
    waitDrained(
      call,
      name,
      redis,
      new Map([...last].map(([shard, id]) => [shards[shard]!.keys.stream, id])),
      timeout,
    )

  /** Failed invalidations of acknowledged writes, retried in the background (see the `repair` option). */
  const repairs =
    cache === undefined && bus === undefined
      ? undefined
      : new RepairQueue(
          cache ?? NO_CACHE,
          bus,
          options.repair?.maxKeys ?? 10_000,
          options.repair?.retryDelay ?? 100,
          onEvent,
        )
  const repairLater = (key: string, del: boolean, error: unknown): void => {
    try {
      repairs?.add(key, del, error)
    } catch {
      // the queue is full: it reported `repair-overflow`; the write stays acknowledged
    }
  }

  /** Deletes `key` from the cache; false when that failed (then it is queued for repair). */
  const dropFromCache = async (key: string): Promise<boolean> => {
    if (cache === undefined) return true
    try {
      await cache.delete(key)
      return true
    } catch (e) {
      report(key, e)
      try {
        await cache.evictLocal(key)
      } catch {
        // nothing more to do here: the repair deletes it
      }
      repairLater(key, true, e)
      return false
    }
  }

  /** Publishes `key` on the bus; false when that failed (then it is queued for repair). */
  const tell = async (key: string): Promise<boolean> => {
    if (bus === undefined) return true
    try {
      await bus.publish({ keys: [key] })
      return true
    } catch (e) {
      report(key, e)
      repairLater(key, false, e)
      return false
    }
  }

  let closing: Promise<void> | undefined
  const resource = `the write-behind writer of queue ${JSON.stringify(name)}`

  return {
    flusher,
    async write(key, value, callOptions) {
      const call = 'writeBehind.write'
      if (closing !== undefined) throw new ClosedError(resource)
      checkString(call, 'key', key)
      checkValue(call, value)
      checkObject(call, 'options', callOptions, true)
      const t = resolveTtl(call, ttl, jitter, key, value, callOptions?.ttl)
      let payload: unknown
      // encoded (or refused) before anything is queued or cached, so the Store gets exactly what the cache holds:
      // the exact serializer refuses what it would change silently (a hole, a hidden or accessor property...)
      try {
        payload = serializer.encode(value)
      } catch (e) {
        throw unserializable(key, e)
      }
      if (typeof payload !== 'string') {
        throw unserializable(key, new TypeError(`encode returned ${typeof payload}, not a string`))
      }
      const queued = await enqueue(call, key, 's', payload)
      let cached = true
      if (cache !== undefined) {
        try {
          await cache.set(key, value, t === undefined ? undefined : { ttl: t })
        } catch (e) {
          report(key, e)
          cached = await dropFromCache(key)
        }
      }
      // a complete invalidation of this write supersedes a repair pending for an earlier one
      if ((await tell(key)) && cached) repairs?.done(key)
      return queued
    },
    async remove(key) {
      const call = 'writeBehind.remove'
      if (closing !== undefined) throw new ClosedError(resource)
      checkString(call, 'key', key)
      const queued = await enqueue(call, key, 'd', '')
      const dropped = await dropFromCache(key)
      if ((await tell(key)) && dropped) repairs?.done(key)
      return queued
    },
    async flush(options) {
      const timeout = closeTimeout('writeBehind.flush', options, DEFAULT_DRAIN_TIMEOUT)
      if (closing !== undefined) throw new ClosedError(resource)
      await drained('writeBehind.flush', timeout)
    },
    close(options) {
      if (closing !== undefined) return closing
      let timeout: number
      try {
        timeout = closeTimeout('writeBehind.close', options, DEFAULT_DRAIN_TIMEOUT)
      } catch (e) {
        return Promise.reject(e)
      }
      closing = (async () => {
        // the in-process flusher drains the whole queue (this writer's writes with it), then stops
        if (flusher !== undefined) await closeFlusher.get(flusher)!('writeBehind.close', timeout)
        else await drained('writeBehind.close', timeout)
      })()
      return closing
    },
  }
}

/**
 * The shards a tool must look at: the count writers recorded, at least the default for this client (the
 * record is in the first shard's slot; if its master is down, the default).
 */
async function knownShards(redis: Redis | Cluster, name: string): Promise<number> {
  let recorded = 0
  try {
    recorded = Number(await (redis as Redis).get(shardsKey(name)))
  } catch {
    // unreachable: the default
  }
  const n = Number.isSafeInteger(recorded) && recorded > 0 && recorded <= MAX_SHARDS ? recorded : 0
  return Math.max(n, defaultShards(redis))
}

/**
 * Reads up to `count` entries of the dead-letter streams of queue `name` (oldest first; one stream per
 * shard, see `queueKeys`).
 * @example for (const d of await readDeadLetters(redis, 'users')) console.log(d.key, d.error)
 */
export async function readDeadLetters(
  redis: Redis | Cluster,
  name: string,
  count = 100,
): Promise<DeadLetter[]> {
  checkRedis('readDeadLetters', redis)
  checkName('readDeadLetters', 'name', name)
  checkInteger('readDeadLetters', 'count', count, 1, 1_000_000)
  const n = await knownShards(redis, name)
  const perShard = await Promise.all(
    Array.from({ length: n }, async (_, shard) => {
      const raw = (await (redis as Redis).xrange(
        keysOf(name, shard).dead,
        '-',
        '+',
        'COUNT',
        count,
      )) as unknown
      return entriesOf(raw).map(([id, f]): DeadLetter => {
        const op = f?.get('o')
        return {
          id,
          key: f?.get('k') ?? '',
          operation: op === 's' ? 'save' : op === 'd' ? 'remove' : 'unknown',
          payload: f?.get('v') ?? '',
          version: Number(f?.get('n') ?? 0),
          originalId: f?.get('id') ?? '',
          attempts: Number(f?.get('attempts') ?? 0),
          error: f?.get('error') ?? '',
          code: f?.get('code') ?? '',
          shard,
        }
      })
    }),
  )
  return perShard
    .flat()
    .sort((a, b) => compareIds(a.id, b.id))
    .slice(0, count)
}

/**
 * Moves dead letters back to the queue (after fixing the cause), keeping their versions, so that a key
 * written since keeps its newer value. Returns how many were requeued. Each id is looked up in every
 * shard's dead-letter stream; calling it again with the same ids is harmless (a requeued entry has left the
 * dead-letter stream).
 */
export async function requeueDeadLetters(
  redis: Redis | Cluster,
  name: string,
  ids: readonly string[],
): Promise<number> {
  checkRedis('requeueDeadLetters', redis)
  checkName('requeueDeadLetters', 'name', name)
  if (!Array.isArray(ids)) {
    throw invalidArgument('requeueDeadLetters', 'ids', 'an array of stream entry ids ("<ms>-<seq>")', ids)
  }
  ids.forEach((id, i) => {
    if (typeof id !== 'string' || !/^\d+-\d+$/.test(id)) {
      throw invalidArgument('requeueDeadLetters', `ids[${i}]`, 'a stream entry id ("<ms>-<seq>")', id)
    }
  })
  if (ids.length === 0) return 0
  const n = await knownShards(redis, name)
  const moved = await Promise.all(
    Array.from({ length: n }, async (_, shard) => {
      const keys = keysOf(name, shard)
      return Number(await REQUEUE.run(redis, [keys.dead, keys.stream], ids))
    }),
  )
  return moved.reduce((a, b) => a + b, 0)
}
