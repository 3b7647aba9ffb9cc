/** The recent-events lists of `/api/stats` (invalidations and circuit transitions), each bounded. */
import type { BreakerState } from '@tierkit/redis-aside'

/** One entry of the recent-invalidations list of `/api/stats`. */
export interface InvalidationRecord {
  /** Epoch ms. */
  at: number
  /** `local` (this instance wrote), `remote` (bus message from another instance), `cdn-purge`. */
  kind: 'local' | 'remote' | 'cdn-purge'
  /** Cache keys. */
  keys: readonly string[]
  /** Tags. */
  tags: readonly string[]
  /** Instance that wrote. */
  from: string
}

/** A circuit breaker transition of the Redis client. */
export interface CircuitRecord {
  /** Epoch ms. */
  at: number
  /** New state. */
  state: BreakerState
  /** Which read cache (each has its own breaker): `products` or `users`. */
  cache: string
}

const RECENT = 50

/** Appends `item`, dropping the oldest past the last 50. */
export function pushRecent<T>(list: T[], item: T): void {
  list.push(item)
  if (list.length > RECENT) list.shift()
}
