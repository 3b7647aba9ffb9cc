/** Key streams for the benchmarks: Zipf, synthetic recency-heavy and shifting workloads, and real traces. */
import { readFileSync } from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { brotliDecompressSync, gunzipSync } from 'node:zlib'
import { seeded, zipf as zipfSampler } from '@tierkit/testkit/random'

const here = path.dirname(fileURLToPath(import.meta.url))
/** Where the real traces live: bench/traces of this package (origin, format and licences in its README.md). */
export const tracesDir: string = path.resolve(here, 'traces')

/** The real traces in bench/traces: the LIRS set (gzip text) and cache2k's (brotli, big-endian int32). */
export const TRACES = ['loop', 'multi1', 'gli', 'web07', 'web12', 'orm-night', 'zigzag', 'scan'] as const
/** Name of a real trace in bench/traces. */
export type TraceName = (typeof TRACES)[number]
const BINARY: ReadonlySet<TraceName> = new Set<TraceName>(['web07', 'web12', 'orm-night'])

/** Deterministic PRNG (mulberry32) returning floats in [0, 1): the workspace's one, re-exported. */
export const rng: (seed: number) => () => number = seeded

/** `count` ranks in [0, n) drawn from Zipf(alpha); rank 0 is the most popular. Keys are shuffled ids. */
export function zipf(n: number, alpha: number, count: number, seed = 1): Int32Array {
  // random permutation so popularity is not correlated with the key's value
  const r = rng(seed)
  const perm = new Int32Array(n)
  for (let i = 0; i < n; i++) perm[i] = i
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1))
    const t = perm[i]!
    perm[i] = perm[j]!
    perm[j] = t
  }
  // then the draws, from the same generator
  const rank = zipfSampler(n, alpha, r)
  const out = new Int32Array(count)
  for (let k = 0; k < count; k++) out[k] = perm[rank() - 1]!
  return out
}

/**
 * Recency-heavy stream (LRU's best case): each access reuses a key at a small stack distance (geometric, mean
 * `meanDepth`) of the recent history, or, with probability `pNew`, touches a brand-new key. Frequency carries
 * little information here; recency carries most of it.
 */
export function recencyHeavy(count: number, meanDepth: number, pNew: number, seed = 7): Int32Array {
  const r = rng(seed)
  const out = new Int32Array(count)
  let nextKey = 0
  for (let k = 0; k < count; k++) {
    if (k === 0 || r() < pNew) {
      out[k] = nextKey++
    } else {
      const d = Math.min(k, 1 + Math.floor(-Math.log(1 - r()) * meanDepth))
      out[k] = out[k - d]!
    }
  }
  return out
}

/**
 * Shifting working set: Zipf(alpha) over `n` keys, but the whole key space moves to fresh keys every `phase`
 * accesses (yesterday's popular keys become useless). Stale frequency must not keep them resident.
 */
export function shifting(n: number, alpha: number, phase: number, count: number, seed = 3): Int32Array {
  const base = zipf(n, alpha, count, seed)
  const out = new Int32Array(count)
  for (let k = 0; k < count; k++) out[k] = base[k]! + Math.floor(k / phase) * n
  return out
}

/**
 * Loads a trace from bench/traces as integer keys: `<name>.trace.br` (brotli over big-endian signed 32-bit
 * integers, cache2k's format re-compressed) or `<name>.trace.gz` (gzip text, one integer key a line).
 */
export function loadTrace(name: TraceName): Int32Array {
  if (BINARY.has(name)) {
    const buf = brotliDecompressSync(readFileSync(path.join(tracesDir, `${name}.trace.br`)))
    const out = new Int32Array(buf.length >>> 2)
    for (let i = 0; i < out.length; i++) out[i] = buf.readInt32BE(i * 4)
    return out
  }
  const text = gunzipSync(readFileSync(path.join(tracesDir, `${name}.trace.gz`))).toString('utf8')
  const lines = text.split('\n')
  const out: number[] = []
  for (const l of lines) {
    const t = l.trim()
    if (t !== '') out.push(Number.parseInt(t, 10))
  }
  return Int32Array.from(out)
}

/** Number of distinct keys in a stream. */
export function distinct(stream: Int32Array): number {
  return new Set(stream).size
}

/** Minimal cache surface used by the hit-ratio runs. */
export interface SimCache {
  get(k: number): unknown
  set(k: number, v: unknown): unknown
}

/** Hit ratio (percent) of a get-then-set-on-miss loop. */
export function hitRatio(cache: SimCache, stream: Int32Array): number {
  let hits = 0
  for (let i = 0; i < stream.length; i++) {
    const k = stream[i]!
    if (cache.get(k) !== undefined) hits++
    else cache.set(k, 1)
  }
  return (100 * hits) / stream.length
}

/** Belady's OPT hit ratio (percent) for a stream and capacity (offline, evicts the farthest next use). */
export function optHitRatio(stream: Int32Array, capacity: number): number {
  const n = stream.length
  const nextUse = new Int32Array(n)
  const last = new Map<number, number>()
  for (let i = n - 1; i >= 0; i--) {
    const k = stream[i]!
    nextUse[i] = last.get(k) ?? n + i
    last.set(k, i)
  }
  // max-heap of [nextUse, key] with lazy deletion
  const resident = new Map<number, number>()
  const heapT: number[] = []
  const heapK: number[] = []
  const push = (t: number, k: number): void => {
    let i = heapT.length
    heapT.push(t)
    heapK.push(k)
    while (i > 0) {
      const p = (i - 1) >> 1
      if (heapT[p]! >= heapT[i]!) break
      ;[heapT[p], heapT[i]] = [heapT[i]!, heapT[p]!]
      ;[heapK[p], heapK[i]] = [heapK[i]!, heapK[p]!]
      i = p
    }
  }
  const pop = (): [number, number] => {
    const t = heapT[0]!
    const k = heapK[0]!
    const lt = heapT.pop()!
    const lk = heapK.pop()!
    if (heapT.length > 0) {
      heapT[0] = lt
      heapK[0] = lk
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < heapT.length && heapT[l]! > heapT[m]!) m = l
        if (r < heapT.length && heapT[r]! > heapT[m]!) m = r
        if (m === i) break
        ;[heapT[m], heapT[i]] = [heapT[i]!, heapT[m]!]
        ;[heapK[m], heapK[i]] = [heapK[i]!, heapK[m]!]
        i = m
      }
    }
    return [t, k]
  }
  let hits = 0
  for (let i = 0; i < n; i++) {
    const k = stream[i]!
    if (resident.has(k)) {
      hits++
    } else if (resident.size >= capacity) {
      for (;;) {
        const [t, v] = pop()
        if (resident.get(v) === t) {
          resident.delete(v)
          break
        }
      }
    }
    resident.set(k, nextUse[i]!)
    push(nextUse[i]!, k)
  }
  return (100 * hits) / n
}

/** Loop over `n` keys, `count` accesses: larger than the cache, LRU never hits, any fixed subset does. */
export function loopOver(n: number, count: number): Int32Array {
  const out = new Int32Array(count)
  for (let k = 0; k < count; k++) out[k] = k % n
  return out
}

/**
 * Zipf(alpha) over `n` hot keys with one-time scans: every `every` accesses, `length` never-seen keys in a row.
 * A scan-resistant policy keeps the hot keys through the scans; LRU flushes them.
 */
export function zipfWithScans(
  n: number,
  alpha: number,
  count: number,
  every: number,
  length: number,
  seed = 11,
): Int32Array {
  const base = zipf(n, alpha, count, seed)
  const out = new Int32Array(count)
  let fresh = n
  let j = 0
  for (let k = 0; k < count; k++) {
    const inScan = k % every >= every - length
    out[k] = inScan ? fresh++ : base[j++]!
  }
  return out
}

/**
 * Recency bursts over a popular background: Zipf(alpha) over `n` keys, and bursts (`pBurst` of the accesses)
 * that touch a fresh key and re-touch it a few times within `spread` accesses. The burst keys are worth
 * keeping only for a short while: recency, not frequency, catches them.
 */
export function recencyBursts(
  n: number,
  alpha: number,
  count: number,
  pBurst: number,
  spread: number,
  seed = 13,
): Int32Array {
  const r = rng(seed + 1)
  const base = zipf(n, alpha, count, seed)
  const out = new Int32Array(count).fill(-1)
  let fresh = n
  let j = 0
  for (let k = 0; k < count; k++) {
    if (out[k] !== -1) continue
    if (r() < pBurst) {
      const key = fresh++
      out[k] = key
      // re-touch it 1-3 times at short distances (free positions only)
      const times = 1 + Math.floor(r() * 3)
      let at = k
      for (let t = 0; t < times; t++) {
        at += 1 + Math.floor(r() * spread)
        while (at < count && out[at] !== -1) at++
        if (at < count) out[at] = key
      }
    } else out[k] = base[j++]!
  }
  return out
}

/**
 * Phase changes: `phases` phases of `phaseLength` accesses, cycling through recency-heavy traffic, a loop
 * over `loopKeys` keys and a Zipf(0.9) hot set, each over fresh keys: the best window moves at every phase.
 */
export function phaseChanges(phases: number, phaseLength: number, loopKeys: number, seed = 17): Int32Array {
  const out = new Int32Array(phases * phaseLength)
  for (let p = 0; p < phases; p++) {
    const offset = (p + 1) * 10_000_000
    const kind = p % 3
    const part =
      kind === 0
        ? recencyHeavy(phaseLength, loopKeys / 4, 0.1, seed + p)
        : kind === 1
          ? loopOver(loopKeys, phaseLength)
          : zipf(loopKeys * 20, 0.9, phaseLength, seed + p)
    for (let k = 0; k < phaseLength; k++) out[p * phaseLength + k] = part[k]! + offset
  }
  return out
}
