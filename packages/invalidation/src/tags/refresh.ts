/**
 * Who refreshes a stale tagged value: one instance across all of them while Redis answers (a claim in Redis
 * per key and stale state, `tkr:{namespace}:<key>`, kept until it expires so that instances reading the old
 * copy later do not refresh it again), and at most one per instance when Redis cannot be asked (a claim in
 * this process, kept as long).
 */
import type { TagVersions } from './versions.js'

/** How many keys' claims this process keeps at most (the oldest are forgotten first). */
const MAX_LOCAL_CLAIMS = 10_000

/** `refresh`: this caller refreshes; `mine`: this process already does (or did); `theirs`: another instance does. */
export type RefreshTurn = 'refresh' | 'mine' | 'theirs'

/** The claims of one tags object. */
export class Refresher {
  private readonly local = new Map<string, { state: string; until: number }>()
  private readonly versions: TagVersions
  private readonly claimTtl: number

  constructor(versions: TagVersions, claimTtl: number) {
    this.versions = versions
    this.claimTtl = claimTtl
  }

  /** Whose turn it is to refresh `key` in the stale `state` (a string naming the versions that made it stale). */
  async turn(key: string, state: string): Promise<RefreshTurn> {
    const now = Date.now()
    const c = this.local.get(key)
    if (c !== undefined && c.state === state && c.until > now) return 'mine'
    this.local.delete(key)
    this.local.set(key, { state, until: now + this.claimTtl })
    if (this.local.size > MAX_LOCAL_CLAIMS) {
      const oldest = this.local.keys().next()
      if (oldest.done !== true) this.local.delete(oldest.value)
    }
    try {
      return (await this.versions.claim(key, state, this.claimTtl)) ? 'refresh' : 'theirs'
    } catch {
      return 'refresh' // Redis cannot say: this instance refreshes, once (its local claim holds)
    }
  }

  /** The refresh failed (the loader threw): the claims are given back, a later read may try again. */
  failed(key: string, state: string): void {
    if (this.local.get(key)?.state === state) this.local.delete(key)
    this.versions.release(key, state).catch(() => {})
  }
}
