// A permission the Redis ACL denies surfaces as contracts' PermissionError naming the command, never silently
// (issue 20): a real redis-server, one ACL user per case lacking one permission.
import { PermissionError } from '@tierkit/contracts'
import { type RedisServer, startRedis } from '@tierkit/testkit'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createInvalidationBus, PublishError, QueueWriteError, writeBehind } from '../src/index.js'

let server: RedisServer
let admin: Redis
const closers: Array<() => unknown> = []
const PASSWORD = `pw-${process.pid}`

beforeAll(async () => {
  server = await startRedis()
  admin = new Redis(server.port, '127.0.0.1')
}, 60_000)
afterAll(async () => {
  for (const c of closers) await c()
  admin.disconnect()
  await server.stop()
})

async function clientAs(user: string, rules: string): Promise<Redis> {
  await admin.call('ACL', 'SETUSER', user, 'reset', 'on', `>${PASSWORD}`, ...rules.split(' '))
  const r = new Redis({ host: '127.0.0.1', port: server.port, username: user, password: PASSWORD })
  r.on('error', () => {})
  closers.push(() => r.disconnect())
  return r
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
