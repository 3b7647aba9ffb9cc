import fc from 'fast-check'
import { LRUCache } from 'lru-cache'
import { describe, expect, test } from 'vitest'
import { L1Cache } from '../src/index.js'
import { checkInvariants } from './helpers.js'

/** Hit flags of a get-then-set-on-miss loop. */
function hits(
  cache: { get(k: number): unknown; set(k: number, v: number): unknown },
  stream: number[],
): boolean[] {
  return stream.map((k) => {
    if (cache.get(k) !== undefined) return true
    cache.set(k, k)
    return false
  })
}

function lcg(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

describe("policy: 'lru' hits exactly like lru-cache 11", () => {
  const streams: [string, number[], number][] = []
  const r = lcg(1)
  streams.push([
    'uniform 1k keys, max 100',
    Array.from({ length: 50_000 }, () => Math.floor(r() * 1000)),
    100,
  ])
  streams.push([
    'skewed 5k keys, max 500',
    Array.from({ length: 50_000 }, () => Math.floor(5000 * r() ** 3)),
    500,
  ])
  streams.push(['loop of 101 keys, max 100', Array.from({ length: 20_000 }, (_, i) => i % 101), 100])
  streams.push(['max 1', Array.from({ length: 5000 }, () => Math.floor(r() * 3)), 1])

  test.each(streams)('%s', (_name, stream, max) => {
    const ours = new L1Cache<number, number>({ max, policy: 'lru' })
    const theirs = new LRUCache<number, number>({ max })
    expect(hits(ours, stream)).toEqual(hits(theirs, stream))
    expect([...ours.keys()]).toEqual([...theirs.keys()])
    checkInvariants(ours)
  })

  test('any stream and max (fast-check), including set/delete/has/peek in between', () => {
    const op = fc.oneof(
      fc.record({ t: fc.constant('access' as const), k: fc.integer({ min: 0, max: 30 }) }),
      fc.record({ t: fc.constant('set' as const), k: fc.integer({ min: 0, max: 30 }), v: fc.integer() }),
      fc.record({ t: fc.constant('delete' as const), k: fc.integer({ min: 0, max: 30 }) }),
      fc.record({ t: fc.constant('has' as const), k: fc.integer({ min: 0, max: 30 }) }),
      fc.record({ t: fc.constant('peek' as const), k: fc.integer({ min: 0, max: 30 }) }),
    )
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.array(op, { maxLength: 300 }), (max, ops) => {
        const ours = new L1Cache<number, number>({ max, policy: 'lru' })
        const theirs = new LRUCache<number, number>({ max })
        for (const o of ops) {
          switch (o.t) {
            case 'access': {
              const a = ours.get(o.k)
              const b = theirs.get(o.k)
              if (a !== b) return false
              if (a === undefined) {
                ours.set(o.k, o.k)
                theirs.set(o.k, o.k)
              }
              break
            }
            case 'set':
              ours.set(o.k, o.v)
              theirs.set(o.k, o.v)
              break
            case 'delete':
              if (ours.delete(o.k) !== theirs.delete(o.k)) return false
              break
            case 'has':
              if (ours.has(o.k) !== theirs.has(o.k)) return false
              break
            case 'peek':
              if (ours.peek(o.k) !== theirs.peek(o.k)) return false
              break
          }
        }
        checkInvariants(ours)
        return JSON.stringify([...ours.entries()]) === JSON.stringify([...theirs.entries()])
      }),
      { numRuns: 300 },
    )
  })
})
