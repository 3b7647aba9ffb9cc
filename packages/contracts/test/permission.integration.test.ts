// A permission the Redis ACL denies is a typed error naming the command, whichever client sent it: every
// client against a real redis-server as an ACL user lacking one permission per case (issue 20).
import { type RedisServer, startRedis } from '@tierkit/testkit'
import { Redis } from 'ioredis'
import { Redis as Valkey } from 'iovalkey'
import { createClient } from 'redis'
import { createClient as createClient5 } from 'redis5'
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest'
import { PermissionError } from '../src/index.js'
import { classifyRedisError, isReplyError, type RedisLike, toRedisLike } from '../src/redis.js'

let server: RedisServer
const opened: Array<() => void> = []
const USER = 'limited'
const PASSWORD = `pw-${process.pid}`

beforeAll(async () => {
  server = await startRedis()
  const admin = new Redis(server.port, '127.0.0.1')
  // keys and channels `p:*` only; GET, EVAL(SHA), PUBLISH, SUBSCRIBE, the connection's handshake; no SET, XADD, CLIENT TRACKING
  await admin.call(
    'ACL',
    ...['SETUSER', USER, 'on', `>${PASSWORD}`, 'resetkeys', '~p:*', 'resetchannels', '&p:*', '-@all'],
    ...['+get', '+eval', '+evalsha', '+publish', '+subscribe', '+ping', '+info', '+hello'],
  )
  admin.disconnect()
})
afterAll(async () => {
  for (const close of opened) close()
  await server.stop()
})

const url = (): string => `redis://${USER}:${PASSWORD}@127.0.0.1:${server.port}`
const ioOptions = () => ({ port: server.port, host: '127.0.0.1', username: USER, password: PASSWORD })

/** Each client, connected as the limited user. */
const clients: Record<string, () => unknown> = {
  ioredis: () => {
    const c = new Redis({ ...ioOptions(), enableReadyCheck: false })
    opened.push(() => c.disconnect())
    return c
  },
  iovalkey: () => {
    const c = new Valkey({ ...ioOptions(), enableReadyCheck: false })
    opened.push(() => c.disconnect())
    return c
  },
  'node-redis 6': () => {
    const c = createClient({ url: url() })
    c.on('error', () => {})
    opened.push(() => c.destroy())
    return c
  },
  'node-redis 5': () => {
    const c = createClient5({ url: url() })
    c.on('error', () => {})
    opened.push(() => c.destroy())
    return c
  },
}

/**
 * What `p` rejects with (`undefined` when it resolves): classified for an ioredis or iovalkey client (used as
 * they are, their reply errors are classified by the packages); as it is for node-redis (the adapter does it).
 */
function denial(name: string, p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => (name.startsWith('node-redis') ? e : classifyRedisError(e)),
  )
}

describe.each(Object.keys(clients))('%s', (name) => {
  let r: RedisLike
  beforeAll(async () => {
    r = toRedisLike(clients[name]!())
    await vi.waitFor(() => expect(r.status).toBe('ready'), { timeout: 10_000 })
    expect(await r.get('p:none')).toBeNull() // connected as the user: what is granted works
  })

  test.each([
    ['set', 'command', () => r.set('p:a', 'x')],
    ['get', 'key', () => r.get('q:a')],
    ['publish', 'channel', () => r.publish('q:ch', 'x')],
    ['xadd', 'command', () => r.call('XADD', 'p:s', '*', 'f', 'v')],
    ['client|tracking', 'command', () => r.call('CLIENT', 'TRACKING', 'ON')],
    ['eval', 'command', () => r.eval("return redis.call('SET', KEYS[1], 'x')", 1, 'p:a')],
    ['eval', 'key', () => r.eval("return redis.call('GET', 'q:b')", 0)],
  ] as const)('a denied %s (%s) is a PermissionError naming it', async (command, denied, call) => {
    const e = await denial(name, call())
    expect(e).toBeInstanceOf(PermissionError)
    expect(e).toMatchObject({ code: 'E_REDIS_NOPERM', command, denied })
    expect(isReplyError(e)).toBe(true)
    const cause = (e as PermissionError).cause as Error
    expect(cause.name).toBe('ReplyError')
    expect((e as Error).message).toBe(
      `Redis ACL denied the command '${command}' (${denied}): ${cause.message}`,
    )
  })

  test('a denied SUBSCRIBE on a subscriber connection is a PermissionError naming it', async () => {
    const sub = r.duplicate()
    opened.push(() => sub.disconnect())
    sub.on('error', () => {})
    const e = await denial(name, sub.subscribe('q:ch'))
    expect(e).toMatchObject({ code: 'E_REDIS_NOPERM', command: 'subscribe', denied: 'channel' })
    expect(await sub.subscribe('p:ch')).toBe(1) // the granted channel still subscribes
  })

  test('any other error reply stays the reply error (NOSCRIPT), and the classification is idempotent', async () => {
    const e = await denial(name, r.evalsha('0'.repeat(40), 0))
    expect(e).not.toBeInstanceOf(PermissionError)
    expect([(e as Error).name, (e as Error).message.split(' ')[0]]).toEqual(['ReplyError', 'NOSCRIPT'])
    const denied = await denial(name, r.set('p:a', 'x'))
    expect(classifyRedisError(denied)).toBe(denied)
  })
})

test('the command comes from the caller when neither Redis nor the client names it', () => {
  const reply = Object.assign(new Error('NOPERM this user has no permissions to access one of the keys'), {
    name: 'ReplyError',
  })
  expect(classifyRedisError(reply, 'MGET')).toMatchObject({ command: 'mget', denied: 'key', cause: reply })
  expect(classifyRedisError(reply)).toMatchObject({ command: 'unknown', denied: 'key' })
  // a script's own command refused: the commands it runs are kept when the caller gives them
  const inScript = Object.assign(
    new Error(
      "ERR The user executing the script can't run this command or subcommand script: 1, on @user_script:1.",
    ),
    { name: 'ReplyError', command: { name: 'evalsha' } },
  )
  const e = classifyRedisError(inScript, undefined, ['get', 'xadd']) as PermissionError
  expect(e).toMatchObject({ command: 'evalsha', denied: 'command', scriptCommands: ['get', 'xadd'] })
  expect(e.message).toBe(
    `Redis ACL denied the command 'evalsha' (command; the script runs get, xadd): ${inScript.message}`,
  )
  // classified before, without the script's commands (the node-redis adapter classifies every reply): added
  const early = classifyRedisError(inScript) as PermissionError
  expect(early.scriptCommands).toBeUndefined()
  const late = classifyRedisError(early, undefined, ['get', 'xadd'])
  expect(late).toMatchObject({ command: 'evalsha', denied: 'command', scriptCommands: ['get', 'xadd'] })
  expect(late).toMatchObject({ cause: inScript, message: e.message })
  expect(classifyRedisError(late, undefined, ['other'])).toBe(late)
  expect(classifyRedisError(reply, 'get', ['get'])).toMatchObject({ scriptCommands: undefined })
  const plain = new Error('NOPERM but not a reply')
  expect(classifyRedisError(plain, 'get')).toBe(plain)
  expect(isReplyError(plain)).toBe(false)
})
