import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, test } from 'vitest'
import { L1Cache } from '../src/index.js'
import { TUNING } from '../src/tuning.js'
import { checkInvariants } from './helpers.js'

/** Seeded streams of integer keys: Zipf-like, recency-heavy, loop and a mix. */
function stream(kind: 'zipf' | 'recency' | 'loop' | 'mix', n: number, seed: number): number[] {
  let x = seed
  const rnd = (): number => {
    x = (Math.imul(x, 1103515245) + 12345) & 0x7fffffff
    return x / 0x80000000
  }
  const out: number[] = []
  for (let i = 0; i < n; i++) {
    const r = rnd()
    if (kind === 'zipf') out.push(Math.floor(5000 * r ** 3))
    else if (kind === 'recency') out.push(r < 0.1 ? 1_000_000 + i : Math.max(0, i - Math.floor(rnd() * 300)))
    else if (kind === 'loop') out.push(i % 1300)
    else out.push(i % 3 === 0 ? i % 700 : Math.floor(3000 * r ** 2))
  }
  return out
}

function run(fast: boolean, keys: number[], max: number) {
  const saved = TUNING.fastEvict
  TUNING.fastEvict = fast
  try {
    const evicted: number[] = []
    const cache = new L1Cache<number, number>({
      max,
      onEvent: (e) => e.type === 'evict' && e.reason === 'evict' && evicted.push(e.key),
    })
    for (const k of keys) if (cache.get(k) === undefined) cache.set(k, k)
    checkInvariants(cache)
    const { hits, misses, evictions, windowRatio } = cache.stats()
    return { hits, misses, evictions, windowRatio, order: [...cache.keys()], evicted }
  } finally {
    TUNING.fastEvict = saved
  }
}

describe('tinylfu internals', () => {
  afterEach(() => {
    TUNING.fastEvict = true
  })

  test.each([
    ['zipf', 100],
    ['zipf', 1000],
    ['recency', 200],
    ['loop', 1000],
    ['mix', 500],
  ] as const)(
    'the steady-state eviction shortcut decides exactly like the general path (%s, max %i)',
    (kind, max) => {
      const keys = stream(kind, 60_000, 7)
      const fast = run(true, keys, max)
      const general = run(false, keys, max)
      // the workload really evicts, so the shortcut was taken
      expect(general.evictions).toBeGreaterThan(1000)
      expect(fast).toEqual(general)
    },
  )

  test('a cache keeps its hidden class through filling, evictions, window moves and TTLs', () => {
    const fixture = fileURLToPath(new URL('./fixtures/hidden-class.mts', import.meta.url))
    const out = execFileSync(process.execPath, ['--allow-natives-syntax', '--import', 'tsx', fixture], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      encoding: 'utf8',
    })
    const result = JSON.parse(out.trim().split('\n').pop()!) as {
      same: boolean
      sameTtl: boolean
      sameParts: boolean
      samePartsTtl: boolean
      windowRatio: number
    }
    // the climber moved the window away from its initial 1% (to a fractional size): the case that used to
    // change the hidden class of every cache and throw their optimized code away
    expect(result.windowRatio).not.toBe(0.01)
    expect(result.same).toBe(true)
    expect(result.sameTtl).toBe(true)
    // and so do the objects it is made of (storage, policy, admission, climber, expiry, counters, loads, events)
    expect(result.sameParts).toBe(true)
    expect(result.samePartsTtl).toBe(true)
  })
})
