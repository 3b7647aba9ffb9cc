// The client interface against real redis-servers: every client answers every command the tierkit packages send
// exactly as ioredis does (the reference), and connection events, pub/sub, duplicates and tracking behave alike.
import { type RedisServer, startRedis } from '@tierkit/testkit'
import { Redis } from 'ioredis'
import { Redis as Valkey } from 'iovalkey'
import { createClient } from 'redis'
import { createClient as createClient5 } from 'redis5'
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest'
import { isTierkitError, TierkitTypeError } from '../src/index.js'
import {
  detectRedisClient,
  type RedisLike,
  serverOf,
  toRedisLike,
  UnsupportedClientError,
  UnsupportedServerError,
} from '../src/redis.js'

let server: RedisServer
let reference: Redis
const opened: Array<{ close(): Promise<unknown> }> = []

beforeAll(async () => {
  server = await startRedis()
  reference = new Redis(server.port, '127.0.0.1')
})
afterAll(async () => {
  for (const c of opened) await c.close().catch(() => {})
  reference.disconnect()
})

/** Each client under test, made for the server, with the kind it must be detected as. */
const clients = {
  ioredis: (port = server.port) => {
    const c = new Redis(port, '127.0.0.1')
    opened.push({ close: async () => c.disconnect() })
    return { client: c as unknown, kind: 'ioredis' }
  },
  iovalkey: (port = server.port) => {
    const c = new Valkey(port, '127.0.0.1')
    opened.push({ close: async () => c.disconnect() })
    return { client: c as unknown, kind: 'ioredis' }
  },
  'node-redis 6 (RESP3)': (port = server.port) => {
    const c = createClient({ url: `redis://127.0.0.1:${port}` })
    c.on('error', () => {})
    opened.push({ close: async () => c.destroy() })
    return { client: c as unknown, kind: 'node-redis' }
  },
  'node-redis 6 (RESP2)': (port = server.port) => {
    const c = createClient({ url: `redis://127.0.0.1:${port}`, RESP: 2 })
    c.on('error', () => {})
    opened.push({ close: async () => c.destroy() })
    return { client: c as unknown, kind: 'node-redis' }
  },
  'node-redis 5': (port = server.port) => {
    const c = createClient5({ url: `redis://127.0.0.1:${port}` })
    c.on('error', () => {})
    opened.push({ close: async () => c.destroy() })
    return { client: c as unknown, kind: 'node-redis' }
  },
} as const

const LUA = "redis.call('SET', KEYS[1], ARGV[1]); return {KEYS[1], tonumber(ARGV[2]) + 1, false}"

/** The commands the packages send, with their arguments, for a fresh key prefix `p`. */
async function script(r: RedisLike, p: string): Promise<unknown[]> {
  const out: unknown[] = []
  out.push(await r.set(`${p}a`, 'x', 'PX', 60_000))
  out.push(await r.get(`${p}a`), await r.get(`${p}missing`), await r.mget(`${p}a`, `${p}missing`))
  out.push(await r.eval(LUA, 1, `${p}b`, 'y', 41))
  const sha = (await r.call('SCRIPT', 'LOAD', LUA)) as string
  out.push(await r.evalsha(sha, 1, `${p}b`, 'z', 1))
  out.push(await r.evalsha('0'.repeat(40), 0).catch((e: Error) => [e.name, e.message.split(' ')[0]]))
  out.push(await r.call('HSET', `${p}h`, 'f', '1', 'g', 2), await r.call('HGETALL', `${p}h`))
  out.push(await r.xgroup('CREATE', `${p}s`, 'g', '0', 'MKSTREAM'))
  out.push(await r.call('XADD', `${p}s`, '1-1', 'k', 'v'))
  out.push(await r.xreadgroup('GROUP', 'g', 'c', 'COUNT', 10, 'STREAMS', `${p}s`, '>'))
  out.push(await r.xreadgroup('GROUP', 'g', 'c', 'COUNT', 10, 'STREAMS', `${p}s`, '>'))
  out.push(await r.xautoclaim(`${p}s`, 'g', 'd', 0, '0-0', 'COUNT', 10))
  const consumers = (await r.xinfo('CONSUMERS', `${p}s`, 'g')) as unknown[][]
  out.push(consumers.map((row) => row.filter((_, i) => i % 2 === 0)))
  out.push(await r.call('ZADD', `${p}z`, '1.5', 'm'), await r.call('ZSCORE', `${p}z`, 'm'))
  out.push(await r.call('SMEMBERS', `${p}missing`), await r.call('DEL', `${p}a`, `${p}b`))
  out.push(await r.call('TTL', `${p}h`))
  return out
}

describe.each(Object.keys(clients) as Array<keyof typeof clients>)('%s', (name) => {
  let r: RedisLike
  let kind: string
  beforeAll(async () => {
    const made = clients[name]()
    kind = made.kind
    r = toRedisLike(made.client)
    expect(detectRedisClient(made.client)).toBe(kind)
    if (kind === 'ioredis') expect(r).toBe(made.client)
    else expect(toRedisLike(made.client)).toBe(r)
    await vi.waitFor(() => expect(r.status).toBe('ready'), { timeout: 10_000 })
  })

  test('every command answers as ioredis answers it (RESP2 shapes)', async () => {
    const expected = await script(reference as unknown as RedisLike, `ref:${name}:`)
    const got = await script(r, `got:${name}:`)
    expect(JSON.parse(JSON.stringify(got).replaceAll('got:', 'ref:'))).toEqual(expected)
    // the reference itself: the shapes the packages parse
    expect(expected[4]).toEqual([`ref:${name}:b`, 42, null])
    expect(expected[6]).toEqual(['ReplyError', 'NOSCRIPT'])
    expect(expected[8]).toEqual(['f', '1', 'g', '2'])
    expect(expected[11]).toEqual([[`ref:${name}:s`, [['1-1', ['k', 'v']]]]])
    expect(expected[12]).toBeNull()
    expect(expected[16]).toBe('1.5')
  })

  test('pub/sub on a duplicate: message and messageBuffer, idempotent subscribe, unsubscribe', async () => {
    const sub = r.duplicate()
    const seen: unknown[] = []
    sub.on('message', (ch: string, m: string) => seen.push([ch, m]))
    sub.on('messageBuffer', (ch: Buffer, m: Buffer) => seen.push([Buffer.isBuffer(ch), Buffer.isBuffer(m)]))
    expect(await sub.subscribe(`ch:${name}`)).toBe(1)
    expect(await sub.subscribe(`ch:${name}`)).toBe(1)
    await vi.waitFor(async () => expect(await r.publish(`ch:${name}`, 'hello')).toBe(1))
    await vi.waitFor(() => expect(seen).toContainEqual([`ch:${name}`, 'hello']))
    expect(seen).toContainEqual([true, true])
    expect(seen.filter((s) => JSON.stringify(s) === JSON.stringify([`ch:${name}`, 'hello']))).toHaveLength(1)
    expect(await sub.unsubscribe(`ch:${name}`)).toBe(0)
    await sub.quit()
    await vi.waitFor(() => expect(sub.status).toBe('end'))
  })

  test('a lazy duplicate waits for its first command', async () => {
    const lazy = r.duplicate({ lazyConnect: true })
    expect(lazy.status).toBe('wait')
    expect(await lazy.call('PING')).toBe('PONG')
    await vi.waitFor(() => expect(lazy.status).toBe('ready'))
    lazy.disconnect()
    await vi.waitFor(() => expect(lazy.status).toBe('end'))
  })

  test('CLIENT TRACKING redirected to a RESP2 duplicate: invalidations arrive as messages', async () => {
    const conn = r.duplicate({ protocol: 2 })
    const keys: string[] = []
    conn.on('messageBuffer', (ch: Buffer, payload: unknown) => {
      if (ch.toString() !== '__redis__:invalidate') return
      for (const k of Array.isArray(payload) ? payload : [payload]) keys.push(String(k))
    })
    const id = await conn.call('CLIENT', 'ID')
    await conn.subscribe('__redis__:invalidate')
    const target = r.duplicate()
    await target.call('CLIENT', 'TRACKING', 'on', 'REDIRECT', String(id), 'BCAST', 'PREFIX', `tr:${name}:`)
    await reference.set(`tr:${name}:k`, '1')
    await vi.waitFor(() => expect(keys).toContain(`tr:${name}:k`))
    await target.quit()
    await conn.quit()
  })

  test('a flushed database under CLIENT TRACKING: the null payload is messageBuffer null and message "" (as ioredis)', async () => {
    const own = await startRedis()
    const c = toRedisLike(clients[name](own.port).client)
    const seen: unknown[] = []
    const errors: unknown[] = []
    const conn = c.duplicate({ protocol: 2 })
    conn.on('error', (e: unknown) => errors.push(e))
    conn.on('messageBuffer', (ch: Buffer, payload: unknown) => seen.push(['buffer', String(ch), payload]))
    conn.on('message', (ch: string, payload: unknown) => seen.push(['string', ch, payload]))
    await vi.waitFor(() => expect(conn.status).toBe('ready'))
    // on its own server: the FLUSHALL must not reach the other tests' keys
    const admin = new Redis(own.port, '127.0.0.1')
    try {
      const id = await conn.call('CLIENT', 'ID')
      await conn.call('CLIENT', 'TRACKING', 'on', 'REDIRECT', String(id), 'BCAST', 'PREFIX', 'fl:')
      await conn.subscribe('__redis__:invalidate')
      await admin.call('FLUSHALL')
      await vi.waitFor(() => expect(seen).toHaveLength(2))
      expect(seen).toContainEqual(['buffer', '__redis__:invalidate', null])
      expect(seen).toContainEqual(['string', '__redis__:invalidate', ''])
      expect(errors).toEqual([])
    } finally {
      admin.disconnect()
      conn.disconnect()
      c.disconnect()
      await own.stop()
    }
  })
})

describe('connection events across a server restart (node-redis adapter)', () => {
  let own: RedisServer
  beforeAll(async () => {
    own = await startRedis()
  })

  test('close on the drop, reconnecting, ready again; the subscription comes back', async () => {
    const c = createClient({ url: own.url })
    c.on('error', () => {})
    opened.push({ close: async () => c.destroy() })
    const r = toRedisLike(c)
    const sub = r.duplicate({ retryStrategy: () => 50 })
    const events: string[] = []
    for (const e of ['ready', 'close', 'reconnecting', 'end']) sub.on(e, () => events.push(e))
    const got: string[] = []
    sub.on('message', (_: string, m: string) => got.push(m))
    await vi.waitFor(() => expect(sub.status).toBe('ready'))
    await sub.subscribe('events')
    await own.restart()
    await vi.waitFor(() => expect(events).toEqual(expect.arrayContaining(['close', 'reconnecting'])))
    await vi.waitFor(() => expect(events.lastIndexOf('ready')).toBeGreaterThan(events.indexOf('close')), {
      timeout: 15_000,
    })
    await vi.waitFor(async () => {
      await r.publish('events', 'after')
      expect(got).toContain('after')
    })
    sub.disconnect()
  })

  test('retryStrategy returning null ends the connection', async () => {
    const c = createClient({ url: own.url })
    c.on('error', () => {})
    opened.push({ close: async () => c.destroy() })
    const dup = toRedisLike(c).duplicate({ retryStrategy: () => null })
    const events: string[] = []
    dup.on('close', () => events.push('close'))
    dup.on('end', () => events.push('end'))
    await vi.waitFor(() => expect(dup.status).toBe('ready'))
    await own.kill()
    await vi.waitFor(() => expect(dup.status).toBe('end'))
    expect(events).toEqual(['close', 'end'])
    await own.restart()
  })
})

describe('the node-redis adapter, edges', () => {
  const node = (extra: Record<string, unknown> = {}) => {
    const c = createClient({ url: server.url, ...extra })
    c.on('error', () => {})
    opened.push({ close: async () => c.destroy() })
    return c
  }

  test('a client connected before it is passed is ready at once; closing a closed one is a no-op', async () => {
    const c = node()
    await c.connect()
    const r = toRedisLike(c)
    expect(r.status).toBe('ready')
    expect(await r.unsubscribe()).toBe(0)
    await r.quit()
    expect(r.status).toBe('end')
    r.disconnect()
    expect(await r.quit()).toBe('OK')
  })

  test('a RESP2 duplicate of a client with client-side caching (RESP3 only) drops what RESP2 cannot do', async () => {
    const r = toRedisLike(node({ clientSideCache: { ttl: 0 }, RESP: 3 }))
    const dup = r.duplicate({ protocol: 2 })
    expect(await dup.call('HELLO', '2').then((h) => (h as unknown[]).includes('proto'))).toBe(true)
    dup.disconnect()
  })

  test('unsubscribe() with no channel leaves every channel', async () => {
    const sub = toRedisLike(node()).duplicate()
    await sub.subscribe('a', 'b')
    expect(await sub.unsubscribe()).toBe(0)
    sub.disconnect()
  })

  test('enableOfflineQueue: false rejects a command while the server is unreachable', async () => {
    const down = await startRedis()
    const c = createClient({ url: down.url })
    c.on('error', () => {})
    opened.push({ close: async () => c.destroy() })
    const r = toRedisLike(c)
    await vi.waitFor(() => expect(r.status).toBe('ready'))
    const dup = r.duplicate({ enableOfflineQueue: false, retryStrategy: () => 200, lazyConnect: true })
    await down.stop()
    await expect(dup.call('PING')).rejects.toThrow()
    dup.disconnect()
  })
})

describe('bad input', () => {
  test('an ioredis Cluster is used as it is', () => {
    const cluster = { call() {}, duplicate() {}, status: 'wait', isCluster: true }
    expect(detectRedisClient(cluster)).toBe('ioredis-cluster')
    expect(toRedisLike(cluster)).toBe(cluster)
  })

  test('anything that is not a client is E_INVALID_ARGUMENT, naming the option', () => {
    for (const bad of [undefined, null, 42, {}, { call() {} }, { sendCommand() {} }]) {
      expect(detectRedisClient(bad)).toBeUndefined()
      expect(() => toRedisLike(bad, 'createCache', 'options.redis')).toThrow(TierkitTypeError)
    }
    expect(() => toRedisLike({}, 'createCache', 'options.redis')).toThrow(
      'createCache: options.redis must be an ioredis, iovalkey or node-redis client, got an object',
    )
  })

  test('a node-redis cluster is E_UNSUPPORTED_CLIENT, naming the alternative', () => {
    const cluster = { sendCommand() {}, isOpen: false, masters: [] }
    expect(detectRedisClient(cluster)).toBe('node-redis-cluster')
    let error: unknown
    try {
      toRedisLike(cluster)
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(UnsupportedClientError)
    expect(isTierkitError(error, 'E_UNSUPPORTED_CLIENT')).toBe(true)
    expect((error as UnsupportedClientError).alternative).toMatch(/ioredis or iovalkey Cluster/)
  })
})

describe('serverOf', () => {
  test('tells Redis, Valkey, Dragonfly and KeyDB apart from INFO server', () => {
    expect(serverOf('# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n')).toEqual({
      name: 'redis',
      version: '7.0.15',
    })
    expect(serverOf('# Server\r\nredis_version:7.4.0\r\ndragonfly_version:df-v1.40.1\r\n')).toEqual({
      name: 'dragonfly',
      version: 'df-v1.40.1',
    })
    expect(serverOf('# Server\r\nredis_version:7.2.4\r\nvalkey_version:8.0.1\r\n').name).toBe('valkey')
    expect(serverOf('# Server\r\nredis_version:6.3.2\r\n# KeyDB\r\nmvcc_depth:0\r\n').name).toBe('keydb')
    expect(serverOf('')).toEqual({ name: 'unknown', version: undefined })
  })

  test('the real server here is Redis (or Valkey)', async () => {
    const { name } = serverOf(String(await reference.info('server')))
    expect(['redis', 'valkey']).toContain(name)
  })

  test('UnsupportedServerError: code, fields, message', () => {
    const e = new UnsupportedServerError('dragonfly', 'CLIENT TRACKING REDIRECT', 'use the bus')
    expect(isTierkitError(e, 'E_UNSUPPORTED_SERVER')).toBe(true)
    expect(e).toMatchObject({
      server: 'dragonfly',
      missing: 'CLIENT TRACKING REDIRECT',
      alternative: 'use the bus',
    })
    expect(e.message).toBe('dragonfly has no CLIENT TRACKING REDIRECT; use the bus')
  })
})
