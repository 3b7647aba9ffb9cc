import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { parseRedisKey } from '../src/index.js'
import { keyPrefix } from '../src/keys.js'
import { keySlot } from '../src/slot.js'

describe('key layout', () => {
  it('namespace + key → Redis key is injective (no namespace can address another one)', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string(), fc.string(), (ns1, k1, ns2, k2) => {
        fc.pre(ns1.length > 0 && ns2.length > 0)
        const a = `${keyPrefix(ns1)}v:${k1}`
        const b = `${keyPrefix(ns2)}v:${k2}`
        if (ns1 !== ns2 || k1 !== k2) expect(a).not.toBe(b)
        expect(parseRedisKey(a)).toEqual({ namespace: ns1, kind: 'v', key: k1 })
      }),
      { numRuns: 2000 },
    )
    // the classic collision of naive "ns:key" joining
    expect(`${keyPrefix('a')}v:b:c`).not.toBe(`${keyPrefix('a:b')}v:c`)
    expect(`${keyPrefix('a')}v:x`).not.toBe(`${keyPrefix('a')}l:x`)
  })

  it('parseRedisKey gives undefined for a key this package did not build', () => {
    for (const k of ['users:1', 'ra:x:users:v:1', 'ra:5:user:v:1', 'ra:5:users:x:1', 'ra:5:users:v1'])
      expect(parseRedisKey(k)).toBeUndefined()
    expect(parseRedisKey('ra:5:users:l:1')).toEqual({ namespace: 'users', kind: 'l', key: '1' })
  })
})

describe('keySlot (internal: groups keys by hash slot on a Cluster)', () => {
  it('matches Redis (CRC16 XMODEM mod 16384, hash tags)', () => {
    // values from CLUSTER KEYSLOT on Redis 7
    expect(keySlot('foo')).toBe(12182)
    expect(keySlot('bar')).toBe(5061)
    expect(keySlot('123456789')).toBe(0x31c3 & 16383)
    expect(keySlot('{user1000}.following')).toBe(keySlot('{user1000}.followers'))
    // an empty tag is not a tag: the whole key is hashed
    expect(keySlot('{}x')).not.toBe(keySlot(''))
  })
})
