// A permission the Redis ACL denies surfaces as contracts' typed PermissionError naming the command, never as a
// silent miss (issue 20): a real redis-server, one ACL user per case granted the README's ACL less one permission.
// A read answers from the loader and reports the typed error (`redis-error`); an explicit write rejects.
import { PermissionError } from '@tierkit/contracts'
import { type RedisServer, startRedis } from '@tierkit/testkit'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Cache, type CacheEvent, createCache, RedisReplyError } from '../src/index.js'
import { keyPrefix } from '../src/keys.js'
import { eventually, REDIS_ASIDE_ACL, rejection, uniqueNs } from './helpers.js'

let server: RedisServer
let admin: Redis
const opened: Array<{ close(): Promise<unknown> }> = []
const PASSWORD = `pw-${process.pid}`

beforeAll(async () => {
  server = await startRedis()
  admin = new Redis(server.port, '127.0.0.1')
}, 60_000)
afterAll(async () => {
  for (const c of opened) await c.close()
  admin.disconnect()
  await server.stop()
})

/** A cache whose client is an ACL user granted `rules`, with every event it reports. */
async function cacheAs(user: string, rules: string): Promise<{ cache: Cache; events: CacheEvent[] }> {
  await admin.call('ACL', 'SETUSER', user, 'reset', 'on', `>${PASSWORD}`, ...rules.split(' '))
  const redis = new Redis({ host: '127.0.0.1', port: server.port, username: user, password: PASSWORD })
  redis.on('error', () => {})
  const events: CacheEvent[] = []
  const cache = createCache({
    redis,
    namespace: uniqueNs('perm'),
    ttl: 60_000,
    timeouts: { redis: 5000 },
    onEvent: (e) => events.push(e),
  })
  opened.push({ close: () => cache.close() }, { close: async () => redis.disconnect() })
  return { cache, events }
}

/** The `redis-error` events' operation and error. */
function redisErrors(events: CacheEvent[]): Array<{ operation: string; error: unknown }> {
  return events.flatMap((e) => (e.type === 'redis-error' ? [{ operation: e.operation, error: e.error }] : []))
}

describe('a permission the ACL denies is a PermissionError naming the command', () => {
  it('the README ACL itself is enough: set, getOrLoad, getOrLoadMany, delete report nothing', async () => {
    const { cache, events } = await cacheAs('full', REDIS_ASIDE_ACL)
    await cache.set('a', 1)
    expect(await cache.getOrLoad('b', () => 2)).toBe(2)
    expect(await cache.getOrLoadMany(['a', 'c'], () => new Map([['c', 3]]))).toEqual([1, 3])
    await cache.delete('a')
    // the fills (after the callers were answered) have landed
    const stored = (k: string) => admin.exists(`${keyPrefix(cache.namespace)}v:${k}`)
    await eventually(async () => (await stored('b')) + (await stored('c')) === 2)
    expect(events.filter((e) => e.type.endsWith('error'))).toEqual([])
  })

  it('GET denied: the read answers from the loader and reports the typed error naming get', async () => {
    const { cache, events } = await cacheAs('no-get', `${REDIS_ASIDE_ACL} -get`)
    let loads = 0
    expect(
      await cache.getOrLoad('k', () => {
        loads++
        return 'v'
      }),
    ).toBe('v')
    expect(loads).toBe(1)
    const [first] = redisErrors(events)
    expect(first?.operation).toBe('get')
    expect(first?.error).toBeInstanceOf(PermissionError)
    expect(first?.error).toMatchObject({ code: 'E_REDIS_NOPERM', command: 'get', denied: 'command' })
  })

  it('MGET denied: getOrLoadMany reports the typed error naming mget', async () => {
    const { cache, events } = await cacheAs('no-mget', `${REDIS_ASIDE_ACL} -mget`)
    const got = await cache.getOrLoadMany(['x', 'y'], (keys) => new Map(keys.map((k) => [k, k])))
    expect(got).toEqual(['x', 'y'])
    const mget = redisErrors(events).find((e) => e.operation === 'mget')
    expect(mget?.error).toMatchObject({ code: 'E_REDIS_NOPERM', command: 'mget' })
  })

  it('SET denied: set and delete reject (E_REDIS_REPLY) with the typed error naming set as cause', async () => {
    const { cache, events } = await cacheAs('no-set', `${REDIS_ASIDE_ACL} -set`)
    const err = await rejection(cache.set('k', 'v'))
    expect(err).toBeInstanceOf(RedisReplyError)
    expect(err).toMatchObject({ code: 'E_REDIS_REPLY', operation: 'set', key: 'k' })
    const cause = (err as RedisReplyError).cause
    expect(cause).toBeInstanceOf(PermissionError)
    expect(cause).toMatchObject({ code: 'E_REDIS_NOPERM', command: 'set', denied: 'command' })
    expect((err as Error).message).toMatch(/^redis refused set "k": Redis ACL denied the command 'set'/)
    const del = await rejection(cache.delete('k'))
    expect((del as RedisReplyError).cause).toMatchObject({ code: 'E_REDIS_NOPERM', command: 'set' })
    expect(redisErrors(events).map((e) => [e.operation, (e.error as PermissionError).command])).toEqual([
      ['set', 'set'],
      ['delete', 'set'],
    ])
    expect(cache.breakerState).toBe('closed') // Redis answered: not an outage
  })

  it('EVALSHA (and EVAL) denied: the lease script of a miss reports the typed error naming evalsha', async () => {
    const { cache, events } = await cacheAs('no-script', `${REDIS_ASIDE_ACL} -evalsha -eval`)
    expect(await cache.getOrLoad('k', () => 'v')).toBe('v')
    expect(redisErrors(events)).toEqual([{ operation: 'lease', error: expect.any(PermissionError) }])
    expect(redisErrors(events)[0]?.error).toMatchObject({
      code: 'E_REDIS_NOPERM',
      command: 'evalsha',
      denied: 'command',
    })
  })

  it('the namespace not granted: the read reports the typed error naming get (key)', async () => {
    const { cache, events } = await cacheAs('other-keys', REDIS_ASIDE_ACL.replace('~ra:*', '~other:*'))
    expect(await cache.getOrLoad('k', () => 'v')).toBe('v')
    expect(redisErrors(events)[0]?.error).toMatchObject({
      code: 'E_REDIS_NOPERM',
      command: 'get',
      denied: 'key',
    })
    const err = await rejection(cache.set('k', 'v'))
    expect((err as RedisReplyError).cause).toMatchObject({ command: 'set', denied: 'key' })
  })
})
