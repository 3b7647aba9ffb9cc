/**
 * The public shapes of write-behind: the options, events, counters and handles of a flusher and of a writer,
 * and what a queued write resolves to.
 */
import type { CacheObserver, CloseOptions, Serializer, Store, WritableCache } from '@tierkit/contracts'
import type { IoredisLike, NodeRedisClientLike } from '@tierkit/contracts/redis'
import type { Cluster, Redis } from 'ioredis'
import type { RepairOptions, WriterEvent } from '../repair.js'
import type { InvalidationPublisher, TtlOption } from '../types.js'
import type { WriteOptions } from '../writers.js'

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
  redis: Redis | Cluster | IoredisLike | NodeRedisClientLike
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

/** Options of {@link writeBehind}. */
export interface WriteBehindOptions<T = unknown> {
  /** An ioredis `Redis` or `Cluster` you own (not closed by `close()`). Use `appendonly yes` + `appendfsync always` for no loss on a server crash. */
  redis: Redis | Cluster | IoredisLike | NodeRedisClientLike
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
