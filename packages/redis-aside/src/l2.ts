/**
 * The L2 facade: every call to Redis goes through here, and this is the one file that knows the client
 * library (ioredis). It bounds each call by `timeouts.redis`, guards it with a circuit breaker (one per master
 * on a Cluster), groups multi-key reads per hash slot, sends scripts as EVALSHA with the EVAL fallback, and
 * coalesces the reads of one turn of the event loop. The rest of the cache sees only the {@link L2} interface
 * (and {@link isReplyError}): another client library, or a Sentinel-aware one, is another implementation of
 * it, chosen in {@link createL2}.
 */
import { performance } from 'node:perf_hooks'
import { checkMethods } from '@tierkit/contracts'
import { classifyRedisError, isReplyError as isRedisReply } from '@tierkit/contracts/redis'
import type { Cluster, Redis } from 'ioredis'
import { Breaker, type BreakerState } from './breaker.js'
import { RedisUnavailableError } from './errors.js'
import type { Script } from './scripts.js'
import { keySlot } from './slot.js'

/**
 * What the cache needs from Redis. A call that fails rejects with a `RedisUnavailableError` (timeout,
 * connection error, breaker open) or with the server's error reply (see {@link isReplyError}); both are
 * reported as a `redis-error` event. `operation` names the call in errors and events; a Redis key (`redisKey`)
 * gives the cache key they name and the breaker the call goes through.
 */
export interface L2 {
  /** The breakers' state: the worst node's on a Cluster. */
  readonly breakerState: BreakerState
  /** Whether calls on `redisKey` go through right now (its breaker is closed). */
  healthy(redisKey: string): boolean
  /**
   * `GET`, coalesced with the other reads of this turn of the event loop (one `MGET` per hash slot); the
   * answer goes to `sink` (no promise: this is the read of every L1 miss).
   */
  readTo(redisKey: string, sink: ReadSink): void
  /**
   * `MGET` per hash slot: the values of the keys whose group was answered (a key of a failed group is
   * absent), and how many groups failed.
   */
  readMany(redisKeys: string[]): Promise<{ values: Map<string, string | null>; failures: number }>
  /** `SET key value PX px`, an explicit write: tried even when the breaker is open (see `call`). */
  write(redisKey: string, value: string, px: number, operation: string): Promise<unknown>
  /** Runs a one-key Lua script; `write` as for {@link L2.write}. */
  script(
    s: Script,
    redisKey: string,
    args: Array<string | number>,
    operation: string,
    write?: boolean,
  ): Promise<unknown>
}

/** Where the answer of one {@link L2.readTo} goes. Neither method may throw. */
export interface ReadSink {
  /** Redis answered: the value, or `null` when the key is empty */
  l2Answered(raw: string | null): void
  /** the read failed (a `RedisUnavailableError` or an error reply, reported already) */
  l2Failed(error: unknown): void
}

/** Options of {@link createL2}. */
export interface L2Options {
  /** the client the cache was given (`CacheOptions.redis`) */
  redis: Redis | Cluster
  /** `timeouts.redis`, ms */
  timeout: number
  breakerThreshold: number
  breakerCooldown: number
  /** The cache key of a Redis key, for errors and events. */
  keyOf(redisKey: string): string | undefined
  /** A breaker changed state (`node` on a Cluster). */
  onBreaker(state: BreakerState, node: string | undefined): void
  /** A call failed. */
  onError(operation: string, key: string | undefined, error: unknown): void
}

/** Checks that `client` is a client this file can drive (`createCache`'s `redis` option). */
export function checkClient(where: string, name: string, client: unknown): void {
  checkMethods(where, name, client, ['get', 'mget', 'set'], 'an ioredis Redis or Cluster')
}

/** The L2 facade over the client in `options.redis`. */
export function createL2(options: L2Options): L2 {
  return new IoredisL2(options)
}

/**
 * Redis answered with an error (OOM, READONLY, NOSCRIPT, an ACL denial as contracts' `PermissionError`...):
 * Redis is up, the command was refused.
 */
export function isReplyError(e: unknown): boolean {
  return isRedisReply(e)
}

function messageOf(e: unknown): string {
  return String((e as Error)?.message ?? e)
}

/** The part of an ioredis `Redis` or `Cluster` this file calls. */
interface RedisCommands {
  get(key: string): Promise<string | null>
  set(...args: Array<string | number>): Promise<unknown>
  mget(...keys: string[]): Promise<Array<string | null>>
  eval(script: string, numKeys: number, ...args: Array<string | number>): Promise<unknown>
  evalsha(sha: string, numKeys: number, ...args: Array<string | number>): Promise<unknown>
  /** ioredis Cluster only: slot → [master "host:port", ...replicas]. */
  readonly slots?: string[][]
}

interface PendingCall {
  deadline: number
  operation: string
  /** the Redis key (the first one of a multi-key call), for the error's message */
  redisKey: string
  reject: (err: unknown) => void
  done: boolean
  /** The breaker the call went through (per node on a Cluster). */
  breaker: Breaker
  /** Its deadline was moved once already, after an event-loop stall. */
  extended?: boolean
}

/** The readers of one key in a read batch: one sink (the usual case: one flight per key), or several. */
type Readers = ReadSink | ReadSink[]

function settle(readers: Readers, raw: string | null | undefined, error?: unknown): void {
  if (!Array.isArray(readers)) {
    if (error !== undefined) readers.l2Failed(error)
    else readers.l2Answered(raw ?? null)
    return
  }
  for (const sink of readers) {
    if (error !== undefined) sink.l2Failed(error)
    else sink.l2Answered(raw ?? null)
  }
}

/** {@link L2} on an ioredis `Redis` or `Cluster`. */
class IoredisL2 implements L2 {
  private readonly redis: RedisCommands
  private readonly isCluster: boolean
  /** The breaker of a single Redis; on a Cluster, the breakers are per node (see `breakerFor`). */
  private readonly breaker: Breaker
  private readonly breakers = new Map<string, Breaker>()
  private readonly pending = new Set<PendingCall>()
  private readBatch: Map<string, Readers> | undefined
  private sweepTimer: NodeJS.Timeout | undefined
  /** When the armed sweep should run (monotonic): a sweep much later than that means the loop was stalled. */
  private sweepDue = 0

  constructor(private readonly o: L2Options) {
    this.redis = o.redis as unknown as RedisCommands
    this.isCluster = (o.redis as { isCluster?: boolean }).isCluster === true
    this.breaker = new Breaker(o.breakerThreshold, o.breakerCooldown, (state) =>
      o.onBreaker(state, undefined),
    )
  }

  get breakerState(): BreakerState {
    if (!this.isCluster) return this.breaker.state
    let worst: BreakerState = 'closed'
    for (const b of this.breakers.values()) {
      if (b.state === 'open') return 'open'
      if (b.state === 'half-open') worst = 'half-open'
    }
    return worst
  }

  healthy(redisKey: string): boolean {
    return this.breakerFor(redisKey).state === 'closed'
  }

  /**
   * Reads requested in the same turn of the event loop (e.g. many callers missing L1 at once) are coalesced:
   * flushed on `process.nextTick` as one `GET` (a lone key) or one `MGET` per hash slot. A lone sequential
   * read therefore costs exactly one `GET` and no extra delay.
   */
  readTo(redisKey: string, sink: ReadSink): void {
    let batch = this.readBatch
    if (batch === undefined) {
      batch = new Map()
      this.readBatch = batch
      process.nextTick(this.flushReads)
    }
    const readers = batch.get(redisKey)
    if (readers === undefined) batch.set(redisKey, sink)
    else if (Array.isArray(readers)) readers.push(sink)
    else batch.set(redisKey, [readers, sink])
  }

  async readMany(redisKeys: string[]): Promise<{ values: Map<string, string | null>; failures: number }> {
    const values = new Map<string, string | null>()
    let failures = 0
    await Promise.all(
      this.bySlot(redisKeys).map(async (group) => {
        try {
          const res = await this.call(() => this.redis.mget(...group), 'mget', group[0]!)
          group.forEach((redisKey, i) => {
            values.set(redisKey, res[i] ?? null)
          })
        } catch {
          failures++
        }
      }),
    )
    return { values, failures }
  }

  write(redisKey: string, value: string, px: number, operation: string): Promise<unknown> {
    return this.call(() => this.redis.set(redisKey, value, 'PX', px), operation, redisKey, true)
  }

  script(
    s: Script,
    redisKey: string,
    args: Array<string | number>,
    operation: string,
    write = false,
  ): Promise<unknown> {
    return this.call(() => this.runScript(s, redisKey, args), operation, redisKey, write)
  }

  /**
   * EVALSHA, falling back to EVAL (which caches the script) when this node does not know it yet. The
   * fallback is sent after the NOSCRIPT reply, so it may land after commands sent later: only scripts that
   * compare before they write (fill, lock acquire/renew/release, compare-and-delete) go through here.
   */
  private runScript(s: Script, redisKey: string, args: Array<string | number>): Promise<unknown> {
    return this.redis.evalsha(s.sha, 1, redisKey, ...args).catch((err: unknown) => {
      if (isReplyError(err) && String((err as Error).message).startsWith('NOSCRIPT')) {
        return this.redis.eval(s.src, 1, redisKey, ...args)
      }
      throw err
    })
  }

  private readonly flushReads = (): void => {
    const batch = this.readBatch
    this.readBatch = undefined
    if (batch === undefined) return
    if (batch.size === 1) {
      const [[redisKey, readers]] = batch as unknown as [[string, Readers]]
      this.call(() => this.redis.get(redisKey), 'get', redisKey).then(
        (v) => settle(readers, v),
        (err: unknown) => settle(readers, null, err ?? new Error('redis get failed')),
      )
      return
    }
    for (const group of this.bySlot([...batch.keys()])) {
      this.call(() => this.redis.mget(...group), 'mget', group[0]!).then(
        (values) => {
          for (let i = 0; i < group.length; i++) settle(batch.get(group[i]!)!, values[i])
        },
        (err: unknown) => {
          const error = err ?? new Error('redis mget failed')
          for (const redisKey of group) settle(batch.get(redisKey)!, null, error)
        },
      )
    }
  }

  /** Groups Redis keys so that each group can go in one multi-key command (one group per hash slot on a Cluster). */
  private bySlot(redisKeys: string[]): string[][] {
    if (!this.isCluster) return [redisKeys]
    const groups = new Map<number, string[]>()
    for (const redisKey of redisKeys) {
      const slot = keySlot(redisKey)
      const group = groups.get(slot)
      if (group) group.push(redisKey)
      else groups.set(slot, [redisKey])
    }
    return [...groups.values()]
  }

  /**
   * The breaker guarding `redisKey`: the one breaker on a single Redis; on a Cluster, the breaker of the
   * master that serves the key's slot right now (ioredis' slot table, which follows MOVED redirections,
   * resharding and failovers), so one dead master opens only its own breaker.
   */
  private breakerFor(redisKey: string): Breaker {
    if (!this.isCluster) return this.breaker
    const node = this.redis.slots?.[keySlot(redisKey)]?.[0] ?? 'unknown'
    let breaker = this.breakers.get(node)
    if (breaker === undefined) {
      breaker = new Breaker(this.o.breakerThreshold, this.o.breakerCooldown, (state) =>
        this.o.onBreaker(state, node),
      )
      this.breakers.set(node, breaker)
    }
    return breaker
  }

  /**
   * Runs one Redis call through the circuit breaker and `timeouts.redis`. Deadlines are checked by one
   * shared timer (every `timeouts.redis / 4`, at most 25 ms, at least 1 ms) rather than a timer per call.
   */
  private call<T>(fn: () => Promise<T>, operation: string, redisKey: string, write = false): Promise<T> {
    const breaker = this.breakerFor(redisKey)
    // The breaker spares Redis (and the callers) the reads that would fail during an outage. An explicit write
    // (`set`, `delete`: an invalidation) always tries, bounded by timeouts.redis: held back for the cool-down,
    // it would leave the old value in Redis after Redis is back. Its success closes the breaker.
    if (!write && !breaker.allow()) {
      return Promise.reject(
        new RedisUnavailableError(operation, this.o.keyOf(redisKey), 'circuit breaker open'),
      )
    }
    return new Promise<T>((resolve, reject) => {
      // monotonic, and read now: the coarse clock can be a reading from before an event-loop stall
      const call: PendingCall = {
        deadline: performance.now() + this.o.timeout,
        operation,
        redisKey,
        reject,
        done: false,
        breaker,
      }
      this.pending.add(call)
      if (this.sweepTimer === undefined) this.armSweep()
      let p: Promise<T>
      try {
        p = fn()
      } catch (err) {
        p = Promise.reject(err)
      }
      p.then(
        (v) => {
          if (call.done) return
          call.done = true
          this.pending.delete(call)
          breaker.success()
          resolve(v)
        },
        (err: unknown) => {
          if (call.done) return
          call.done = true
          this.pending.delete(call)
          reject(this.failed(operation, redisKey, breaker, err))
        },
      )
    })
  }

  /**
   * A call that got no answer or an error reply: the breaker learns of it, the event says which call and why.
   * A reply the ACL denied is contracts' `PermissionError` naming the command (classified here, the one place
   * this package sees Redis's errors), never a miss.
   */
  private failed(operation: string, redisKey: string, breaker: Breaker, err: unknown): unknown {
    const key = this.o.keyOf(redisKey)
    if (isReplyError(err)) {
      breaker.success() // Redis answered: not an availability problem
      const reply = classifyRedisError(err)
      this.o.onError(operation, key, reply)
      return reply
    }
    breaker.failure()
    // a connection error: say which call on which key, and why
    const error = new RedisUnavailableError(operation, key, messageOf(err), err)
    this.o.onError(operation, key, error)
    return error
  }

  private armSweep(): void {
    const every = Math.max(1, Math.min(25, Math.floor(this.o.timeout / 4)))
    this.sweepDue = performance.now() + every
    this.sweepTimer = setTimeout(this.sweep, every)
    this.sweepTimer.unref()
  }

  private readonly sweep = (): void => {
    this.sweepTimer = undefined
    const now = performance.now()
    // The loop was stalled for longer than a timeout: the process, not Redis, kept the calls from being
    // written or their replies from being read (over TLS, a command queued behind a write in progress is not
    // on the wire until the loop turns). Each pending call gets one full timeout again from now.
    const stalled = now - this.sweepDue > this.o.timeout
    let expired: PendingCall[] | undefined
    for (const call of this.pending) {
      if (stalled && !call.extended) {
        call.extended = true
        call.deadline = Math.max(call.deadline, now + this.o.timeout)
      }
      if (now < call.deadline) continue
      if (expired === undefined) expired = [call]
      else expired.push(call)
    }
    if (expired !== undefined) {
      // Timers run before the poll phase: after the event loop was blocked (a long synchronous task, a GC
      // pause), a reply that arrived meanwhile is still unread in the socket. Give pending I/O one turn
      // (setImmediate runs after the poll phase) and only then declare what is still unanswered timed out.
      const late = expired
      setImmediate(() => this.expire(late))
    }
    if (this.pending.size > 0) this.armSweep()
  }

  private expire(calls: PendingCall[]): void {
    for (const call of calls) {
      if (call.done) continue
      call.done = true
      this.pending.delete(call)
      const key = this.o.keyOf(call.redisKey)
      const error = new RedisUnavailableError(call.operation, key, `timed out after ${this.o.timeout} ms`)
      call.breaker.failure()
      this.o.onError(call.operation, key, error)
      call.reject(error)
    }
  }
}
