import { readFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import { casesOf, TRACES, type TraceCase } from './trace-cases.js'

/**
 * Hit ratios identical to the digit: every real trace of bench/traces x 1%, 5%, 20% of its distinct keys x both
 * policies gives exactly the hit count recorded in test/fixtures/trace-hits.json (first generated with
 * the code before the policy seam was cut, regenerated for 0.3's density climber and for the miniature simulations that replaced it for caches bounded by count; regenerate it only for a
 * change meant to move hit ratios, and say so in that change).
 */
const fixture = JSON.parse(readFileSync(new URL('./fixtures/trace-hits.json', import.meta.url), 'utf8')) as {
  cases: TraceCase[]
}

describe('hit counts on the real traces are exactly those of the fixture', () => {
  test('the fixture covers every trace, capacity and policy', () => {
    expect(fixture.cases).toHaveLength(TRACES.length * 3 * 2)
    expect(new Set(fixture.cases.map((c) => c.trace))).toEqual(new Set(TRACES))
  })

  test.each(TRACES.map((t) => [t]))('%s', (trace) => {
    const want = fixture.cases.filter((c) => c.trace === trace)
    expect(want).toHaveLength(6)
    expect(casesOf(trace)).toEqual(want)
  })
})
