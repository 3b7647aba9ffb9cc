import { type RedisServer, redisCommand, startRedis } from '@tierkit/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RedisClock } from '../src/load-redis.js'
import type { RedisClientName } from '../src/redis-url.js'

// the load generator's Redis connection (its clock of GET/MGET time inside Redis) takes the demo's REDIS_URL and
// REDIS_CLIENT; the Sentinel URL is in sentinel.integration.test.ts
describe.each<RedisClientName>(['ioredis', 'node-redis', 'iovalkey'])('RedisClock through %s', (client) => {
  let redis: RedisServer

  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(async () => {
    await redis?.stop()
  })

  it('resets the statistics, then counts the GET and MGET calls made since', async () => {
    const clock = new RedisClock(redis.url, client)
    try {
      await clock.reset()
      const before = await clock.read()
      expect(before.calls).toBe(0)
      for (let i = 0; i < 3; i++) await redisCommand(redis, ['GET', `k${i}`])
      await redisCommand(redis, ['MGET', 'a', 'b'])
      const after = await clock.read()
      expect(after.calls - before.calls).toBe(4)
      expect(after.usec).toBeGreaterThan(0)
      expect(after.p99Usec).toBeGreaterThan(0) // INFO latencystats (Redis 7) since the reset
    } finally {
      await clock.close()
    }
  })
})

it('RedisClock refuses what the demo refuses (E_CONFIG), before connecting', () => {
  expect(() => new RedisClock('redis+sentinel://127.0.0.1:1/m', 'node-redis')).toThrow(
    expect.objectContaining({ code: 'E_CONFIG', variable: 'REDIS_CLIENT' }),
  )
  expect(() => new RedisClock('http://127.0.0.1:1')).toThrow(
    expect.objectContaining({ code: 'E_CONFIG', variable: 'REDIS_URL' }),
  )
})
