/** ioredis configured with `sentinels:` (as the torture instances are) follows a failover of testkit's Sentinel set. */
import { startSentinel } from '@tierkit/testkit'
import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'

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
    const deadline = Date.now() + 30_000
    let port = 0
    while (Date.now() < deadline) {
      try {
        await redis.set('k', 'after')
        port = Number(/tcp_port:(\d+)/.exec(await redis.info('server'))![1])
        if (port === next.port) break
      } catch {
        // READONLY or reconnecting while it moves
      }
      await new Promise((r) => setTimeout(r, 100))
    }
    expect(port).toBe(next.port)
    expect(await redis.get('k')).toBe('after')
    await set.stop()
  }, 90_000)
})
