/**
 * The flusher's documented defaults are the code's (issue 15, defect 10b: the README said maxAttempts 5 and
 * a backoff of 100–30,000 ms while the code used 8 and 500–60,000): the README's option table is compared
 * with the defaults the code uses, and the defaults are observed on a real flusher.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it, vi } from 'vitest'
import { createFlusher, type FlusherEvent, queueKeys, writeBehind } from '../src/index.js'
import { DEFAULT_DRAIN_TIMEOUT, FLUSHER_DEFAULTS } from '../src/write-behind/config.js'
import { MemoryStore } from './helpers/memory-store.js'
import { useRedisFixture } from './helpers/redis.js'

const fx = useRedisFixture()

/** The `default` cell of the README's option table for `option` (the first cell, without the backticks). */
function documented(option: string): string {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
  const row = readme
    .split('\n')
    .map((l) => l.split('|').map((c) => c.trim()))
    .find((cells) => cells[1]?.replace(/`/g, '') === option)
  if (row === undefined) throw new Error(`no row for ${option} in the README's option table`)
  return row[2]!
}

const num = (cell: string): number => Number(cell.replace(/[`_,]/g, ''))

describe('flusher defaults', () => {
  it('the README documents the defaults the code uses', () => {
    expect(num(documented('batchSize'))).toBe(FLUSHER_DEFAULTS.batchSize)
    expect(num(documented('pollInterval'))).toBe(FLUSHER_DEFAULTS.pollInterval)
    expect(num(documented('maxAttempts'))).toBe(FLUSHER_DEFAULTS.maxAttempts)
    expect(documented('backoff')).toBe(
      `\`{ base: ${FLUSHER_DEFAULTS.backoff.base}, max: ${FLUSHER_DEFAULTS.backoff.max} }\``,
    )
    expect(num(documented('claimTimeout'))).toBe(FLUSHER_DEFAULTS.claimTimeout)
    expect(num(documented('guardTtl'))).toBe(FLUSHER_DEFAULTS.guardTtl)
    // the drain bound of close() and flush(), once only in the source
    expect(num(documented('close({ timeout }) / flush({ timeout })'))).toBe(DEFAULT_DRAIN_TIMEOUT)
    expect(DEFAULT_DRAIN_TIMEOUT).toBe(30_000)
    expect(documented('group / consumer').startsWith(`\`'${FLUSHER_DEFAULTS.group}'\``)).toBe(true)
    expect(FLUSHER_DEFAULTS).toMatchObject({ maxAttempts: 8, backoff: { base: 500, max: 60_000 } })
  })

  it('a real flusher with the default maxAttempts and backoff: dead-letters at the 8th delivery, retries the 7th after 16–32 s', async () => {
    const redis = fx.client()
    const name = 'dflt1'
    const { stream } = queueKeys(name)
    const wb = writeBehind<number>({ redis, name })
    const a = await wb.write('a', 1)
    const b = await wb.write('b', 2)
    // a consumer that crashed over and over: 'a' was delivered 7 times, 'b' 6 times (XCLAIM counts a delivery)
    await fx.admin().xgroup('CREATE', stream, 'flushers', '0')
    await fx.admin().xreadgroup('GROUP', 'flushers', 'ghost', 'COUNT', 2, 'STREAMS', stream, '>')
    for (let i = 0; i < 6; i++) await fx.admin().xclaim(stream, 'flushers', 'ghost', 0, a.id)
    for (let i = 0; i < 5; i++) await fx.admin().xclaim(stream, 'flushers', 'ghost', 0, b.id)
    const store = new MemoryStore<number>()
    store.failing = true
    const events: FlusherEvent[] = []
    // only claimTimeout is set (to take the ghost's entries over at once): maxAttempts and backoff are the defaults
    const f = createFlusher({ redis, name, store, claimTimeout: 100, onEvent: (e) => events.push(e) })
    await vi.waitFor(() => expect(events.some((e) => e.type === 'dead-letter')).toBe(true), {
      timeout: 20_000,
      interval: 20,
    })
    const dead = events.find((e) => e.type === 'dead-letter')!
    await vi.waitFor(() => expect(events.some((e) => e.type === 'retry')).toBe(true), {
      timeout: 20_000,
      interval: 20,
    })
    const retry = events.find((e) => e.type === 'retry')!
    expect(dead).toMatchObject({ key: 'a', attempts: 8 }) // the 8th delivery failed: maxAttempts 8
    expect(retry).toMatchObject({ key: 'b', attempt: 7 }) // the 7th did not: it is retried
    // base 500: delay 500 · 2^6 = 32,000 ms, jittered down to at most half
    const delay = (retry as { delay: number }).delay
    expect(delay).toBeGreaterThanOrEqual(16_000)
    expect(delay).toBeLessThanOrEqual(32_000)
    await expect(f.close({ timeout: 200 })).rejects.toMatchObject({ code: 'E_FLUSH_TIMEOUT' }) // 'b' waits for its retry
    expect(await fx.admin().xlen(stream)).toBe(1)
  })

  it('the default backoff is capped at 60,000 ms (seen with more attempts allowed)', async () => {
    const redis = fx.client()
    const name = 'dflt2'
    const { stream } = queueKeys(name)
    const wb = writeBehind<number>({ redis, name })
    const c = await wb.write('c', 3)
    await fx.admin().xgroup('CREATE', stream, 'flushers', '0')
    await fx.admin().xreadgroup('GROUP', 'flushers', 'ghost', 'COUNT', 1, 'STREAMS', stream, '>')
    for (let i = 0; i < 9; i++) await fx.admin().xclaim(stream, 'flushers', 'ghost', 0, c.id)
    const store = new MemoryStore<number>()
    store.failing = true
    const events: FlusherEvent[] = []
    const f = createFlusher({
      redis,
      name,
      store,
      claimTimeout: 100,
      maxAttempts: 20,
      onEvent: (e) => events.push(e),
    })
    await vi.waitFor(() => expect(events.some((e) => e.type === 'retry')).toBe(true), {
      timeout: 20_000,
      interval: 20,
    })
    const retry = events.find((e) => e.type === 'retry')!
    // the 11th delivery: 500 · 2^10 ms, capped at 60,000, jittered down to at most half
    expect(retry).toMatchObject({ key: 'c', attempt: 11 })
    const delay = (retry as { delay: number }).delay
    expect(delay).toBeGreaterThanOrEqual(30_000)
    expect(delay).toBeLessThanOrEqual(60_000)
    await expect(f.close({ timeout: 200 })).rejects.toMatchObject({ code: 'E_FLUSH_TIMEOUT' })
  })

  it('an entry waiting for a retry longer than claimTimeout is not taken over as if its flusher had crashed', async () => {
    const redis = fx.client()
    const name = 'dflt3'
    const wb = writeBehind<number>({ redis, name })
    const store = new MemoryStore<number>()
    store.failing = true
    const events: FlusherEvent[] = []
    // delays of 1–2 s and 2–4 s, much longer than claimTimeout: before the fix, both flushers' XAUTOCLAIM
    // took the waiting entry over after 300 ms and spent its attempts early (and twice at once)
    const options = { redis, name, store, claimTimeout: 300, maxAttempts: 3, backoff: { base: 2_000 } }
    const f1 = createFlusher({ ...options, onEvent: (e) => events.push(e) })
    await wb.write('k', 1)
    await vi.waitFor(() => expect(events.some((e) => e.type === 'retry')).toBe(true), {
      timeout: 20_000,
      interval: 20,
    })
    const f2 = createFlusher({ ...options, onEvent: (e) => events.push(e) })
    await vi.waitFor(() => expect(events.some((e) => e.type === 'dead-letter')).toBe(true), {
      timeout: 30_000,
      interval: 20,
    })
    expect(events.filter((e) => e.type === 'claimed')).toEqual([])
    expect(events.filter((e) => e.type === 'retry').map((e) => (e as { attempt: number }).attempt)).toEqual([
      1, 2,
    ])
    expect(store.saves).toBe(3)
    expect(f1.stats().claimed + f2.stats().claimed).toBe(0)
    await f2.close({ timeout: 5_000 })
    await f1.close({ timeout: 5_000 })
  })
})
