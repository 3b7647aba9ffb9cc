/**
 * A flusher's options, checked (in the order of the README's table, so the first bad one is the one
 * reported) and resolved against the defaults, and the shape its parts (the shard loops, the batch, the dead
 * letters) share while it runs.
 */
import { hostname } from 'node:os'
import {
  type CacheObserver,
  checkDuration,
  checkFunction,
  checkInteger,
  checkObject,
  checkString,
  checkTtl,
  exactSerializer,
  refuseRenamed,
  type Serializer,
  type Store,
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
} from '../args.js'
import type { InvalidationPublisher } from '../types.js'
import { checkShards, defaultShards, type QueueKeys } from './keys.js'
import type { FlusherEvent, FlusherOptions, FlusherStats } from './types.js'

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

/** A flusher's options, checked, with the defaults filled in. */
export interface FlusherConfig<T = unknown> {
  readonly redis: Redis | Cluster
  readonly name: string
  readonly store: Store<T>
  /** The shards read from the start (more are read when writers recorded more). */
  readonly shards: number
  readonly group: string
  readonly consumer: string
  readonly batchSize: number
  readonly pollInterval: number
  readonly maxAttempts: number
  readonly backoff: { readonly base: number; readonly max: number }
  /** While this many entries wait for a retry, no new entries are taken (4 × batchSize). */
  readonly maxRetrying: number
  readonly claimTimeout: number
  readonly guardTtl: number
  readonly serializer: Serializer
  readonly observer: CacheObserver | undefined
  readonly cache: WritableCache | undefined
  readonly bus: InvalidationPublisher | undefined
  readonly onEvent: ((event: FlusherEvent) => void) | undefined
}

/**
 * What the parts of a running flusher share: its configuration, counters and events, the highest version
 * seen, whether it is stopping, and the connections it reads on.
 */
export interface FlusherContext<T = unknown> {
  readonly config: FlusherConfig<T>
  readonly stats: FlusherStats
  /** Reports an event (a listener that throws is ignored). */
  emit(event: FlusherEvent): void
  /** The highest version seen in the queue: the version counter is raised to it when Redis lost the queue. */
  highest: number
  /** True once `close()` has drained: the loops end. */
  readonly stopping: boolean
  /** Sleeps `ms`, or less when the flusher stops. */
  pause(ms: number): Promise<void>
  /** Entries waiting for a retry, over every shard. */
  retrying(): number
  /** Shards read now. */
  shardCount(): number
  /** The connection of the blocking reads (a queue of one shard), made on first use. */
  blocking(): Redis
}

/** What the parts of one shard's loop share (the batch, the dead letters). */
export interface ShardState<T = unknown> {
  readonly flusher: FlusherContext<T>
  /** The shard's keys. */
  readonly keys: QueueKeys
  /** Failed entries of this consumer in this shard: id → when to retry. */
  readonly retryAt: Map<string, number>
}

/** `createFlusher`'s options, checked, its options named `prefix + name` in messages (`writeBehind: flusher.batchSize ...`). */
export function resolveFlusherOptions<T>(
  options: FlusherOptions<T>,
  where: string,
  prefix: string,
): FlusherConfig<T> {
  checkObject(where, prefix === '' ? 'options' : 'flusher', options)
  refuseRenamed(
    where,
    options,
    { blockMs: 'renamed pollInterval', claimIdleMs: 'renamed claimTimeout', guardTtlMs: 'renamed guardTtl' },
    prefix,
  )
  checkRedis(where, options.redis)
  checkName(where, 'name', options.name)
  const shards =
    options.shards === undefined ? defaultShards(options.redis) : checkShards(where, options.shards)
  checkStore(where, options.store)
  const group = options.group ?? FLUSHER_DEFAULTS.group
  const consumer =
    options.consumer ?? `${hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`
  checkString(where, `${prefix}group`, group)
  checkString(where, `${prefix}consumer`, consumer)
  const timings = resolveTimings(options, where, prefix)
  checkSerializer(where, options.serializer)
  checkFunction(where, `${prefix}onEvent`, options.onEvent, true)
  checkObserver(where, options.observer)
  if (options.cache !== undefined) checkCache(where, options.cache)
  checkBus(where, options.bus)
  return {
    redis: options.redis,
    name: options.name,
    store: options.store,
    shards,
    group,
    consumer,
    ...timings,
    serializer: options.serializer ?? exactSerializer,
    observer: options.observer,
    cache: options.cache,
    bus: options.bus,
    onEvent: options.onEvent,
  }
}

type Timings = Pick<
  FlusherConfig,
  'batchSize' | 'pollInterval' | 'maxAttempts' | 'backoff' | 'maxRetrying' | 'claimTimeout' | 'guardTtl'
>

/** The sizes and durations of the options (batch size, poll interval, attempts, backoff, claim, guards). */
function resolveTimings(options: FlusherOptions<unknown>, where: string, prefix: string): Timings {
  const opt = (n: string): string => prefix + n
  const d = FLUSHER_DEFAULTS
  const batchSize = checkInteger(where, opt('batchSize'), options.batchSize ?? d.batchSize, 1, 1000)
  const pollInterval = checkDuration(where, opt('pollInterval'), options.pollInterval ?? d.pollInterval, 1)
  const maxAttempts = checkInteger(
    where,
    opt('maxAttempts'),
    options.maxAttempts ?? d.maxAttempts,
    1,
    1_000_000,
  )
  if (options.backoff !== undefined) checkObject(where, opt('backoff'), options.backoff)
  const base = checkDuration(where, opt('backoff.base'), options.backoff?.base ?? d.backoff.base, 1)
  const max = checkDuration(where, opt('backoff.max'), options.backoff?.max ?? d.backoff.max, 1)
  const claimTimeout = checkDuration(where, opt('claimTimeout'), options.claimTimeout ?? d.claimTimeout, 1)
  const guardTtl = checkTtl(where, opt('guardTtl'), options.guardTtl ?? d.guardTtl)
  return {
    batchSize,
    pollInterval,
    maxAttempts,
    backoff: { base, max },
    maxRetrying: batchSize * 4,
    claimTimeout,
    guardTtl,
  }
}

/** The retry delay of attempt `attempt`: `base * 2^(attempt-1)` ms, at most `max`, jittered to between half and all of it. */
export function retryDelay(backoff: FlusherConfig['backoff'], attempt: number): number {
  const d = Math.min(backoff.max, backoff.base * 2 ** Math.max(0, attempt - 1))
  return Math.ceil(d / 2 + (Math.random() * d) / 2)
}
