/** ioredis configured with `sentinels:` (as the torture instances are) follows a failover of testkit's Sentinel set. */
import { startSentinel } from '@tierkit/testkit'
import { Redis } from 'ioredis'
import { afterAll, describe, expect, it, vi } from 'vitest'

describe('startSentinel with ioredis', () => {
  const clients: Redis[] = []
  afterAll(() => {
    for (const c of clients) c.disconnect()
  })

  it('a client with sentinels: reaches the primary, and after failover() writes to the new one', async () => {
    const set = await startSentinel()
    const redis = new Redis({
      sentinels: [...set.sentinels],
      name: set.name,
      failoverDetector: true,
      maxRetriesPerRequest: 3,
    })
    clients.push(redis)
    redis.on('error', () => {})
    expect(await redis.set('k', 'before')).toBe('OK')
    const before = await set.masterAddress()
    expect(Number(/tcp_port:(\d+)/.exec(await redis.info('server'))![1])).toBe(before.port)
    const next = await set.failover({ waitForReplica: false })
    expect(next.port).not.toBe(before.port)
    // the client moves to the new primary by itself: writes succeed there and the data is there
    // (READONLY or reconnecting while it moves: retried)
    await vi.waitFor(
      async () => {
        await redis.set('k', 'after')
        expect(Number(/tcp_port:(\d+)/.exec(await redis.info('server'))![1])).toBe(next.port)
      },
      { timeout: 30_000, interval: 100 },
    )
    expect(await redis.get('k')).toBe('after')
    await set.stop()
  }, 90_000)
})
