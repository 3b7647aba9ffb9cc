/**
 * Internal: key hashing and the frequency sketch behind the `tinylfu` policy.
 * @internal
 */

let objectIds: WeakMap<object, number> | null = null
let nextObjectId = 1

/** 32-bit hash of any key; strings and integers are hashed by value, objects by identity. */
export function hashKey(key: unknown): number {
  if (typeof key === 'string') return hashString(key)
  if (typeof key === 'number') {
    if ((key | 0) === key) return mix(key)
    return hashString(String(key))
  }
  if ((typeof key === 'object' && key !== null) || typeof key === 'function') {
    if (objectIds === null) objectIds = new WeakMap()
    let id = objectIds.get(key)
    if (id === undefined) {
      id = nextObjectId++
      objectIds.set(key, id)
    }
    return mix(id ^ 0x5bd1e995)
  }
  return hashString(`${typeof key}:${String(key)}`)
}

/** 32-bit hash of a string (FNV-1a over at most ~96 characters, then mixed). */
export function hashString(s: string): number {
  const n = s.length
  let h = 0x811c9dc5 ^ n
  // Long keys: hash the first and last 32 characters and a sample of the middle (bounded cost per miss).
  if (n <= 64) {
    let i = 0
    // four characters a round (the same sequence of steps, fewer loop checks)
    for (; i + 4 <= n; i += 4) {
      h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
      h = Math.imul(h ^ s.charCodeAt(i + 1), 0x01000193)
      h = Math.imul(h ^ s.charCodeAt(i + 2), 0x01000193)
      h = Math.imul(h ^ s.charCodeAt(i + 3), 0x01000193)
    }
    for (; i < n; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  } else {
    for (let i = 0; i < 32; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
    const step = ((n - 64) >>> 5) + 1
    for (let i = 32; i < n - 32; i += step) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
    for (let i = n - 32; i < n; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  }
  return mix(h)
}

function mix(h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h
}

/**
 * Count-min sketch of 4-bit counters (8 per 32-bit word), depth 4, with periodic halving done by the owner.
 * In this cache it remembers the access frequency of keys that are *not* resident (residents keep an exact
 * 4-bit counter in their slot), so it can be small.
 * @internal
 */
export class FrequencySketch {
  table: Uint32Array
  mask: number

  constructor(counters: number) {
    const words = Math.max(8, nextPow2(Math.ceil(counters / 8)))
    this.table = new Uint32Array(words)
    this.mask = words * 8 - 1
  }

  /**
   * Adds one to the key's smallest counters (conservative update, saturating at 15) and returns the new
   * estimate. Conservative update keeps the many one-time keys from inflating everyone's estimate.
   */
  increment(h: number): number {
    const t = this.table
    const m = this.mask
    // SEED0..SEED3 written as literals: constants in the compiled hot path
    const i0 = row(h, 0x97cb3127) & m
    const i1 = row(h, 0x2a4f7d1b) & m
    const i2 = row(h, 0x6c1a9e55) & m
    const i3 = row(h, 0xd3b2c4e9) & m
    const c0 = (t[i0 >>> 3]! >>> ((i0 & 7) << 2)) & 15
    const c1 = (t[i1 >>> 3]! >>> ((i1 & 7) << 2)) & 15
    const c2 = (t[i2 >>> 3]! >>> ((i2 & 7) << 2)) & 15
    const c3 = (t[i3 >>> 3]! >>> ((i3 & 7) << 2)) & 15
    const min = Math.min(c0, c1, c2, c3)
    if (min === 15) return 15
    if (c0 === min) t[i0 >>> 3] = t[i0 >>> 3]! + (1 << ((i0 & 7) << 2))
    if (c1 === min) t[i1 >>> 3] = t[i1 >>> 3]! + (1 << ((i1 & 7) << 2))
    if (c2 === min) t[i2 >>> 3] = t[i2 >>> 3]! + (1 << ((i2 & 7) << 2))
    if (c3 === min) t[i3 >>> 3] = t[i3 >>> 3]! + (1 << ((i3 & 7) << 2))
    return min + 1
  }

  /** Estimated frequency of the key (0..15). */
  estimate(h: number): number {
    const t = this.table
    const m = this.mask
    let min = 15
    for (let i = 0; i < 4; i++) {
      const idx = index(h, i) & m
      const c = (t[idx >>> 3]! >>> ((idx & 7) << 2)) & 15
      if (c < min) min = c
    }
    return min
  }

  /** Raises each of the key's counters to at least `f` (remembering an evicted resident's frequency). */
  raiseTo(h: number, f: number): void {
    const t = this.table
    const m = this.mask
    for (let i = 0; i < 4; i++) {
      const idx = index(h, i) & m
      const w = idx >>> 3
      const shift = (idx & 7) << 2
      const c = (t[w]! >>> shift) & 15
      if (c < f) t[w] = (t[w]! & ~(15 << shift)) | (f << shift)
    }
  }

  /** Halves every counter (ageing). */
  halve(): void {
    const t = this.table
    for (let i = 0; i < t.length; i++) t[i] = (t[i]! >>> 1) & 0x77777777
  }
}

/** Counter index of row `i` (0-3) for hash `h`, before masking. */
function index(h: number, i: number): number {
  return row(h, i === 0 ? SEED0 : i === 1 ? SEED1 : i === 2 ? SEED2 : SEED3)
}

/** One row's index: callers pass the seed as a literal constant, so the compiled code folds it in. */
function row(h: number, seed: number): number {
  const x = Math.imul(h ^ seed, 0x9e3779b1)
  return x ^ (x >>> 15)
}

const SEED0 = 0x97cb3127
const SEED1 = 0x2a4f7d1b
const SEED2 = 0x6c1a9e55
const SEED3 = 0xd3b2c4e9

/** Smallest power of two >= n (n >= 1). */
export function nextPow2(n: number): number {
  let p = 1
  while (p < n) p *= 2
  return p
}
