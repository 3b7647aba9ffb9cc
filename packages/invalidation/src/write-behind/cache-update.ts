/**
 * What a write-behind writer does to the cache once a write is queued (acknowledged): sets the value (or,
 * when that fails, deletes the key), publishes the key on the bus, and hands what failed to the background
 * repair queue, so that a cache failure never fails an acknowledged write.
 */
import type { WritableCache } from '@tierkit/contracts'
import { RepairQueue } from '../repair.js'
import type { InvalidationPublisher } from '../types.js'
import type { WriteBehindEvent, WriteBehindOptions } from './types.js'

/** The repair queue's cache when a writer has only a bus (it then only publishes: nothing is deleted). */
const NO_CACHE: WritableCache = {
  set: () => undefined,
  delete: () => undefined,
  deleteMany: () => undefined,
  evictLocal: () => undefined,
}

/** The cache side of one writer. */
export class CacheUpdates {
  private readonly cache: WritableCache | undefined
  private readonly bus: InvalidationPublisher | undefined
  private readonly onEvent: ((event: WriteBehindEvent) => void) | undefined
  /** Failed invalidations of acknowledged writes, retried in the background (see the `repair` option). */
  private readonly repairs: RepairQueue | undefined

  constructor(options: Pick<WriteBehindOptions, 'cache' | 'bus' | 'repair' | 'onEvent'>) {
    const { cache, bus, onEvent } = options
    this.cache = cache
    this.bus = bus
    this.onEvent = onEvent
    this.repairs =
      cache === undefined && bus === undefined
        ? undefined
        : new RepairQueue(
            cache ?? NO_CACHE,
            bus,
            options.repair?.maxKeys ?? 10_000,
            options.repair?.retryDelay ?? 100,
            onEvent,
          )
  }

  /** After a queued write: the value into the cache (else the key out of it), then the publish. */
  async written(key: string, value: unknown, ttl: number | undefined): Promise<void> {
    let cached = true
    if (this.cache !== undefined) {
      try {
        await this.cache.set(key, value, ttl === undefined ? undefined : { ttl })
      } catch (e) {
        this.report(key, e)
        cached = await this.dropFromCache(key)
      }
    }
    // a complete invalidation of this write supersedes a repair pending for an earlier one
    if ((await this.tell(key)) && cached) this.repairs?.done(key)
  }

  /** After a queued removal: the key out of the cache, then the publish. */
  async removed(key: string): Promise<void> {
    const dropped = await this.dropFromCache(key)
    if ((await this.tell(key)) && dropped) this.repairs?.done(key)
  }

  private report(key: string, error: unknown): void {
    try {
      this.onEvent?.({ type: 'cache-error', key, error })
    } catch {
      // ignore
    }
  }

  private repairLater(key: string, del: boolean, error: unknown): void {
    try {
      this.repairs?.add(key, del, error)
    } catch {
      // the queue is full: it reported `repair-overflow`; the write stays acknowledged
    }
  }

  /** Deletes `key` from the cache; false when that failed (then it is queued for repair). */
  private async dropFromCache(key: string): Promise<boolean> {
    if (this.cache === undefined) return true
    try {
      await this.cache.delete(key)
      return true
    } catch (e) {
      this.report(key, e)
      try {
        await this.cache.evictLocal(key)
      } catch {
        // nothing more to do here: the repair deletes it
      }
      this.repairLater(key, true, e)
      return false
    }
  }

  /** Publishes `key` on the bus; false when that failed (then it is queued for repair). */
  private async tell(key: string): Promise<boolean> {
    if (this.bus === undefined) return true
    try {
      await this.bus.publish({ keys: [key] })
      return true
    } catch (e) {
      this.report(key, e)
      this.repairLater(key, false, e)
      return false
    }
  }
}
