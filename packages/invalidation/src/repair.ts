/**
 * The background repair of invalidations that failed after the database was written (Redis or the bus
 * unreachable): a bounded queue of keys, one entry per key, retried with a doubling delay until the key is
 * deleted from the cache and published on the bus. The writers (`deleteOnUpdate`, `writeThrough`) and
 * write-behind's writer share it; it is not exported by the package.
 */
import {
  checkDuration,
  checkInteger,
  checkObject,
  refuseRenamed,
  type WritableCache,
} from '@tierkit/contracts'
import { RepairQueueFullError } from './errors.js'
import type { InvalidationPublisher } from './types.js'

/**
 * What a writer reports through `onEvent`: the background repair of invalidations that failed after the
 * database was written (Redis or the bus unreachable).
 */
export type WriterEvent =
  /** The cache delete or the bus publish of `key` failed after the database write; queued for a retry. */
  | { type: 'repair-queued'; key: string; pending: number; error: unknown }
  /** A retry deleted these keys from the cache and told the other instances: they are invalidated everywhere. */
  | { type: 'repaired'; keys: readonly string[]; pending: number }
  /** A retry failed (Redis still unreachable); the next one runs after the backoff (doubling, at most 1 s). */
  | { type: 'repair-failed'; keys: readonly string[]; error: unknown; attempt: number }
  /** The queue holds `maxKeys` keys: `key` was not queued (its write rejected with `RepairQueueFullError`). */
  | { type: 'repair-overflow'; key: string; maxKeys: number }
  /** The cache or the bus was closed: the queued keys were dropped (nothing can invalidate them any more). */
  | { type: 'repair-dropped'; keys: readonly string[]; error: unknown }

/** Counters of a writer's repair queue. */
export interface WriterStats {
  /** Keys waiting for their invalidation to be retried. */
  pendingRepairs: number
  /** Keys invalidated by a retry. */
  repaired: number
  /** Keys that could not be queued because the queue was full. */
  overflowed: number
}

/** The `repair` option of the writers and of `writeBehind`. */
export interface RepairOptions {
  /** Most keys waiting for a retry. @default 10000 */
  maxKeys?: number
  /** Delay before the first retry, in ms; it doubles while retries fail, up to 1 s. @default 100 */
  retryDelay?: number
}

/** Checks the `repair` option. */
export function checkRepair(where: string, repair: unknown): void {
  if (repair === undefined) return
  checkObject(where, 'repair', repair)
  refuseRenamed(where, repair as object, { retryMs: 'renamed retryDelay' }, 'repair.')
  const { maxKeys, retryDelay } = repair as RepairOptions
  if (maxKeys !== undefined) checkInteger(where, 'repair.maxKeys', maxKeys, 1, 100_000_000)
  if (retryDelay !== undefined) checkDuration(where, 'repair.retryDelay', retryDelay, 1)
}

const REPAIR_BATCH = 500
const REPAIR_MAX_DELAY = 1000

/**
 * Keys whose invalidation failed after the database write, retried in the background until done: delete
 * from the cache (when the delete was what failed), then publish on the bus. Bounded; one entry per key.
 * Internal (not exported by the package): the writers here and write-behind's writer share it.
 * @internal
 */
export class RepairQueue {
  private readonly pending = new Map<string, { del: boolean; gen: number }>()
  private gen = 0
  private failures = 0
  private running = false
  private timer: ReturnType<typeof setTimeout> | undefined
  readonly stats: WriterStats = { pendingRepairs: 0, repaired: 0, overflowed: 0 }

  constructor(
    private readonly cache: WritableCache,
    private readonly bus: InvalidationPublisher | undefined,
    readonly maxKeys: number,
    private readonly retryDelay: number,
    private readonly onEvent: ((e: WriterEvent) => void) | undefined,
  ) {}

  private emit(e: WriterEvent): void {
    try {
      this.onEvent?.(e)
    } catch {
      // must not break the write path
    }
  }

  /**
   * Queues `key` (`del`: its cache delete failed). Throws `RepairQueueFullError` when it cannot be queued,
   * else returns, and the caller throws `error` (the write still fails loudly).
   */
  add(key: string, del: boolean, error: unknown): void {
    const cur = this.pending.get(key)
    if (cur === undefined && this.pending.size >= this.maxKeys) {
      this.stats.overflowed++
      this.emit({ type: 'repair-overflow', key, maxKeys: this.maxKeys })
      throw new RepairQueueFullError(key, this.maxKeys, error)
    }
    this.pending.set(key, { del: del || (cur?.del ?? false), gen: ++this.gen })
    this.stats.pendingRepairs = this.pending.size
    this.emit({ type: 'repair-queued', key, pending: this.pending.size, error })
    this.schedule()
  }

  /** A later write invalidated `key` completely: no retry needed. */
  done(key: string): void {
    if (this.pending.delete(key)) this.stats.pendingRepairs = this.pending.size
  }

  private schedule(): void {
    if (this.running || this.timer !== undefined || this.pending.size === 0) return
    const delay =
      this.failures === 0
        ? this.retryDelay
        : Math.min(this.retryDelay * 2 ** (this.failures - 1), Math.max(this.retryDelay, REPAIR_MAX_DELAY))
    this.timer = setTimeout(() => {
      this.timer = undefined
      void this.round()
    }, delay)
    this.timer.unref?.()
  }

  private async round(): Promise<void> {
    this.running = true
    const batch: Array<[string, { del: boolean; gen: number }]> = []
    for (const e of this.pending) {
      batch.push([e[0], { ...e[1] }])
      if (batch.length === REPAIR_BATCH) break
    }
    const keys = batch.map(([k]) => k)
    try {
      const del = batch.filter(([, e]) => e.del).map(([k]) => k)
      if (del.length > 0) await this.cache.deleteMany(del)
      for (const [k, e] of batch) {
        const cur = this.pending.get(k)
        if (e.del && cur !== undefined && cur.gen === e.gen) cur.del = false
      }
      if (this.bus !== undefined) await this.bus.publish({ keys })
      const repaired: string[] = []
      for (const [k, e] of batch) {
        if (this.pending.get(k)?.gen === e.gen) {
          this.pending.delete(k)
          repaired.push(k)
        }
      }
      this.failures = 0
      this.stats.repaired += repaired.length
      this.stats.pendingRepairs = this.pending.size
      this.emit({ type: 'repaired', keys: repaired, pending: this.pending.size })
    } catch (error) {
      this.failures++
      // the cache or the bus was closed (contracts' ClosedError): nothing can invalidate these keys any more
      if ((error as { code?: unknown })?.code === 'E_CLOSED') {
        const dropped = [...this.pending.keys()]
        this.pending.clear()
        this.stats.pendingRepairs = 0
        this.emit({ type: 'repair-dropped', keys: dropped, error })
      } else {
        this.emit({ type: 'repair-failed', keys, error, attempt: this.failures })
      }
    } finally {
      this.running = false
    }
    this.schedule()
  }
}
