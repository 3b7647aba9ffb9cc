/**
 * The token bucket of the Cloudflare purge client: `perSecond` tokens refill it continuously, it holds at most
 * `burst`, each request takes one; a 429 empties it and pauses it for its `Retry-After`.
 *
 * @module
 * @internal
 */
import type { PurgeRate } from './purge.js'

/** A token bucket with a pause. Waiters are served one at a time, in order (the client sends one request at a time). */
export class TokenBucket {
  readonly #perMs: number
  readonly #burst: number
  #tokens: number
  #at: number
  #pausedUntil = 0

  constructor(rate: PurgeRate) {
    this.#perMs = rate.perSecond / 1000
    this.#burst = rate.burst
    this.#tokens = rate.burst
    this.#at = Date.now()
  }

  /** Resolves once a token is taken (at once when the bucket holds one and is not paused). */
  async take(): Promise<void> {
    for (;;) {
      const now = Date.now()
      if (now >= this.#pausedUntil) {
        this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#at) * this.#perMs)
        this.#at = now
        if (this.#tokens >= 1) {
          this.#tokens -= 1
          return
        }
      }
      const wait = Math.max(this.#pausedUntil - now, Math.ceil((1 - this.#tokens) / this.#perMs), 1)
      await new Promise((resolve) => setTimeout(resolve, wait))
    }
  }

  /** Empties the bucket and sends nothing for `ms` (the account's limit was hit). */
  pause(ms: number): void {
    const until = Date.now() + ms
    if (until > this.#pausedUntil) this.#pausedUntil = until
    this.#tokens = 0
    this.#at = until
  }
}
