import { TierkitTypeError } from '@tierkit/contracts'
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { EntryTooLargeError, InvalidSizeError, L1Cache } from '../src/index.js'
import { checkInvariants } from './helpers.js'

/**
 * Model-based property test. The reference model is a plain Map of the last value successfully stored under
 * each key (entries may be missing from the cache because of eviction or expiry, never different). After
 * every operation, including every failing one:
 * - the internal structures are consistent (checkInvariants),
 * - every entry the cache returns holds the model's value and is not expired,
 * - the keys the cache holds are exactly the keys stored minus those reported by evict events,
 * - a failing operation throws the documented error and changes nothing.
 */
type Op =
  | { t: 'set'; k: number; v: number; ttl?: number; size?: number }
  | { t: 'setBadTtl'; k: number; v: number; ttl: number }
  | { t: 'setBadSize'; k: number; v: number; size: number }
  | { t: 'setSizeOfFails'; k: number; v: number; how: 'nan' | 'negative' | 'throw' }
  | { t: 'setTooLarge'; k: number; v: number }
  | { t: 'get' | 'peek' | 'has' | 'delete' | 'remainingTtl'; k: number }
  | { t: 'advance'; ms: number }
  | { t: 'purge' | 'clear' | 'entries' }

const key = fc.integer({ min: 0, max: 40 })
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 10, arbitrary: fc.record({ t: fc.constant('set' as const), k: key, v: fc.integer() }) },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('set' as const),
      k: key,
      v: fc.integer(),
      ttl: fc.integer({ min: 0, max: 50 }),
      size: fc.integer({ min: 0, max: 8 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('setBadTtl' as const),
      k: key,
      v: fc.integer(),
      ttl: fc.constantFrom(-1, Number.NaN, Number.POSITIVE_INFINITY, 1.5),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('setBadSize' as const),
      k: key,
      v: fc.integer(),
      size: fc.constantFrom(-1, Number.NaN),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('setSizeOfFails' as const),
      k: key,
      v: fc.integer(),
      how: fc.constantFrom('nan' as const, 'negative' as const, 'throw' as const),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('setTooLarge' as const), k: key, v: fc.integer() }) },
  {
    weight: 10,
    arbitrary: fc.record({
      t: fc.constantFrom(
        'get' as const,
        'peek' as const,
        'has' as const,
        'delete' as const,
        'remainingTtl' as const,
      ),
      k: key,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ t: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 30 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constantFrom('purge' as const, 'clear' as const, 'entries' as const) }),
  },
)

function snapshot(c: L1Cache<number, number>): string {
  return JSON.stringify([c.size, c.calculatedSize, [...c.entries()].sort((a, b) => a[0] - b[0])])
}

describe.each(['lru', 'tinylfu'] as const)('model-based (%s)', (policy) => {
  test('stays consistent with a reference model after every operation and every error', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.boolean(),
        fc.array(opArb, { maxLength: 200 }),
        (max, weighted, ops) => {
          let now = 0
          let sizeMode: 'ok' | 'nan' | 'negative' | 'throw' = 'ok'
          const model = new Map<number, number>()
          const live = new Set<number>()
          // what an event listener saw that it should not have (a listener's throw would be ignored)
          const wrong: string[] = []
          const c = new L1Cache<number, number>({
            max,
            maxSize: weighted ? 20 : 0,
            policy,
            clock: () => now,
            sweepInterval: 0,
            sizeOf: (v) => {
              if (sizeMode === 'nan') return Number.NaN
              if (sizeMode === 'negative') return -1
              if (sizeMode === 'throw') throw new Error('sizeOf failed')
              return weighted ? Math.abs(v % 5) : 1
            },
            onEvent: (e) => {
              if (e.type !== 'evict') wrong.push(`unexpected ${e.type}`)
              else if (e.reason !== 'set') live.delete(e.key)
              // the replaced value is the one stored before
              else if (model.get(e.key) !== e.value) wrong.push(`replaced ${e.key}=${e.value}`)
            },
          })
          for (const op of ops) {
            const before = snapshot(c)
            switch (op.t) {
              case 'set': {
                const opts: { ttl?: number; size?: number } = {}
                if (op.ttl !== undefined) opts.ttl = op.ttl
                if (op.size !== undefined) opts.size = op.size
                // the new entry itself may be rejected by the policy inside set(): record it first
                live.add(op.k)
                c.set(op.k, op.v, opts)
                model.set(op.k, op.v)
                break
              }
              case 'setBadTtl':
                expect(() => c.set(op.k, op.v, { ttl: op.ttl })).toThrowError(
                  new TierkitTypeError(
                    `L1Cache.set: options.ttl must be a duration in ms, an integer from 0 to 315360000000, got ${op.ttl}`,
                  ),
                )
                expect(snapshot(c)).toBe(before)
                break
              case 'setBadSize':
                expect(() => c.set(op.k, op.v, { size: op.size })).toThrowError(
                  new TierkitTypeError(
                    `L1Cache.set: options.size must be a number from 0 to 9007199254740991, got ${op.size}`,
                  ),
                )
                expect(snapshot(c)).toBe(before)
                break
              case 'setSizeOfFails':
                if (weighted) {
                  sizeMode = op.how
                  expect(() => c.set(op.k, op.v)).toThrowError(InvalidSizeError)
                  sizeMode = 'ok'
                  expect(snapshot(c)).toBe(before)
                }
                break
              case 'setTooLarge':
                if (weighted) {
                  expect(() => c.set(op.k, op.v, { size: 21 })).toThrowError(EntryTooLargeError)
                  expect(snapshot(c)).toBe(before)
                }
                break
              case 'get':
              case 'peek': {
                const v = op.t === 'get' ? c.get(op.k) : c.peek(op.k)
                if (v !== undefined) expect(v).toBe(model.get(op.k))
                break
              }
              case 'has':
                if (c.has(op.k)) expect(c.peek(op.k)).toBe(model.get(op.k))
                break
              case 'remainingTtl': {
                const r = c.remainingTtl(op.k)
                expect(r === Number.POSITIVE_INFINITY || Number.isSafeInteger(r)).toBe(true)
                expect(r >= 0).toBe(true)
                expect(r > 0).toBe(c.has(op.k))
                break
              }
              case 'delete':
                c.delete(op.k)
                expect(c.has(op.k)).toBe(false)
                break
              case 'advance':
                now += op.ms
                break
              case 'purge':
                c.purgeStale()
                break
              case 'clear':
                c.clear()
                expect(c.size).toBe(0)
                break
              case 'entries':
                for (const [k, v] of c.entries()) expect(v).toBe(model.get(k))
                break
            }
            checkInvariants(c)
            expect(wrong).toEqual([])
            // keys held == keys stored minus keys reported by evict events
            const held = new Set<number>()
            for (let k = 0; k <= 40; k++)
              if (
                c.peek(k) !== undefined ||
                (c as unknown as { store: { map: Map<number, number> } }).store.map.has(k)
              )
                held.add(k)
            expect([...held].sort()).toEqual([...live].sort())
          }
          return true
        },
      ),
      { numRuns: 150 },
    )
  })
})
