import { existsSync } from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import { type RedisServer, RespError, redisCommand, startRedis, trackedCount } from '../src/index.js'
import { pidDead, tryConnect, waitDead } from './helpers.js'

describe('startRedis', () => {
  const started: RedisServer[] = []
  afterAll(async () => {
    for (const r of started) await r.stop()
  })

  it('starts a real redis-server on a free loopback port that answers PING', async () => {
    const redis = await startRedis()
    started.push(redis)
    expect(redis.host).toBe('127.0.0.1')
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`)
    expect(redis.running).toBe(true)
    expect(await redisCommand(redis, ['PING'])).toBe('PONG')
    // it is really redis-server, with its own data dir and no RDB snapshots
    const info = await redisCommand(redis, ['INFO', 'server'])
    expect(String(info)).toMatch(/redis_version:7\./)
    expect(String(info)).toContain(`tcp_port:${redis.port}`)
    expect(await redisCommand(redis, ['CONFIG', 'GET', 'save'])).toEqual(['save', ''])
    expect(await redisCommand(redis, ['CONFIG', 'GET', 'dir'])).toEqual(['dir', redis.dir])
    expect(await redisCommand(redis, ['CONFIG', 'GET', 'bind'])).toEqual(['bind', '127.0.0.1'])
    expect(trackedCount().children).toBeGreaterThanOrEqual(1)
  })

  it('two servers get different ports and do not share keys', async () => {
    const [a, b] = await Promise.all([startRedis(), startRedis()])
    started.push(a!, b!)
    expect(a!.port).not.toBe(b!.port)
    expect(await redisCommand(a!, ['SET', 'k', 'a'])).toBe('OK')
    expect(await redisCommand(b!, ['GET', 'k'])).toBeNull()
  })

  it('requires the password when one is set, and puts it in the url', async () => {
    const redis = await startRedis({ password: 's3cret' })
    started.push(redis)
    expect(redis.url).toBe(`redis://:s3cret@127.0.0.1:${redis.port}`)
    const denied = await redisCommand(redis, ['PING'])
    expect(denied).toBeInstanceOf(RespError)
    expect(String((denied as RespError).message)).toMatch(/NOAUTH/)
    expect(await redisCommand(redis, ['PING'], { password: 's3cret' })).toBe('PONG')
    await expect(startRedis({ password: 'has space' })).rejects.toThrow(
      'startRedis: password must be a non-empty string without whitespace',
    )
  })

  it('restart() keeps the port, the data dir and (with appendonly) the data', async () => {
    const redis = await startRedis({ appendonly: true })
    started.push(redis)
    expect(await redisCommand(redis, ['CONFIG', 'GET', 'appendonly'])).toEqual(['appendonly', 'yes'])
    await redisCommand(redis, ['SET', 'survives', 'yes'])
    const pidBefore = redis.pid!
    await redis.restart()
    expect(redis.pid).not.toBe(pidBefore)
    expect(await waitDead(pidBefore)).toBe(true)
    expect(await redisCommand(redis, ['GET', 'survives'])).toBe('yes')
  })

  it('without appendonly a restart starts empty (no snapshot is written)', async () => {
    const redis = await startRedis()
    started.push(redis)
    await redisCommand(redis, ['SET', 'gone', '1'])
    await redis.restart()
    expect(await redisCommand(redis, ['GET', 'gone'])).toBeNull()
  })

  it('kill() really kills with SIGKILL; with appendfsync always the data survives a restart', async () => {
    const redis = await startRedis({ appendonly: true, appendfsync: 'always' })
    started.push(redis)
    await redisCommand(redis, ['SET', 'durable', '42'])
    const pid = redis.pid!
    await redis.kill()
    expect(pidDead(pid)).toBe(true)
    expect(redis.running).toBe(false)
    expect(redis.pid).toBeUndefined()
    expect(await tryConnect(redis.port)).toBe('ECONNREFUSED')
    await expect(redisCommand(redis, ['PING'], { timeoutMs: 500 })).rejects.toThrow()
    // SIGKILL means no shutdown hook ran: the log has no "ready to exit" line
    expect(redis.log()).not.toMatch(/ready to exit/i)
    await redis.restart()
    expect(await redisCommand(redis, ['GET', 'durable'])).toBe('42')
  })

  it('stop() is graceful and idempotent; restart() after stop() comes back on the same port', async () => {
    const redis = await startRedis()
    started.push(redis)
    const pid = redis.pid!
    await redis.stop()
    await redis.stop()
    expect(pidDead(pid)).toBe(true)
    expect(redis.log()).toMatch(/ready to exit/i)
    expect(await tryConnect(redis.port)).toBe('ECONNREFUSED')
    await redis.restart()
    expect(await redisCommand(redis, ['PING'])).toBe('PONG')
    expect(existsSync(redis.dir)).toBe(true)
  })
})

describe('close()', () => {
  it('stops the server, removes its data dir and leaves nothing to reap', async () => {
    const before = trackedCount()
    const redis = await startRedis({ appendonly: true, detached: true })
    expect(await redisCommand(redis, ['PING'])).toBe('PONG')
    expect(trackedCount().dirs).toBe(before.dirs + 1)
    await redis.close()
    expect(redis.running).toBe(false)
    expect(existsSync(redis.dir)).toBe(false)
    expect(trackedCount()).toEqual(before)
    await redis.close()
  })
})
