import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { coarseNow } from '../src/index.js'

describe('coarseNow', () => {
  it('is the wall clock, reused for at most 32 calls, and read again after the loop turns for ~1 ms', async () => {
    await sleep(5) // whatever an earlier reading left is dropped
    const before = Date.now()
    const first = coarseNow()
    expect(first).toBeGreaterThanOrEqual(before)
    expect(first).toBeLessThanOrEqual(Date.now())
    // the next 31 calls answer the same reading, however long they take
    const next = Array.from({ length: 31 }, () => coarseNow())
    expect(new Set(next)).toEqual(new Set([first]))
    // after the timer dropped it, a new reading: the clock moved on by the wait
    await sleep(20)
    const later = coarseNow()
    expect(later).toBeGreaterThanOrEqual(first + 15)
    // 32 calls used up a reading: the 33rd reads the clock again (equal or later, never earlier)
    const burst = Array.from({ length: 40 }, () => coarseNow())
    expect(burst.every((t, i) => i === 0 || t >= burst[i - 1]!)).toBe(true)
    expect(burst[0]).toBe(later)
  })
})
