// startSecureRedis: TLS on its own port with a generated CA, ACL users enforced by the real server, the plain
// port left to the admin (`default`) connection.
import { connect } from 'node:tls'
import { afterAll, describe, expect, it } from 'vitest'
import {
  encodeCommand,
  parseResp,
  RespError,
  type RespValue,
  redisCommand,
  type SecureRedisServer,
  startSecureRedis,
} from '../src/index.js'

/** Sends `commands` in order over one TLS connection; resolves with each reply. */
function overTls(port: number, ca: string | undefined, commands: string[][]): Promise<RespValue[]> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ...(ca ? { ca } : {}) })
    let buf = Buffer.alloc(0)
    const replies: RespValue[] = []
    socket.on('secureConnect', () => socket.write(Buffer.concat(commands.map(encodeCommand))))
    socket.on('data', (d) => {
      buf = Buffer.concat([buf, d])
      for (let p = parseResp(buf); p !== undefined; p = parseResp(buf)) {
        replies.push(p.value)
        buf = buf.subarray(p.next)
      }
      if (replies.length === commands.length) {
        socket.end()
        resolve(replies)
      }
    })
    socket.on('error', reject)
  })
}

describe('startSecureRedis', () => {
  let redis: SecureRedisServer
  afterAll(async () => {
    await redis?.close()
  })

  it('an ACL user over TLS may do what its rules grant, and nothing else (NOPERM)', async () => {
    redis = await startSecureRedis({
      users: [{ name: 'app', password: 'pw1', rules: '~tk:* &tk:* -@all +get +set' }],
    })
    const [auth, set, get, other, flush] = await overTls(redis.tlsPort, redis.ca, [
      ['AUTH', 'app', 'pw1'],
      ['SET', 'tk:a', '1'],
      ['GET', 'tk:a'],
      ['SET', 'other', '1'],
      ['FLUSHALL'],
    ])
    expect([auth, set, get]).toEqual(['OK', 'OK', '1'])
    expect(other).toBeInstanceOf(RespError)
    expect(String(other)).toMatch(/NOPERM/)
    expect(String(flush)).toMatch(/NOPERM.*flushall/i)
    expect(redis.urlFor('app')).toBe(`rediss://app:pw1@127.0.0.1:${redis.tlsPort}`)
  })

  it('the plain port is the admin connection (default user, every command)', async () => {
    expect(await redisCommand(redis, ['GET', 'tk:a'])).toBe('1')
    expect(await redisCommand(redis, ['CONFIG', 'GET', 'tls-port'])).toEqual([
      'tls-port',
      String(redis.tlsPort),
    ])
  })

  it('a client that does not trust the generated CA is refused', async () => {
    await expect(overTls(redis.tlsPort, undefined, [['PING']])).rejects.toThrow(
      /self.signed|unable to verify|certificate/i,
    )
  })

  it('bad users are refused before anything starts', async () => {
    await expect(startSecureRedis({ users: [{ name: 'a b', password: 'x', rules: '' }] })).rejects.toThrow(
      TypeError,
    )
    await expect(startSecureRedis({ users: [{ name: 'x', password: 'p w', rules: '' }] })).rejects.toThrow(
      TypeError,
    )
    await expect(
      startSecureRedis({ users: [{ name: 'x', password: 'p', rules: 'on\nuser evil' }] }),
    ).rejects.toThrow(TypeError)
    expect(() => redis.urlFor('nobody')).toThrow(TypeError)
  })
})
