/**
 * The cases of the hit-ratio identity check: every real trace in bench/traces x capacities of 1%, 5% and 20% of
 * its distinct keys x both policies, each replayed through the policy study's get-then-set-on-miss loop.
 * Shared by the fixture's generator (test/fixtures/trace-hits.gen.ts) and test/trace-identity.test.ts.
 */
import { loadTrace, TRACES, type TraceName } from '../bench/workloads.js'
import { L1Cache, type Policy } from '../src/index.js'

/** Capacities, in percent of a trace's distinct keys. */
export const PERCENTS = [1, 5, 20] as const
/** Both policies. */
export const POLICIES: readonly Policy[] = ['tinylfu', 'lru']

/** One case and its exact hit count. */
export interface TraceCase {
  trace: TraceName
  refs: number
  percent: number
  max: number
  policy: Policy
  hits: number
}

/** Hits of the get-then-set-on-miss loop over `stream` for a fresh cache of `max` entries. */
export function countHits(stream: Int32Array, max: number, policy: Policy): number {
  const cache = new L1Cache<number, number>({ max, policy })
  let hits = 0
  for (let i = 0; i < stream.length; i++) {
    const k = stream[i]!
    if (cache.get(k) !== undefined) hits++
    else cache.set(k, 1)
  }
  return hits
}

/**
 * Every case of one trace, the whole trace replayed (orm-night's 5M references included: all 48 cases take
 * about 3 s), `hits` counted with the code as it is now.
 */
export function casesOf(trace: TraceName): TraceCase[] {
  const s = loadTrace(trace)
  const d = new Set(s).size
  const out: TraceCase[] = []
  for (const percent of PERCENTS) {
    const max = Math.max(1, Math.round((d * percent) / 100))
    for (const policy of POLICIES) {
      out.push({ trace, refs: s.length, percent, max, policy, hits: countHits(s, max, policy) })
    }
  }
  return out
}

export { TRACES }
