import { PurgeFailedError, type PurgeFailureReason } from '@tierkit/cdn-headers'
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
  | { type: 'purged'; id: number; error?: string; result?: IpcPurgeReport }
  | { type: 'cdn'; lookups: Array<[outcome: 'hit' | 'miss' | 'stale', ms: number]> }
  /** Instance `by` applied this instance's tag invalidation at `at`: its bus latency. */
  | { type: 'bus-latency'; by: string; tags: readonly string[]; at: number }

/** A purge report over IPC: the failures' errors as their messages (an Error does not cross the channel). */
export interface IpcPurgeReport extends Omit<CdnPurgeResult, 'failed'> {
  failed: Array<{ tag: string; reason: PurgeFailureReason; message: string }>
}

/** The report of the supervisor's purge, for the channel. */
export function toIpcReport(r: CdnPurgeResult): IpcPurgeReport {
  const failed = r.failed.map((f) => ({ tag: f.tag, reason: f.reason, message: f.error.message }))
  return { ...r, failed }
}

/** The report as the instance's tags take it (each failure an `E_PURGE_FAILED` again). */
export function fromIpcReport(r: IpcPurgeReport): CdnPurgeResult {
  const failed = r.failed.map((f) => ({
    tag: f.tag,
    reason: f.reason,
    error: new PurgeFailedError(0, [f.tag], f.message, { reason: f.reason }),
  }))
  return { ...r, failed }
}
