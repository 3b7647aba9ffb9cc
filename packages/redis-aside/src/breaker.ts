/** A small circuit breaker: opens after `threshold` consecutive failures, lets one probe through after `cooldown`. */

/** State of the Redis circuit breaker. */
export type BreakerState = 'closed' | 'open' | 'half-open'

export class Breaker {
  state: BreakerState = 'closed'
  private failures = 0
  private openUntil = 0
  private probing = false

  constructor(
    private readonly threshold: number,
    private readonly cooldown: number,
    private readonly onChange: (state: BreakerState) => void,
  ) {}

  /** Whether a Redis call may be attempted now (in half-open, only one probe at a time). */
  allow(): boolean {
    if (this.state === 'closed') return true
    if (this.state === 'open') {
      if (Date.now() < this.openUntil) return false
      this.state = 'half-open'
      this.probing = false
      this.onChange('half-open')
    }
    if (this.probing) return false
    this.probing = true
    return true
  }

  success(): void {
    this.failures = 0
    if (this.state !== 'closed') {
      this.state = 'closed'
      this.probing = false
      this.onChange('closed')
    }
  }

  failure(): void {
    this.failures++
    if (this.state === 'half-open' || (this.state === 'closed' && this.failures >= this.threshold)) {
      this.state = 'open'
      this.probing = false
      this.openUntil = Date.now() + this.cooldown
      this.onChange('open')
    }
  }
}
