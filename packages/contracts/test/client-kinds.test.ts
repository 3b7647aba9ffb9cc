// The clients an option named `redis` takes, by shape and by type (issue 20): a node-redis Sentinel client
// (`createSentinel()`, whose sendCommand has another signature and which pools its connections) is recognised
// and refused with E_UNSUPPORTED_CLIENT naming the alternative, not wrapped as a plain client; iovalkey's
// classes, which are not ioredis's, fit the `IoredisLike` type the packages' options accept.

import type { Cluster, Redis } from 'ioredis'
import { Redis as Valkey, type Cluster as ValkeyCluster } from 'iovalkey'
import { createSentinel } from 'redis'
import { describe, expect, expectTypeOf, test } from 'vitest'
import {
  type AnyRedisClient,
  detectRedisClient,
  type IoredisLike,
  type RedisClientKind,
  toRedisLike,
  UnsupportedClientError,
} from '../src/redis.js'

describe('a node-redis Sentinel client', () => {
  test('is node-redis-sentinel, and E_UNSUPPORTED_CLIENT naming ioredis with sentinels', () => {
    const sentinel = createSentinel({ name: 'mymaster', sentinelRootNodes: [{ host: '127.0.0.1', port: 1 }] })
    expect(detectRedisClient(sentinel)).toBe('node-redis-sentinel')
    expect(() => toRedisLike(sentinel)).toThrow(UnsupportedClientError)
    expect(() => toRedisLike(sentinel)).toThrow(/sentinels/)
    const e = (() => {
      try {
        toRedisLike(sentinel)
      } catch (x) {
        return x
      }
      return undefined
    })()
    expect(e).toMatchObject({ code: 'E_UNSUPPORTED_CLIENT', client: 'node-redis-sentinel' })
  })
  test('the kinds', () => {
    expectTypeOf<RedisClientKind>().toEqualTypeOf<
      'ioredis' | 'ioredis-cluster' | 'node-redis' | 'node-redis-cluster' | 'node-redis-sentinel'
    >()
  })
})

describe('IoredisLike', () => {
  test('ioredis and iovalkey, Redis and Cluster, fit it (the packages type their redis option with it)', () => {
    expectTypeOf<Valkey>().toExtend<IoredisLike>()
    expectTypeOf<ValkeyCluster>().toExtend<IoredisLike>()
    expectTypeOf<Redis>().toExtend<IoredisLike>()
    expectTypeOf<Cluster>().toExtend<IoredisLike>()
    expectTypeOf<Valkey>().toExtend<AnyRedisClient>()
    // and at run time they are what detectRedisClient calls ioredis
    const v = new Valkey({ lazyConnect: true })
    expect(detectRedisClient(v)).toBe('ioredis')
    v.disconnect()
  })
})
