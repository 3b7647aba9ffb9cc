/**
 * `writeBehind`: the writer a user holds. It checks a write, encodes it (or refuses it) before anything is
 * queued or cached, queues it through the `Producer`, then updates the cache (`CacheUpdates`); it can run a
 * flusher in the same process, which its `close()` drains and stops.
 */
import {
  ClosedError,
  type CloseOptions,
  checkFunction,
  checkObject,
  checkString,
  closeTimeout,
  exactSerializer,
  type Serializer,
} from '@tierkit/contracts'
import type { Cluster, Redis } from 'ioredis'
import { checkBus, checkCache, checkName, checkRedis, checkSerializer, withRedis } from '../args.js'
import { unserializable } from '../errors.js'
import { checkRepair } from '../repair.js'
import { checkJitter, checkTtlOption, resolveTtl } from '../ttl.js'
import { checkValue, type WriteOptions } from '../writers.js'
import { CacheUpdates } from './cache-update.js'
import { DEFAULT_DRAIN_TIMEOUT } from './config.js'
import { type FlusherRun, startFlusher } from './flusher.js'
import { checkShards, defaultShards } from './keys.js'
import { Producer } from './producer.js'
import type { QueuedWrite, WriteBehind, WriteBehindOptions } from './types.js'

/** What the calls of one writer share. */
interface WriterState<T> {
  readonly options: WriteBehindOptions<T>
  readonly serializer: Serializer
  readonly producer: Producer
  readonly updates: CacheUpdates
  /** The in-process flusher, when `flusher` was given. */
  readonly run: FlusherRun<T> | undefined
  readonly resource: string
  closing: Promise<void> | undefined
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
export function writeBehind<T = unknown>(opts: WriteBehindOptions<T>): WriteBehind<T> {
  const options = withRedis('writeBehind', opts)
  const shardCount = checkOptions(options)
  const { name, cache, bus } = options
  // checked by checkOptions; a node-redis client was wrapped by withRedis
  const redis = options.redis as Redis | Cluster
  const serializer = options.serializer ?? exactSerializer
  const run =
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
          'writeBehind',
          'flusher.',
        )
  const state: WriterState<T> = {
    options,
    serializer,
    producer: new Producer(redis, name, shardCount),
    updates: new CacheUpdates(options),
    run,
    resource: `the write-behind writer of queue ${JSON.stringify(name)}`,
    closing: undefined,
  }
  return {
    flusher: run?.handle,
    write: (key, value, callOptions) => write(state, key, value, callOptions),
    remove: (key) => remove(state, key),
    flush: (o) => flush(state, o),
    close: (o) => close(state, o),
  }
}

/** Checks the options (before anything starts); returns the shard count. */
function checkOptions<T>(options: WriteBehindOptions<T>): number {
  const where = 'writeBehind'
  checkObject(where, 'options', options)
  checkRedis(where, options.redis)
  checkName(where, 'name', options.name)
  const shards =
    options.shards === undefined ? defaultShards(options.redis) : checkShards(where, options.shards)
  if (options.cache !== undefined) checkCache(where, options.cache)
  checkBus(where, options.bus)
  checkTtlOption(where, options.ttl)
  checkJitter(where, options.jitter)
  checkSerializer(where, options.serializer)
  checkRepair(where, options.repair)
  checkFunction(where, 'onEvent', options.onEvent, true)
  return shards
}

async function write<T>(
  state: WriterState<T>,
  key: string,
  value: T,
  callOptions: WriteOptions | undefined,
): Promise<QueuedWrite> {
  const call = 'writeBehind.write'
  if (state.closing !== undefined) throw new ClosedError(state.resource)
  checkString(call, 'key', key)
  checkValue(call, value)
  checkObject(call, 'options', callOptions, true)
  const { ttl, jitter } = state.options
  const t = resolveTtl(call, ttl, jitter, key, value, callOptions?.ttl)
  let payload: unknown
  // encoded (or refused) before anything is queued or cached, so the Store gets exactly what the cache holds:
  // the exact serializer refuses what it would change silently (a hole, a hidden or accessor property...)
  try {
    payload = state.serializer.encode(value)
  } catch (e) {
    throw unserializable(key, e)
  }
  if (typeof payload !== 'string') {
    throw unserializable(key, new TypeError(`encode returned ${typeof payload}, not a string`))
  }
  const queued = await state.producer.enqueue(call, key, 's', payload)
  await state.updates.written(key, value, t)
  return queued
}

async function remove<T>(state: WriterState<T>, key: string): Promise<QueuedWrite> {
  const call = 'writeBehind.remove'
  if (state.closing !== undefined) throw new ClosedError(state.resource)
  checkString(call, 'key', key)
  const queued = await state.producer.enqueue(call, key, 'd', '')
  await state.updates.removed(key)
  return queued
}

async function flush<T>(state: WriterState<T>, options: CloseOptions | undefined): Promise<void> {
  const timeout = closeTimeout('writeBehind.flush', options, DEFAULT_DRAIN_TIMEOUT)
  if (state.closing !== undefined) throw new ClosedError(state.resource)
  await state.producer.drained('writeBehind.flush', timeout)
}

function close<T>(state: WriterState<T>, options: CloseOptions | undefined): Promise<void> {
  if (state.closing !== undefined) return state.closing
  let timeout: number
  try {
    timeout = closeTimeout('writeBehind.close', options, DEFAULT_DRAIN_TIMEOUT)
  } catch (e) {
    return Promise.reject(e)
  }
  const run = state.run
  // the in-process flusher drains the whole queue (this writer's writes with it), then stops
  state.closing =
    run !== undefined
      ? run.close('writeBehind.close', timeout)
      : state.producer.drained('writeBehind.close', timeout)
  return state.closing
}
