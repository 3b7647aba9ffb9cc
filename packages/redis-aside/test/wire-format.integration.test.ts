import type { Cluster, Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EntryCodec } from '../src/entry.js'
import { createCache, exactSerializer } from '../src/index.js'
import { ready, startTopology, type Topology } from './helpers.js'

// What Redis holds must not change with the code: these are the exact SETs the 0.1.0-era encoder (the
// `encodeEntry` of src/cache.ts before the rooms split, issue 17) sent for
//   createCache({ namespace: 'users', ttl: 315_360_000_000, grace: 60_000, eagerRefresh: 0.5 })
//   set('user:1', VALUE); set('null', null); delete('user:2')
// captured from its calls to `redis.set(key, payload, 'PX', px)`. The TTL (10 years) keeps them fresh until 2036.
const VALUE_KEY = 'ra:5:users:v:user:1'
const VALUE_PAYLOAD =
  '2TVUEn4VYWM0R1,qy847ngv,oxsdm0sv,qy848xrj,T{"id":1,"name":"Ada Lovelace","tags":["a","math","é"],"born":["d",-4861728000000],"big":["b","12345678901234567890"],"nothing":null}'
const NULL_KEY = 'ra:5:users:v:null'
const NULL_PAYLOAD = '2TVUEn4VYWM0R2,qy847ngw,oxsdm0sw,qy848xrk,Jnull'
const TOMBSTONE_KEY = 'ra:5:users:v:user:2'
const TOMBSTONE_PAYLOAD = '0TVUEn4VYWM0R3'
const VALUE = {
  id: 1,
  name: 'Ada Lovelace',
  tags: ['math', 'é'],
  born: new Date(Date.UTC(1815, 11, 10)),
  big: 12345678901234567890n,
  nothing: null,
}

describe('the wire format in Redis', () => {
  it('decodes a payload written by the encoder before the split, field by field', () => {
    const codec = new EntryCodec(exactSerializer, 1_048_576, 0, 0)
    expect(codec.decode(VALUE_PAYLOAD)).toStrictEqual({
      value: VALUE,
      freshUntil: 2111969670799,
      refreshAt: 1954289670799,
      staleUntil: 2111969730799,
      token: 'TVUEn4VYWM0R1',
    })
    expect(codec.decode(NULL_PAYLOAD)).toMatchObject({ value: null, token: 'TVUEn4VYWM0R2' })
    expect(codec.decode(TOMBSTONE_PAYLOAD)).toStrictEqual({
      marker: true,
      tombstone: true,
      token: 'TVUEn4VYWM0R3',
    })
    expect(codec.decode('3lease-token')).toStrictEqual({
      marker: true,
      tombstone: false,
      token: 'lease-token',
    })
    // a legacy 0.1.0 entry: no token field, identified by its whole text
    const legacy = '1qy847ngv,0,qy848xrj,J"old"'
    expect(codec.decode(legacy)).toStrictEqual({
      value: 'old',
      freshUntil: 2111969670799,
      refreshAt: 0,
      staleUntil: 2111969730799,
      token: legacy,
    })
  })

  it('encodes in the same layout: 2<token>,<freshUntil>,<refreshAt>,<staleUntil>,<payload>, PX = ttl + grace', () => {
    const codec = new EntryCodec(exactSerializer, 1_048_576, 0, 0.5)
    const before = Date.now()
    const { entry, payload, px } = codec.encode('user:1', VALUE, 315_360_000_000, 60_000)
    const m = /^2([^,]+),([0-9a-z]+),([0-9a-z]+),([0-9a-z]+),(.*)$/su.exec(payload)!
    expect(m).not.toBeNull()
    expect(m[1]).toBe(entry.token)
    expect(Number.parseInt(m[2]!, 36)).toBe(entry.freshUntil)
    expect(Number.parseInt(m[3]!, 36)).toBe(entry.refreshAt)
    expect(Number.parseInt(m[4]!, 36)).toBe(entry.staleUntil)
    expect(m[5]).toBe(VALUE_PAYLOAD.slice(VALUE_PAYLOAD.indexOf(',T{') + 1))
    expect(entry.staleUntil - entry.freshUntil).toBe(60_000)
    expect(entry.freshUntil - before).toBeGreaterThanOrEqual(315_360_000_000)
    expect(px).toBe(315_360_060_000)
  })

  describe('on a real Redis', () => {
    let t: Topology
    let redis: Redis | Cluster
    beforeAll(async () => {
      t = await startTopology('redis')
      redis = t.client()
      await ready(redis)
    }, 60_000)
    afterAll(async () => {
      await t?.close()
    })

    it('a value, a cached null and a tombstone written by the old code are read by the new one', async () => {
      await redis.set(VALUE_KEY, VALUE_PAYLOAD, 'PX', 315_360_060_000)
      await redis.set(NULL_KEY, NULL_PAYLOAD, 'PX', 315_360_060_000)
      await redis.set(TOMBSTONE_KEY, TOMBSTONE_PAYLOAD, 'PX', 30_000)
      const cache = createCache({ redis, namespace: 'users', ttl: 60_000 })
      expect(await cache.get('user:1')).toStrictEqual(VALUE)
      expect(await cache.get('null')).toBeNull()
      expect(await cache.getMany(['user:1', 'null', 'user:2'])).toStrictEqual([VALUE, null, undefined])
      // the tombstone is a miss with nothing stale: the loader answers, and its fill replaces the tombstone
      expect(await cache.getOrLoad('user:2', () => 'loaded')).toBe('loaded')
      expect(await cache.getOrLoad('user:1', () => 'not called')).toStrictEqual(VALUE)
      expect(String(await redis.get(TOMBSTONE_KEY))).toMatch(/^2[^,]+,[0-9a-z]+,0,[0-9a-z]+,J"loaded"$/)
      await cache.close()
    })
  })
})
