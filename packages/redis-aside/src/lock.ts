/**
 * The distributed stampede lock (`lock.distributed`): a lease in Redis under the key's lock key, taken by one
 * process (ACQUIRE), renewed while its loader runs (RENEW), released by token (RELEASE), and taken over from
 * a holder that stopped renewing it. A lease whose acquisition or release got no reply may still be ours: it
 * is remembered as an orphan, re-acquired with its token, and its release retried. The Lua is in scripts.ts.
 */
import { randomUUID } from 'node:crypto'
import { isReplyError, type L2 } from './l2.js'
import { ACQUIRE, RELEASE, RENEW } from './scripts.js'
import type { Shared } from './shared.js'

/** A lease this process holds: its lock key and token. */
export interface HeldLock {
  lockKey: string
  token: string
}

export class DistributedLock {
  private readonly renewals = new Set<NodeJS.Timeout>()
  /** Lock keys this process may still hold after a lost reply → their token (reused, then released). */
  private readonly orphans = new Map<string, string>()
  private readonly releaseRetries = new Set<NodeJS.Timeout>()

  constructor(
    private readonly shared: Shared,
    private readonly l2: L2,
  ) {}

  /** The Redis key of the lock of cache key `key`. */
  lockKey(key: string): string {
    return this.shared.settings.lockPrefix + key
  }

  /**
   * The token to acquire `lockKey` with: a lock this process may still hold (an earlier acquisition or
   * release whose reply was lost) is re-acquired with its token rather than waited on.
   */
  tokenFor(lockKey: string): string {
    return this.orphans.get(lockKey) ?? randomUUID()
  }

  /**
   * One attempt at the lease (see ACQUIRE): 1 acquired (or already ours), 2 taken over from a holder that
   * stopped renewing, 0 held by a live holder.
   */
  acquire(lockKey: string, token: string): Promise<number> {
    const { lease, takeoverBelow } = this.shared.settings.lock
    return this.l2.script(ACQUIRE, lockKey, [token, lease, takeoverBelow], 'lock') as Promise<number>
  }

  /** The lease was acquired with `token`: it is no longer an orphan. */
  claimed(lockKey: string, token: string): void {
    if (this.orphans.get(lockKey) === token) this.orphans.delete(lockKey)
  }

  /** Renews the lease every `renewEvery` ms until `until` settles, then releases it. */
  hold(held: HeldLock, until: Promise<unknown>): void {
    const { lockKey, token } = held
    const { lease, renewEvery } = this.shared.settings.lock
    const renew = setInterval(() => {
      this.l2.script(RENEW, lockKey, [token, lease], 'lock-renew').catch(() => {})
    }, renewEvery)
    renew.unref()
    this.renewals.add(renew)
    const release = (): void => {
      clearInterval(renew)
      this.renewals.delete(renew)
      this.release(lockKey, token)
    }
    until.then(release, release)
  }

  /**
   * Releases a lease by token (compare-and-delete). When the reply is lost the lock may still be there:
   * it is remembered as ours (a later acquisition of the key here reuses the token) and the release is
   * retried until it is answered or the lease has run out anyway.
   */
  release(lockKey: string, token: string): void {
    const { lease, renewEvery } = this.shared.settings.lock
    const until = Date.now() + lease
    const attempt = (): void => {
      this.l2.script(RELEASE, lockKey, [token], 'lock-release', true).then(
        () => this.claimed(lockKey, token),
        (err: unknown) => {
          if (isReplyError(err) || Date.now() >= until) {
            this.claimed(lockKey, token)
            return
          }
          this.orphans.set(lockKey, token)
          const retry = setTimeout(
            () => {
              this.releaseRetries.delete(retry)
              // re-acquired meanwhile by a new flight of this process: that flight releases it
              if (this.orphans.get(lockKey) === token) attempt()
            },
            Math.max(1, Math.min(250, renewEvery)),
          )
          retry.unref()
          this.releaseRetries.add(retry)
        },
      )
    }
    attempt()
  }

  /** At `close()`: stops renewing and retrying, and makes one last try for the orphans. */
  close(): void {
    for (const timer of this.renewals) clearInterval(timer)
    for (const timer of this.releaseRetries) clearTimeout(timer)
    // one last try for the locks whose release was not answered (they expire after their lease anyway)
    for (const [lockKey, token] of this.orphans) {
      this.l2.script(RELEASE, lockKey, [token], 'lock-release', true).catch(() => {})
    }
    this.orphans.clear()
  }
}
