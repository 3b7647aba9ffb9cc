import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { testL1Store, testStore } from '../src/testing.js'
import { memoryStore } from './fixtures/stores.js'

// the suites against implementations that keep the contract: they pass
testStore('the reference memory store', () => memoryStore())
let now = 0
testL1Store('a Map with a clock', () => {
  now = 0
  const m = new Map<string, { v: unknown; until: number }>()
  return {
    l1: {
      get: (k: string) => {
        const e = m.get(k)
        return e === undefined || e.until <= now ? undefined : e.v
      },
      set: (k: string, v: unknown, o?: { ttl?: number }) =>
        void m.set(k, { v, until: now + (o?.ttl ?? 1e12) }),
      delete: (k: string) => void m.delete(k),
      clear: () => m.clear(),
    },
    advance: (ms: number) => {
      now += ms
    },
  }
})

// ... and against implementations that break it: they must fail, naming the broken rules
const dir = mkdtempSync(join(tmpdir(), 'tierkit-contracts-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('the contract suites can fail', () => {
  it('report the broken rules of a last-write-wins store, a store that forgets removals and a lossy L1', () => {
    const vitest = join(dirname(createRequire(import.meta.url).resolve('vitest/package.json')), 'vitest.mjs')
    const out = join(dir, 'report.json')
    const r = spawnSync(
      process.execPath,
      [vitest, 'run', '--config', 'test/fixtures/broken.config.ts', '--reporter=json', `--outputFile=${out}`],
      { cwd: join(import.meta.dirname, '..'), encoding: 'utf8', env: { ...process.env, CI: '1' } },
    )
    expect(r.status).toBe(1)
    const report = JSON.parse(readFileSync(out, 'utf8')) as {
      testResults: Array<{ assertionResults: Array<{ fullName: string; status: string }> }>
    }
    const failed = report.testResults
      .flatMap((f) => f.assertionResults)
      .filter((a) => a.status === 'failed')
      .map((a) => a.fullName)
      .sort()
    expect(failed).toEqual([
      'L1Store contract: drops falsy values and never expires an entry set with a ttl is gone once the ttl has passed (when the clock can be advanced)',
      'L1Store contract: drops falsy values and never expires returns what was set, falsy values included, and undefined for an absent key',
      'Store contract: forgets the version of a removal a versioned remove keeps its version: an older save after it does not bring the key back',
      'Store contract: last write wins a versioned remove keeps its version: an older save after it does not bring the key back',
      'Store contract: last write wins a versioned save applies only above the version held: lower and equal versions are skipped',
    ])
  })
})
