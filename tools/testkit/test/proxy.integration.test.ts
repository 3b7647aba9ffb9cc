import * as net from 'node:net'
import { performance } from 'node:perf_hooks'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import {
  type DelayProxy,
  delayProxy,
  encodeCommand,
  type RedisServer,
  redisCommand,
  startRedis,
} from '../src/index.js'
import { tryConnect } from './helpers.js'

/** A raw connection that sends commands and collects raw reply bytes. */
function rawClient(
  port: number,
): Promise<{ sock: net.Socket; received: () => string; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port })
    let data = ''
    sock.on('data', (d: Buffer) => {
      data += d.toString()
    })
    const closed = new Promise<void>((r) => sock.once('close', () => r()))
    sock.once('error', reject)
    sock.once('connect', () => resolve({ sock, received: () => data, closed }))
  })
}

const quick = { timeout: 5000, interval: 5 }

describe('delayProxy', () => {
  let redis: RedisServer
  let proxy: DelayProxy
  beforeAll(async () => {
    redis = await startRedis()
    proxy = await delayProxy({ host: redis.host, port: redis.port }, { latencyMs: 0 })
  })
  afterAll(async () => {
    await proxy?.close()
    await redis?.stop()
  })

  it('forwards Redis traffic on its own loopback port', async () => {
    expect(proxy.host).toBe('127.0.0.1')
    expect(proxy.port).not.toBe(redis.port)
    expect(await redisCommand(proxy, ['SET', 'via', 'proxy'])).toBe('OK')
    expect(await redisCommand(redis, ['GET', 'via'])).toBe('proxy')
  })

  it('adds latency: a delayed round trip is never faster than the configured latency', async () => {
    const direct: number[] = []
    const delayed: number[] = []
    for (let i = 0; i < 5; i++) {
      const t = performance.now()
      await redisCommand(redis, ['PING'])
      direct.push(performance.now() - t)
    }
    proxy.setLatency(40)
    expect(proxy.latencyMs).toBe(40)
    for (let i = 0; i < 5; i++) {
      const t = performance.now()
      expect(await redisCommand(proxy, ['PING'])).toBe('PONG')
      delayed.push(performance.now() - t)
    }
    proxy.setLatency(0)
    // measured only (no tight timing): report the figures, assert the lower bound
    console.log(
      `delayProxy 40 ms/direction: direct PING median ${median(direct).toFixed(2)} ms, delayed ${median(delayed).toFixed(2)} ms`,
    )
    for (const d of delayed) expect(d).toBeGreaterThanOrEqual(40)
  })

  it('keeps byte order when the latency changes while bytes are in flight', async () => {
    const c = await rawClient(proxy.port)
    const n = 60
    for (let i = 0; i < n; i++) {
      proxy.setLatency(i % 2 === 0 ? 30 : 0) // later chunks would overtake earlier ones if order were not kept
      c.sock.write(encodeCommand(['INCR', 'order']))
      await new Promise((r) => setImmediate(r))
    }
    proxy.setLatency(0)
    const expected = Array.from({ length: n }, (_, i) => `:${i + 1}\r\n`).join('')
    await vi.waitFor(() => expect(c.received().length).toBeGreaterThanOrEqual(expected.length), quick)
    expect(c.received()).toBe(expected)
    c.sock.destroy()
    await c.closed
  })

  it('rejects a bad latency with a TypeError and keeps the old one', () => {
    proxy.setLatency(5)
    expect(() => proxy.setLatency(-1)).toThrow(
      new TypeError('delayProxy: latencyMs must be a finite number >= 0'),
    )
    expect(() => proxy.setLatency(Number.NaN)).toThrow(TypeError)
    expect(proxy.latencyMs).toBe(5)
    proxy.setLatency(0)
  })

  it('rejects a bad target with a TypeError', async () => {
    await expect(delayProxy({ host: '127.0.0.1', port: 0 })).rejects.toThrow(
      'delayProxy: target must be { host: string, port: integer 1..65535 }',
    )
  })

  it('dropConnections() closes every open connection; new ones still work', async () => {
    const a = await rawClient(proxy.port)
    const b = await rawClient(proxy.port)
    await vi.waitFor(() => expect(proxy.connections).toBe(2), quick)
    expect(proxy.dropConnections()).toBe(2)
    await Promise.all([a.closed, b.closed])
    expect(a.sock.destroyed && b.sock.destroyed).toBe(true)
    expect(proxy.connections).toBe(0)
    expect(await redisCommand(proxy, ['PING'])).toBe('PONG')
  })

  it("setMode('refuse') makes new connections fail with ECONNREFUSED until 'pass' again", async () => {
    const open = await rawClient(proxy.port)
    await proxy.setMode('refuse')
    expect(proxy.mode).toBe('refuse')
    expect(await tryConnect(proxy.port)).toBe('ECONNREFUSED')
    // an existing connection is not affected
    open.sock.write(encodeCommand(['PING']))
    await vi.waitFor(() => expect(open.received()).toBe('+PONG\r\n'), quick)
    await proxy.setMode('pass')
    expect(await redisCommand(proxy, ['PING'])).toBe('PONG')
    open.sock.destroy()
  })

  it("setMode('blackhole') accepts connections but never answers", async () => {
    await proxy.setMode('blackhole')
    const before = proxy.accepted
    expect(await tryConnect(proxy.port)).toBe('connected')
    await expect(redisCommand(proxy, ['PING'], { timeoutMs: 300 })).rejects.toThrow(/timed out/)
    expect(proxy.accepted).toBeGreaterThan(before)
    await proxy.setMode('pass')
    expect(await redisCommand(proxy, ['PING'])).toBe('PONG')
  })

  it('close() stops listening and drops connections', async () => {
    const p = await delayProxy({ host: redis.host, port: redis.port })
    const c = await rawClient(p.port)
    await p.close()
    await c.closed
    expect(await tryConnect(p.port)).toBe('ECONNREFUSED')
    await p.close()
  })
})

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}
