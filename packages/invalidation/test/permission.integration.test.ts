// A permission the Redis ACL denies surfaces as contracts' PermissionError naming the command, never silently
// (issue 20): a real redis-server, one ACL user per case lacking one permission, its clients of the run's
// client library (TIERKIT_TEST_CLIENT).
import { PermissionError } from '@tierkit/contracts'
import { createCache } from '@tierkit/redis-aside'
import { type RedisServer, startRedis } from '@tierkit/testkit'
import type { Redis } from 'ioredis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import {
  CacheDeleteError,
  CacheWriteError,
  createFlusher,
  createInvalidationBus,
  createTrackingInvalidator,
  PublishError,
  QueueWriteError,
  writeBehind,
  writeThrough,
} from '../src/index.js'
import { type AclUsers, aclUsers } from './helpers/acl.js'
import { MapL1 } from './helpers/cache.js'
import { MemoryStore } from './helpers/memory-store.js'

let server: RedisServer
let users: AclUsers
const closers: Array<() => unknown> = []

beforeAll(async () => {
  server = await startRedis()
  users = aclUsers(server)
}, 60_000)
afterAll(async () => {
  for (const c of closers) await c()
  await users.close()
  await server.stop()
})

const clientAs = (user: string, rules: string): Promise<Redis> => users.as(user, rules)

/** The PermissionError in `e`'s chain of causes, if any. */
function permissionIn(e: unknown): PermissionError | undefined {
  for (let c = e; c instanceof Error; c = c.cause) if (c instanceof PermissionError) return c
  return undefined
}

const rejection = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  )

it('PUBLISH denied: bus.publish rejects with PublishError whose cause names publish', async () => {
  const redis = await clientAs('no-publish', '~* &* -@all +subscribe +ping +info')
  const bus = createInvalidationBus({ redis, channel: 'inv' })
  closers.push(() => bus.close())
  const e = await rejection(bus.publish({ keys: ['k'] }))
  expect(e).toBeInstanceOf(PublishError)
  expect((e as PublishError).cause).toBeInstanceOf(PermissionError)
  expect((e as PublishError).cause).toMatchObject({ code: 'E_REDIS_NOPERM', command: 'publish' })
})

it('SUBSCRIBE denied (channel): bus.ready rejects with the PermissionError naming subscribe', async () => {
  const redis = await clientAs('no-channel', '~* &other -@all +subscribe +publish +ping +info')
  const bus = createInvalidationBus({ redis, channel: 'inv', readyTimeout: 60_000 })
  closers.push(() => bus.close())
  const e = await rejection(bus.ready())
  expect(e).toBeInstanceOf(PermissionError)
  expect(e).toMatchObject({ code: 'E_REDIS_NOPERM', command: 'subscribe', denied: 'channel' })
})

it('XADD denied (inside the queue script): writeBehind.write rejects with QueueWriteError, cause naming eval and xadd', async () => {
  const redis = await clientAs(
    'no-xadd',
    '~* -@all +evalsha +eval +get +set +zadd +zrangebyscore +zremrangebyscore +pexpire +time +ping +info',
  )
  const wb = writeBehind({
    redis,
    name: 'perm-q',
    store: { save: () => undefined, remove: () => undefined },
  } as never)
  closers.push(() => (wb as { close(o?: unknown): Promise<void> }).close({ timeout: 100 }).catch(() => {}))
  const e = await rejection((wb as { write(k: string, v: unknown): Promise<unknown> }).write('k', 1))
  expect(e).toBeInstanceOf(QueueWriteError)
  const cause = (e as QueueWriteError).cause as PermissionError
  expect(cause).toBeInstanceOf(PermissionError)
  expect(cause).toMatchObject({ code: 'E_REDIS_NOPERM', command: 'eval', denied: 'command' }) // a fresh server: EVALSHA's NOSCRIPT, then EVAL
  expect(cause.scriptCommands).toContain('xadd')
})

it('CLIENT TRACKING denied: tracking.ready rejects at once with the PermissionError naming client|tracking', async () => {
  const redis = await clientAs(
    'no-tracking',
    '~* &* -@all +client|id +client|trackinginfo +subscribe +unsubscribe +get +set +ping +info',
  )
  const tracking = createTrackingInvalidator({
    redis,
    prefixes: ['p:'],
    toKey: (k) => k,
    caches: [],
    readyTimeout: 30_000, // rejected by the denial, long before this
  })
  closers.push(() => tracking.close())
  const e = await rejection(tracking.ready())
  expect(e).toBeInstanceOf(PermissionError)
  expect(e).toMatchObject({ code: 'E_REDIS_NOPERM', command: 'client|tracking', denied: 'command' })
})

it('XREADGROUP denied to the flusher: its error event is the PermissionError naming xreadgroup; once granted, every acknowledged write is applied', async () => {
  const writer = await clientAs(
    'wb-writer',
    '~* -@all +evalsha +eval +get +set +xadd +zadd +zrangebyscore +zremrangebyscore +pexpire +time +xrange +xrevrange +ping +info',
  )
  // the README's flusher commands, but XREADGROUP
  const flusherRedis = await clientAs(
    'wb-flusher',
    '~* -@all +xgroup +xautoclaim +xinfo +xpending +xrange +xack +xdel +xadd +get +set +mget +evalsha +eval +ping +info',
  )
  const wb = writeBehind<number>({ redis: writer, name: 'perm-fl' })
  closers.push(() => wb.close({ timeout: 100 }).catch(() => {}))
  for (let i = 0; i < 5; i++) await wb.write(`k${i}`, i) // acknowledged: queued durably
  const store = new MemoryStore<number>()
  const errors: unknown[] = []
  const f = createFlusher({
    redis: flusherRedis,
    name: 'perm-fl',
    store,
    pollInterval: 20,
    onEvent: (e) => {
      if (e.type === 'error') errors.push(e.error)
    },
  })
  closers.push(() => f.close({ timeout: 5_000 }).catch(() => {}))
  await expect.poll(() => errors.length, { timeout: 20_000, interval: 10 }).toBeGreaterThan(0)
  expect(errors[0]).toBeInstanceOf(PermissionError)
  expect(errors[0]).toMatchObject({ code: 'E_REDIS_NOPERM', command: 'xreadgroup', denied: 'command' })
  expect(store.saves).toBe(0)
  // the permission granted: the same flusher goes on, nothing acknowledged was lost
  await users.admin.call('ACL', 'SETUSER', 'wb-flusher', '+xreadgroup')
  await wb.flush({ timeout: 30_000 })
  for (let i = 0; i < 5; i++) expect(store.value(`k${i}`)).toBe(i)
})

it('SET and DEL denied: writeThrough rejects with CacheWriteError / CacheDeleteError caused by the PermissionError naming the command', async () => {
  const redis = await clientAs(
    'no-set-del',
    '~* &* -@all +get +mget +pexpire +pttl +eval +evalsha +ping +info',
  )
  const cache = createCache({ redis, l1: new MapL1(), namespace: 'perm-wt', ttl: 60_000 })
  closers.push(() => cache.close())
  const store = new MemoryStore<string>()
  const writer = writeThrough<string>({ cache, store })
  const e = await rejection(writer.write('k', 'v'))
  expect(e).toBeInstanceOf(CacheWriteError)
  // the database was written; the cache refused the value, then its delete: retried in the background
  expect(e).toMatchObject({ code: 'E_CACHE_WRITE_FAILED', key: 'k', cacheDeleted: false })
  expect(store.value('k')).toBe('v')
  expect(permissionIn(e)).toMatchObject({ code: 'E_REDIS_NOPERM', command: 'set', denied: 'command' })
  // redis-aside deletes with a SET (a short-lived tombstone, so that a load in flight cannot bring the old value
  // back), never DEL: the denial names set
  const r = await rejection(writer.remove('k'))
  expect(r).toBeInstanceOf(CacheDeleteError)
  expect(r).toMatchObject({ code: 'E_CACHE_DELETE_FAILED', keys: ['k'] })
  expect(permissionIn(r)).toMatchObject({ code: 'E_REDIS_NOPERM', command: 'set', denied: 'command' })
})
