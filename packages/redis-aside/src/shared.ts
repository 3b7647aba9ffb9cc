/**
 * What every room of the cache shares: the settings, whether the cache is closed, and the two ways it
 * reports (the observer's per-layer records, the `onEvent` listener), neither of which may break a read.
 */
import { performance } from 'node:perf_hooks'
import type { CacheLayer, CacheOutcome } from '@tierkit/contracts'
import { ValueKeys } from './keys.js'
import type { Settings } from './options.js'
import type { CacheEvent } from './types.js'

export class Shared {
  closed = false
  /** The Redis value key of a cache key (memoised, see {@link ValueKeys}). */
  readonly valueKeys: ValueKeys

  constructor(readonly settings: Settings) {
    this.valueKeys = new ValueKeys(settings.valuePrefix)
  }

  /** What `ClosedError` names. */
  get resource(): string {
    return `the cache ${JSON.stringify(this.settings.namespace)}`
  }

  /** A start time for `record`, read only when an observer listens. */
  t0(): number {
    return this.settings.observer === undefined ? 0 : performance.now()
  }

  record(layer: CacheLayer, outcome: CacheOutcome, t0: number): void {
    const observer = this.settings.observer
    if (observer === undefined) return
    try {
      observer.record(layer, outcome, performance.now() - t0)
    } catch {
      // an observer must not break the read path
    }
  }

  emit(event: CacheEvent): void {
    const onEvent = this.settings.onEvent
    if (onEvent === undefined) return
    try {
      onEvent(event)
    } catch {
      // ignore
    }
  }

  /** The TTL of a value: the call's, else `nullTtl` for `null`, else the cache's. */
  ttlFor(value: unknown, explicit: number | undefined): number {
    if (explicit !== undefined) return explicit
    if (value === null && this.settings.nullTtl !== undefined) return this.settings.nullTtl
    return this.settings.ttl
  }

  /** The cache key of a Redis key of this cache (a value's or a lock's). */
  keyOf(redisKey: string): string | undefined {
    const { valuePrefix, lockPrefix } = this.settings
    if (redisKey.startsWith(valuePrefix)) return redisKey.slice(valuePrefix.length)
    if (redisKey.startsWith(lockPrefix)) return redisKey.slice(lockPrefix.length)
    return undefined
  }
}
