// createCache takes a node-redis client as it is (wrapped by @tierkit/contracts/redis): the L2 round trip
// between two processes' caches, the scripts' NOSCRIPT fallback (an error reply told from a connection failure)
// and the typed errors for what it cannot take. The whole suite also runs with each client
// (TIERKIT_TEST_CLIENT, tools/scripts/client-matrix.mjs); this file passes the raw client, not the suite's proxy.
import { isTierkitError } from '@tierkit/contracts'
import { type RedisServer, startRedis } from '@tierkit/testkit'
import { Redis } from 'ioredis'
import { createClient } from 'redis'
import { createClient as createClient5 } from 'redis5'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createCache } from '../src/index.js'
import { expectInvalidArgument, recordingObserver, thrown, uniqueNs } from './helpers.js'

let server: RedisServer
let admin: Redis
const closers: Array<() => unknown> = []
beforeAll(async () => {
  server = await startRedis()
  admin = new Redis(server.port, '127.0.0.1')
})
afterAll(() => {
  for (const c of closers) c()
  admin.disconnect()
})

const makers = {
  'node-redis 6': () => createClient({ url: server.url }),
  'node-redis 5': () => createClient5({ url: server.url }),
} as const

describe.each(Object.keys(makers) as Array<keyof typeof makers>)(
  'createCache with a raw %s client',
  (name) => {
    const raw = () => {
      const c = makers[name]()
      c.on('error', () => {})
      closers.push(() => c.destroy())
      return c
    }

    it('one loader call; the other cache reads it from Redis (an L2 hit)', async () => {
      const namespace = uniqueNs('clients')
      const observer = recordingObserver()
      const a = createCache({ redis: raw(), namespace, ttl: 60_000 })
      const b = createCache({ redis: raw(), namespace, ttl: 60_000, observer })
      let calls = 0
      expect(await a.getOrLoad('k', () => ++calls && { n: 1 })).toEqual({ n: 1 })
      expect(await b.getOrLoad('k', () => ++calls && { n: 2 })).toEqual({ n: 1 })
      expect(calls).toBe(1)
      expect(observer.count('l2:hit')).toBe(1)
      expect(await b.getMany(['k', 'missing'])).toEqual([{ n: 1 }, undefined])
      await a.delete('k')
      expect(await b.get('k')).toBeUndefined()
      await a.close()
      await b.close()
    })

    it('after SCRIPT FLUSH the scripts are sent again (NOSCRIPT is an error reply, not a failure)', async () => {
      const namespace = uniqueNs('clients-noscript')
      const events: string[] = []
      const cache = createCache({
        redis: raw(),
        namespace,
        ttl: 60_000,
        lock: { distributed: true },
        onEvent: (e) => events.push(e.type),
      })
      expect(await cache.getOrLoad('a', () => 1)).toBe(1)
      await admin.call('SCRIPT', 'FLUSH')
      expect(await cache.getOrLoad('b', () => 2)).toBe(2)
      await cache.delete('a')
      expect(await cache.get('a')).toBeUndefined()
      expect(await cache.get('b')).toBe(2)
      expect(events.filter((t) => t === 'redis-error')).toEqual([])
      await cache.close()
    })
  },
)

describe('what createCache cannot take', () => {
  it('a node-redis cluster: E_UNSUPPORTED_CLIENT, naming the alternative', () => {
    const cluster = { sendCommand() {}, isOpen: false, masters: [] }
    const e = thrown(() => createCache({ redis: cluster as never, namespace: 'n', ttl: 1000 }))
    expect(isTierkitError(e, 'E_UNSUPPORTED_CLIENT')).toBe(true)
    expect((e as Error).message).toMatch(/ioredis or iovalkey Cluster/)
  })

  it('anything else: E_INVALID_ARGUMENT as before', () => {
    expectInvalidArgument(
      thrown(() => createCache({ redis: {} as never, namespace: 'n', ttl: 1000 })),
      'createCache: redis must be an ioredis Redis or Cluster, got an object',
    )
  })
})
