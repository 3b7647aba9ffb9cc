/**
 * The short fixed-seed schedule of CI, over the three topologies (single Redis, a 3-master Cluster, a primary +
 * replica under Sentinel), real processes and servers: 0 violations expected. Until the fixes of issue 15 land this
 * test fails, listing what the checker found.
 */
// the harness runs on the test kit's core; the hooks stop what a failed run left, at the end of this file
import '@tierkit/testkit/vitest'
import { describe, expect, it } from 'vitest'
import { runSuite } from '../src/suite.js'

describe('torture: the short CI schedule (seed 15)', () => {
  it('finds no violation of any invariant on single Redis, Cluster and Sentinel', async () => {
    const lines: string[] = []
    const r = await runSuite({
      seed: 15,
      topologies: ['single', 'cluster', 'sentinel'],
      log: (line) => {
        lines.push(line)
        process.stderr.write(`${line}\n`)
      },
    })
    process.stderr.write(`${r.text}\n`)
    // the checker judged real traffic on every topology, and every planned fault was injected
    for (const res of r.results) {
      expect(res.counts.reads).toBeGreaterThan(500)
      expect(res.counts.writes).toBeGreaterThan(50)
      expect(res.counts.probes).toBeGreaterThan(20)
      expect(res.counts.faults).toBe(r.schedule.plans.find((p) => p.topology === res.topology)!.faults.length)
    }
    expect(r.violations, r.text).toBe(0)
  }, 420_000)
})
