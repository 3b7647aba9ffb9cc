import { TierkitTypeError } from '@tierkit/contracts'
import { expect } from 'vitest'

/** Any L1Cache instance (the helpers only read its internals). */
type Sized = { readonly max: number; readonly maxSize: number }

interface Store {
  map: Map<unknown, number>
  keyList: unknown[]
  valList: unknown[]
  next: Uint32Array
  prev: Uint32Array
  meta: Uint8Array | null
  sizes: Float64Array | null
  exp: Float64Array | null
  slotCap: number
  top: number
  freeHead: number
  count: number
  weight: number
  ttlCount: number
}

interface Internals {
  /** the storage (src/slots.ts) */
  store: Store
  /** the eviction policy (src/policy.ts): the W-TinyLFU one has segment weights */
  evictor: { heads: readonly number[]; windowWeight?: number; protectedWeight?: number }
  policy: 'lru' | 'tinylfu'
}

/** Allocated slots of the cache's storage (to show that memory falls back). */
export function allocatedSlots(cache: Sized): number {
  return (cache as unknown as Internals).store.slotCap
}

/** Checks every internal invariant of a cache: lists, map, counts, weights, free list. */
export function checkInvariants(cache: Sized): void {
  const internals = cache as unknown as Internals
  const c = internals.store
  const lru = internals.policy === 'lru'
  const heads = lru ? [0] : [0, 1, 2]
  const seen = new Set<number>()
  let weight = 0
  let win = 0
  let prot = 0
  let ttl = 0
  for (const h of heads) {
    let guard = 0
    for (let s = c.next[h]!; s !== h; s = c.next[s]!) {
      expect(++guard).toBeLessThanOrEqual(c.count)
      expect(c.prev[c.next[s]!]).toBe(s)
      expect(seen.has(s)).toBe(false)
      seen.add(s)
      const key = c.keyList[s]
      expect(c.map.get(key)).toBe(s)
      expect(c.valList[s]).not.toBe(undefined)
      const w = c.sizes === null ? 1 : c.sizes[s]!
      weight += w
      if (c.meta !== null) {
        const q = (c.meta[s]! >>> 4) & 3
        expect(q).toBe(h)
        if (q === 0) win += w
        if (q === 2) prot += w
      }
      if (c.exp !== null && c.exp[s] !== 0) ttl++
    }
  }
  expect(seen.size).toBe(c.count)
  expect(c.map.size).toBe(c.count)
  expect(c.weight).toBeCloseTo(weight, 6)
  expect(c.ttlCount).toBe(ttl)
  if (!lru) {
    expect(internals.evictor.windowWeight).toBeCloseTo(win, 6)
    expect(internals.evictor.protectedWeight).toBeCloseTo(prot, 6)
  }
  // free list: disjoint from the live slots, every slot below `top` is live or free
  let free = 0
  for (let s = c.freeHead; s !== 0; s = c.next[s]!) {
    expect(seen.has(s)).toBe(false)
    expect(c.valList[s]).toBe(undefined)
    free++
    expect(free).toBeLessThanOrEqual(c.slotCap)
  }
  expect(free + c.count).toBe(c.top - 3)
  if (cache.max > 0) expect(c.count).toBeLessThanOrEqual(cache.max)
  if (cache.maxSize > 0) expect(c.weight).toBeLessThanOrEqual(cache.maxSize + 1e-9)
}

/** A manual clock for TTL tests. */
export function manualClock(start = 1000): { now: () => number; advance: (ms: number) => void } {
  let t = start
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms
    },
  }
}

/** Calls `fn` and returns the TierkitTypeError it threw (fails the test if it threw nothing or something else). */
export function typeError(fn: () => unknown): TierkitTypeError {
  let thrown: unknown
  try {
    fn()
  } catch (e) {
    thrown = e
  }
  expect(thrown).toBeInstanceOf(TierkitTypeError)
  return thrown as TierkitTypeError
}

/** What `promise` rejected with (fails the test if it resolved). */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  const settled = await Promise.allSettled([promise])
  const r = settled[0]!
  expect(r.status).toBe('rejected')
  return r.status === 'rejected' ? r.reason : undefined
}

/** A promise with its resolve and reject functions. */
export function deferred<T>(): {
  promise: Promise<T>
  resolve: (v: T) => void
  reject: (e: unknown) => void
} {
  let resolve!: (v: T) => void
  let reject!: (e: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}
