/**
 * Internal: the struct-of-arrays storage of an `L1Cache`. An entry is a slot index into parallel arrays (key,
 * value, links, policy byte, weight, expiry): no object per entry. Slots below {@link FIRST} are the heads of
 * circular doubly linked lists (the policy's segments); freed slots form a free list through `next`.
 * @internal
 */

import { nextPow2 } from './sketch.js'

/** Number of list heads (slots 0, 1, 2): every storage has them, whatever the policy uses. */
export const FIRST = 3
/** Slots a new (or cleared) storage starts with, heads included. */
const INITIAL_SLOTS = 16

/** Storage of the entries; the cache, its policy and its expiry sweeps work on the same instance. */
export class SlotStore<K, V> {
  map: Map<K, number> = new Map()
  keyList: (K | undefined)[]
  valList: (V | undefined)[]
  next: Uint32Array
  prev: Uint32Array
  /** The policy's byte per slot (segment and frequency), `null` for a policy that keeps none. */
  meta: Uint8Array | null
  /** Weight per slot, only for weight-bounded caches. */
  sizes: Float64Array | null
  /** Expiry time per slot (0: none), allocated with the first TTL. */
  exp: Float64Array | null = null
  slotCap: number
  readonly maxSlots: number
  top: number = FIRST
  freeHead = 0
  count = 0
  weight = 0
  /** Slots with an expiry time. */
  ttlCount = 0

  constructor(max: number, hasMeta: boolean, weighted: boolean) {
    this.maxSlots = max > 0 && max < 0x7ffffff0 ? max + FIRST + 1 : 0x7fffffff
    this.slotCap = Math.min(INITIAL_SLOTS + FIRST, this.maxSlots)
    this.keyList = filled(this.slotCap)
    this.valList = filled(this.slotCap)
    this.next = new Uint32Array(this.slotCap)
    this.prev = new Uint32Array(this.slotCap)
    this.meta = hasMeta ? new Uint8Array(this.slotCap) : null
    this.sizes = weighted ? new Float64Array(this.slotCap) : null
    this.initHeads()
  }

  private initHeads(): void {
    for (let h = 0; h < FIRST; h++) {
      this.next[h] = h
      this.prev[h] = h
    }
  }

  /** Moves slot `i` to the most recent end of list `head`. */
  toTail(head: number, i: number): void {
    const next = this.next
    const prev = this.prev
    const t = prev[head]!
    if (t === i) return
    const n = next[i]!
    const p = prev[i]!
    next[p] = n
    prev[n] = p
    next[t] = i
    prev[i] = t
    next[i] = head
    prev[head] = i
  }

  unlink(i: number): void {
    const n = this.next[i]!
    const p = this.prev[i]!
    this.next[p] = n
    this.prev[n] = p
  }

  /** Links slot `i` at the most recent end of list `head`. */
  append(head: number, i: number): void {
    const t = this.prev[head]!
    this.next[t] = i
    this.prev[i] = t
    this.next[i] = head
    this.prev[head] = i
  }

  weightOf(slot: number): number {
    return this.sizes === null ? 1 : this.sizes[slot]!
  }

  /** A free slot (from the free list, else a new one, growing the arrays). @returns whether it grew, as `slotCap` */
  alloc(): number {
    const s = this.freeHead
    if (s !== 0) {
      this.freeHead = this.next[s]!
      return s
    }
    if (this.top === this.slotCap) this.resize(Math.min(this.slotCap * 2, this.maxSlots))
    return this.top++
  }

  /** Returns an unlinked slot to the free list. */
  free(slot: number): void {
    this.keyList[slot] = undefined
    this.valList[slot] = undefined
    this.next[slot] = this.freeHead
    this.freeHead = slot
  }

  /** Grows every array to exactly `cap` slots. */
  resize(cap: number): void {
    // grow the plain arrays to exactly `cap` (concat allocates the exact length; push would over-allocate)
    this.keyList = this.keyList.concat(filled(cap - this.keyList.length))
    this.valList = this.valList.concat(filled(cap - this.valList.length))
    const used = this.slotCap
    this.next = resized(this.next, cap, used)
    this.prev = resized(this.prev, cap, used)
    if (this.meta !== null) this.meta = resized(this.meta, cap, used)
    if (this.sizes !== null) this.sizes = resized(this.sizes, cap, used)
    if (this.exp !== null) this.exp = resized(this.exp, cap, used)
    this.slotCap = cap
  }

  /** Drops every entry and goes back to the initial allocation (the expiry array is released). */
  reset(): void {
    this.map = new Map()
    this.slotCap = Math.min(INITIAL_SLOTS + FIRST, this.maxSlots)
    this.keyList = filled(this.slotCap)
    this.valList = filled(this.slotCap)
    this.next = new Uint32Array(this.slotCap)
    this.prev = new Uint32Array(this.slotCap)
    this.initHeads()
    if (this.meta !== null) this.meta = new Uint8Array(this.slotCap)
    if (this.sizes !== null) this.sizes = new Float64Array(this.slotCap)
    this.exp = null
    this.top = FIRST
    this.freeHead = 0
    this.count = 0
    this.weight = 0
    this.ttlCount = 0
  }

  /** Slots of the lists `heads`, in turn, each most recent first. */
  order(heads: readonly number[]): number[] {
    const out: number[] = []
    for (const h of heads) {
      for (let s = this.prev[h]!; s !== h; s = this.prev[s]!) out.push(s)
    }
    return out
  }

  /**
   * Compacts the storage when at most a quarter of it is in use, keeping each list and its order.
   * @returns true if it compacted (slot numbers changed)
   */
  shrink(heads: readonly number[]): boolean {
    const used = this.count + FIRST
    if (this.slotCap <= INITIAL_SLOTS + FIRST || used * 4 > this.slotCap) return false
    const cap = Math.min(Math.max(INITIAL_SLOTS + FIRST, nextPow2(used * 2)), this.maxSlots)
    const order = this.order(heads)
    // list of each slot in order, to relink into the same lists
    const listOf: number[] = []
    for (const h of heads) for (let s = this.prev[h]!; s !== h; s = this.prev[s]!) listOf.push(h)
    const old = { keys: this.keyList, vals: this.valList, meta: this.meta, sizes: this.sizes, exp: this.exp }
    this.keyList = filled(cap)
    this.valList = filled(cap)
    this.next = new Uint32Array(cap)
    this.prev = new Uint32Array(cap)
    this.initHeads()
    this.meta = old.meta === null ? null : new Uint8Array(cap)
    this.sizes = old.sizes === null ? null : new Float64Array(cap)
    this.exp = old.exp === null ? null : new Float64Array(cap)
    this.slotCap = cap
    this.top = FIRST
    this.freeHead = 0
    // order lists each list most recent first: prepend at the head to keep the order
    for (let i = 0; i < order.length; i++) {
      const from = order[i]!
      const s = this.top++
      const key = old.keys[from] as K
      this.keyList[s] = key
      this.valList[s] = old.vals[from]
      this.map.set(key, s)
      if (this.meta !== null) this.meta[s] = old.meta![from]!
      if (this.sizes !== null) this.sizes[s] = old.sizes![from]!
      if (this.exp !== null) this.exp[s] = old.exp![from]!
      const h = listOf[i]!
      const first = this.next[h]!
      this.prev[first] = s
      this.next[s] = first
      this.prev[s] = h
      this.next[h] = s
    }
    return true
  }
}

/** A typed array of length `cap` holding the first `min(cap, used)` elements of `a`. */
function resized<T extends Uint32Array | Uint8Array | Float64Array>(a: T, cap: number, used: number): T {
  const b = new (a.constructor as new (length: number) => T)(cap)
  b.set(a.subarray(0, Math.min(cap, used)))
  return b
}

/** A dense array of `n` undefined values, allocated at exactly that length. */
function filled<T>(n: number): (T | undefined)[] {
  if (n <= 0) return []
  if (n <= 50_000) return new Array<T | undefined>(n).fill(undefined)
  const out: (T | undefined)[] = []
  for (let i = 0; i < n; i++) out.push(undefined)
  return out
}
