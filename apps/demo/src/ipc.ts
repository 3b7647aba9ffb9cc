import type { CdnPurgeMode, CdnPurgeResult } from './cdn-log.js'

/** The IPC channel between the supervisor (`--instances N`) and the instances it forks. */

/** Set in the environment of the instances the supervisor forks. */
export const CHILD_ENV = 'TIERKIT_DEMO_INSTANCE'

/** Messages from an instance. */
export type ToSupervisor =
  | { type: 'ready'; url: string; pid: number }
  | { type: 'purge'; id: number; tags: readonly string[]; mode: CdnPurgeMode }
  /** The bus applied instance `from`'s tag invalidation here (`by`) at `at` (epoch ms, fractional). */
  | { type: 'evicted'; from: string; by: string; tags: readonly string[]; at: number }

/** Messages to an instance. */
export type ToInstance =
  | { type: 'purged'; id: number; error?: string; result?: CdnPurgeResult }
  | { type: 'cdn'; lookups: Array<[outcome: 'hit' | 'miss' | 'stale', ms: number]> }
  /** Instance `by` applied this instance's tag invalidation at `at`: its bus latency. */
  | { type: 'bus-latency'; by: string; tags: readonly string[]; at: number }
