// The `redis` option of every entry point takes each client library's own class, by type (issue 20): iovalkey's
// `Redis` and `Cluster` are not ioredis's (an option typed with ioredis's alone refused them at compile time, so
// the README's iovalkey line did not type-check); node-redis's client fits NodeRedisClientLike. tsc checks these
// (the package's typecheck); the runtime part checks that what tsc accepts is what the packages accept.
import { Redis as Valkey, type Cluster as ValkeyCluster } from 'iovalkey'
import type { createClient } from 'redis'
import { describe, expect, expectTypeOf, it } from 'vitest'
import {
  createInvalidationBus,
  type FlusherOptions,
  type InvalidationBusOptions,
  type TagsOptions,
  type TrackingOptions,
  type WriteBehindOptions,
} from '../src/index.js'

describe('the redis option', () => {
  it('takes iovalkey Redis and Cluster and a node-redis client in every entry point', () => {
    type NodeRedis = ReturnType<typeof createClient>
    expectTypeOf<Valkey>().toExtend<InvalidationBusOptions['redis']>()
    expectTypeOf<ValkeyCluster>().toExtend<InvalidationBusOptions['redis']>()
    expectTypeOf<Valkey>().toExtend<TagsOptions['redis']>()
    expectTypeOf<Valkey>().toExtend<TrackingOptions['redis']>()
    expectTypeOf<Valkey>().toExtend<WriteBehindOptions['redis']>()
    expectTypeOf<Valkey>().toExtend<FlusherOptions['redis']>()
    expectTypeOf<NodeRedis>().toExtend<InvalidationBusOptions['redis']>()
    expectTypeOf<NodeRedis>().toExtend<TagsOptions['redis']>()
    // and the bus takes an iovalkey client at run time (no connection needed to build it)
    const redis = new Valkey({ lazyConnect: true })
    const bus = createInvalidationBus({ redis, channel: 'types', caches: [] })
    expect(typeof bus.publish).toBe('function')
    redis.disconnect()
  })
})
