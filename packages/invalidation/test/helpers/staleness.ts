/**
 * Helpers of the staleness tests (issue 15, defect 9): independent instances (each its own ioredis clients,
 * L1 and redis-aside cache) on one real Redis, a database that records when each write returned, and a
 * history of reads checked for bounded staleness.
 */

import { setTimeout as sleep } from 'node:timers/promises'
import { type Cache, createCache, parseRedisKey } from '@tierkit/redis-aside'
import type { Redis, RedisOptions } from 'ioredis'
import {
  type BusEvent,
  createInvalidationBus,
  createTrackingInvalidator,
  type InvalidationBus,
  type TrackingEvent,
  type TrackingInvalidator,
} from '../../src/index.js'
import { MapL1 } from './cache.js'
import { redisClient } from './clients.js'
import { MemoryStore } from './memory-store.js'

/** A value in the database: the number of the write that produced it. */
export interface Versioned {
  n: number
}

/** One application instance: its own client, L1, cache and either a bus or a tracking invalidator. */
export interface Instance {
  readonly name: string
  readonly redis: Redis
  readonly l1: MapL1
  readonly cache: Cache
  readonly bus: InvalidationBus | undefined
  readonly tracking: TrackingInvalidator | undefined
  readonly events: Array<BusEvent | TrackingEvent>
  close(): Promise<void>
}

export function makeInstance(
  name: string,
  url: string,
  mode: 'bus' | 'tracking' | 'none',
  options: { namespace?: string; channel?: string; client?: RedisOptions; ttl?: number } = {},
): Instance {
  const namespace = options.namespace ?? 'stale'
  const redis = redisClient(url, { maxRetriesPerRequest: 1, ...options.client })
  redis.on('error', () => {})
  const l1 = new MapL1()
  const cache = createCache({
    redis,
    l1,
    namespace,
    ttl: options.ttl ?? 600_000,
    breaker: { threshold: 1_000_000 },
  })
  const events: Array<BusEvent | TrackingEvent> = []
  const bus =
    mode === 'bus'
      ? createInvalidationBus({
          redis,
          channel: options.channel ?? 'stale:bus',
          caches: [cache],
          onEvent: (e) => events.push(e),
        })
      : undefined
  const tracking =
    mode === 'tracking'
      ? createTrackingInvalidator({
          redis,
          prefixes: [`ra:${namespace.length}:${namespace}:v:`],
          toKey: (k) => parseRedisKey(k)?.key,
          caches: [cache],
          onEvent: (e) => events.push(e),
        })
      : undefined
  return {
    name,
    redis,
    l1,
    cache,
    bus,
    tracking,
    events,
    async close() {
      await bus?.close().catch(() => {})
      await tracking?.close().catch(() => {})
      await cache.close().catch(() => {})
      redis.disconnect()
    },
  }
}

/** A MemoryStore of versioned values that records when each write of a key returned to its writer. */
export class RecordingStore extends MemoryStore<Versioned> {
  /** key → [number of the write, time its write() returned (resolved or rejected)] in order. */
  readonly returned: Map<string, Array<[number, number]>> = new Map()
  wrote(key: string, n: number, at: number): void {
    const list = this.returned.get(key) ?? []
    list.push([n, at])
    this.returned.set(key, list)
  }
  current(key: string): number {
    return (this.value(key) as Versioned | undefined)?.n ?? 0
  }
}

/** One read: which instance, key, when it started, what it returned. */
export interface Read {
  instance: string
  key: string
  start: number
  n: number
}

/**
 * How stale a read was: 0 when no write newer than what it returned had returned before the read started,
 * else the time between the first such write returning and the read starting (ms).
 */
export function staleness(store: RecordingStore, r: Read): number {
  let first: number | undefined
  for (const [n, at] of store.returned.get(r.key) ?? []) {
    if (n > r.n && at < r.start && (first === undefined || at < first)) first = at
  }
  return first === undefined ? 0 : r.start - first
}

/** p50 / p99 / max of a list of numbers (ms), rounded. */
export function summary(xs: number[]): { count: number; p50: number; p99: number; max: number } {
  const s = [...xs].sort((a, b) => a - b)
  const at = (q: number): number =>
    s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.floor(q * s.length))]!
  return { count: s.length, p50: Math.round(at(0.5)), p99: Math.round(at(0.99)), max: Math.round(at(1)) }
}

/** Reads `key` through the instance's cache (the database answers a miss). */
export async function readOnce(inst: Instance, store: RecordingStore, key: string): Promise<number> {
  const v = await inst.cache.getOrLoad(key, () => store.load(key) ?? { n: 0 })
  return (v as Versioned).n
}

/**
 * Waits (bounded: the bound only turns a hang into a failure) until every instance reads, for every key,
 * what the database holds; every instance/key pair is polled in parallel. Returns the pairs still stale at
 * the end (with what they read) and, in `tookMs`, when the last pair's first up-to-date read STARTED
 * (relative to the call): reads may be slow while a client reconnects, that is not staleness.
 */
export async function converge(
  instances: readonly Instance[],
  store: RecordingStore,
  keys: readonly string[],
  boundMs: number,
): Promise<{ stale: string[]; tookMs: number }> {
  const t0 = Date.now()
  const stale: string[] = []
  let tookMs = 0
  await Promise.all(
    instances.flatMap((inst) =>
      keys.map(async (key) => {
        while (true) {
          const start = Date.now()
          const got = await readOnce(inst, store, key).catch(() => -1)
          if (got === store.current(key)) {
            tookMs = Math.max(tookMs, start - t0)
            return
          }
          if (Date.now() - t0 > boundMs) {
            stale.push(`${inst.name}/${key}: read ${got}, database ${store.current(key)}`)
            return
          }
          await sleep(50)
        }
      }),
    ),
  )
  return { stale: stale.sort(), tookMs }
}
