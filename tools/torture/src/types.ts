/**
 * The vocabulary shared by the orchestrator, the child processes and the checker: the recorded history events,
 * the fault records and the configuration handed to each child.
 */

/** Which Redis the run uses. */
export type Topology = 'single' | 'cluster' | 'sentinel'

/** Key families: how a key is written and read. */
export type Family =
  /** deleteOnUpdate, read with getOrLoad through the L1 cache */
  | 'du'
  /** writeThrough, read with getOrLoad through the L1 cache */
  | 'wt'
  /** writeBehind (queued, applied by the flushers), read with getOrLoad through the L1 cache */
  | 'wb'
  /** createTags: store write + invalidateTags, read with tags.getOrLoad through the L1 cache */
  | 'tg'
  /** deleteOnUpdate, read with getOrLoad through a cache WITHOUT L1 (so every read asks Redis) */
  | 'rd'

/** The layer that answered a read. */
export type Layer = 'l1' | 'l2' | 'db' | 'nginx' | 'tags' | 'unknown'

/** How to reach Redis. */
export type RedisSpec =
  | { kind: 'single'; host: string; port: number }
  | { kind: 'cluster'; nodes: Array<{ host: string; port: number }> }
  | { kind: 'sentinel'; sentinels: Array<{ host: string; port: number }>; name: string }

/** One operation of the history (a read, a write or a private-route probe). */
export interface OpEvent {
  t: 'op'
  /** process name (inst0, client, ...) */
  p: string
  kind: 'read' | 'write' | 'probe'
  fam?: Family
  key?: string
  /** epoch ms (fractional), taken with performance.timeOrigin + performance.now() */
  start: number
  end: number
  ok: boolean
  /** error code when !ok (E_..., or the error name) */
  code?: string
  /** error message when !ok (shortened) */
  msg?: string
  /** logical version read or written */
  v?: number
  /** write id */
  w?: string
  /** the layer that answered a read */
  layer?: Layer
  /** 'direct' (the cache API inside an instance), 'http' (through nginx), 'sweep' (the final convergence reads) */
  via?: 'direct' | 'http' | 'sweep'
  /** write strategy / read path details */
  strategy?: string
  /** the write was refused as invalid input (TypeError, E_INVALID_ARGUMENT, E_UNSERIALIZABLE): not a Redis failure */
  refused?: boolean
  /** write-behind: the queue version returned by write() */
  qv?: number
  /** write: TTL passed with the write */
  ttl?: number
  /** whether the store has the value for sure (sync writes whose error came after the database write) */
  dbApplied?: boolean
  /** write value encoded with the typed encoding (write-behind: compared with what the store ends with) */
  enc?: string
  // ---- probes (private route through nginx)
  url?: string
  /** the requester (undefined = anonymous) */
  user?: string
  status?: number
  /** nginx X-Cache-Status */
  cache?: string
  /** the body was produced by the private handler */
  privateBody?: boolean
  /** the user the body belongs to */
  owner?: string
  nonce?: string
  cc?: string
  /** which nginx (edge) answered */
  edge?: string
}

/** One loader call (the database read behind a cache miss). */
export interface LoadEvent {
  t: 'load'
  p: string
  /** cache namespace */
  ns: string
  key: string
  start: number
  end: number
  ok: boolean
}

/** Something a process noticed (breaker changes, bus reconnects, errors). */
export interface NoteEvent {
  t: 'note'
  p: string
  at: number
  what: string
  detail?: string
}

/** The kinds of fault. */
export type FaultKind =
  | 'redis-sigkill'
  | 'redis-sigstop'
  | 'redis-flushall'
  | 'redis-restart-empty'
  | 'proxy-delay'
  | 'instance-stall'
  | 'flusher-sigkill'
  | 'cluster-master-kill'
  | 'sentinel-failover'
  | 'sentinel-primary-kill'

/** One injected fault, as the orchestrator recorded it. */
export interface FaultEvent {
  t: 'fault'
  id: number
  fault: FaultKind
  topology: Topology
  /** when the fault began / ended (Redis answering again, the stall over, the flusher replaced) */
  start: number
  end: number
  /** Redis (or part of it) did not serve while it lasted */
  outage: boolean
  /** Redis lost data (what an acknowledged write-behind write may legitimately lose) at `lossAt` */
  dataLoss: boolean
  lossAt?: number
  /** Cluster: the hash-slot ranges of the node that was down; undefined = every key */
  slots?: Array<[number, number]>
  target?: string
  detail?: string
  /** `entries-added` of the write-behind stream just before a fault that deletes it (the checker's segment end) */
  streamEntriesAdded?: number
}

/** A save the store applied or skipped (read back from PostgreSQL at the end). */
export interface AppliedEvent {
  t: 'applied'
  id: number
  key: string
  /** logical version of the value */
  lv: number
  /** queue version (write-behind), 0 for synchronous writes */
  qv: number
  w: string
  applied: boolean
  at: number
  p: string
}

/** The orchestrator's phase marks. */
export interface PhaseEvent {
  t: 'phase'
  at: number
  phase: 'start' | 'faults' | 'quiesce' | 'drain' | 'sweep' | 'end'
  detail?: string
}

export type HistoryEvent = OpEvent | LoadEvent | NoteEvent | FaultEvent | AppliedEvent | PhaseEvent

/** The workload every process shares (derived from the schedule). */
export interface Workload {
  /** keys per family */
  keys: Record<Family, number>
  /** direct reads per second per instance */
  readsPerSec: number
  /** writes per second per instance (over the keys it owns) */
  writesPerSec: number
  /** HTTP reads per second (client) */
  httpReadsPerSec: number
  /** private-route probes per second (client) */
  probesPerSec: number
  /** cache TTL in ms */
  ttlMs: number
  /** timeouts.redis of the caches */
  redisTimeoutMs: number
  /** timeouts.hard of the caches */
  hardTimeoutMs: number
  /** breaker cool-down */
  breakerCoolDownMs: number
  /** the lock lease */
  lockLeaseMs: number
  /** every Nth writeThrough write passes a fractional TTL (0 = never) */
  fractionalTtlEvery: number
  /** the write-behind values carry a Map and a Set (the type-fidelity probe) */
  typeProbe: boolean
  /** tag names of the tg family, by key index (cycled) */
  tagNames: string[]
  /** the second CDN purge after a write, in ms */
  purgeAgainMs: number
}

/** What a child process gets (argv[2], JSON). */
export interface ChildConfig {
  role: 'instance' | 'flusher' | 'client'
  name: string
  index: number
  seed: number
  historyFile: string
  redis: RedisSpec
  pg: { connectionString: string; schema: string }
  packagesRoot?: string | undefined
  workload: Workload
  topology: Topology
  /** instances: how the L1 copies of other instances' writes are evicted */
  invalidation?: 'bus' | 'tracking'
  /** instances: how many instances share the keys (owner = index % count) */
  instances?: number
  /** flushers: consumer name */
  consumer?: string
  /** the run's unique id (namespaces, channel names) */
  runId: string
}

/** Messages from the orchestrator to a child. */
export type ParentMessage =
  | { cmd: 'start'; edges: string[] }
  | { cmd: 'stall'; ms: number }
  | { cmd: 'write-burst'; fam: Family }
  | { cmd: 'stop' }
  | { cmd: 'sweep' }
  | { cmd: 'arm-kill' }
  | { cmd: 'flush'; timeoutMs: number }
  | { cmd: 'exit' }

/** Messages from a child to the orchestrator. */
export type ChildMessage =
  | { type: 'ready'; port?: number }
  | { type: 'stopped' }
  | { type: 'swept' }
  | { type: 'in-batch' }
  | { type: 'flushed'; ok: boolean; code?: string; msg?: string }
  | { type: 'stalled'; ms: number }
  | { type: 'error'; msg: string }
