/**
 * The Redis keys of a write-behind queue: the keys of each shard (stream, version counter, dead letters,
 * applied-version guards, all in one hash slot), the record of the shard count, and which shard a key goes to.
 */
import { checkInteger } from '@tierkit/contracts'
import type { Cluster, Redis } from 'ioredis'
import { checkName } from '../args.js'

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
export const MAX_SHARDS = 256

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

/** `queueKeys` without the checks (the name was checked by the caller). */
export function keysOf(name: string, shard: number): QueueKeys {
  const base = shard === 0 ? `wb:{${name}}` : `wb:{${name}|${shard}}:s${shard}`
  return { stream: `${base}:q`, seq: `${base}:seq`, dead: `${base}:dead`, guard: `${base}:a:` }
}

/** Where writers record the shard count of a sharded queue (in the slot of shard 0). */
export function shardsKey(name: string): string {
  return `wb:{${name}}:shards`
}

/** 16 shards on a Cluster (spread over its masters), 1 on a single Redis. */
export function defaultShards(redis: Redis | Cluster): number {
  return (redis as Cluster).isCluster === true ? 16 : 1
}

/** The `shards` option: an integer from 1 to 256. */
export function checkShards(where: string, v: unknown): number {
  return checkInteger(where, 'shards', v, 1, MAX_SHARDS)
}

/** The shard of `key`: FNV-1a (32 bits, over the UTF-16 code units) modulo `shards`. */
export function shardOf(key: string, shards: number): number {
  if (shards === 1) return 0
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return (h >>> 0) % shards
}

/**
 * The shards a tool must look at: the count writers recorded, at least the default for this client (the
 * record is in the first shard's slot; if its master is down, the default).
 */
export async function knownShards(redis: Redis | Cluster, name: string): Promise<number> {
  let recorded = 0
  try {
    recorded = Number(await (redis as Redis).get(shardsKey(name)))
  } catch {
    // unreachable: the default
  }
  const n = Number.isSafeInteger(recorded) && recorded > 0 && recorded <= MAX_SHARDS ? recorded : 0
  return Math.max(n, defaultShards(redis))
}
