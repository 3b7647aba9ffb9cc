import { existsSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { RespError, type RespValue, redisCommand, type SentinelSet, startSentinel } from '../src/index.js'
import { pidDead, waitDead } from './helpers.js'

async function role(port: number): Promise<string> {
  const r = await redisCommand({ host: '127.0.0.1', port }, ['ROLE'])
  return Array.isArray(r) ? String(r[0]) : `error: ${String(r)}`
}

async function get(port: number, key: string): Promise<RespValue> {
  return redisCommand({ host: '127.0.0.1', port }, ['GET', key])
}

/** Replication and failover are asynchronous: poll (bounded). */
const polled = { timeout: 15_000, interval: 50 }

describe('startSentinel', () => {
  let set: SentinelSet
  beforeAll(async () => {
    set = await startSentinel()
  }, 60_000)
  afterAll(async () => {
    await set?.stop()
  })

  it('starts a primary, a replica in sync and three sentinels that agree on the primary', async () => {
    expect(set.name).toBe('tierkit')
    expect(set.sentinels).toHaveLength(3)
    expect(set.nodes).toHaveLength(2)
    const ports = [...set.sentinels.map((s) => s.port), ...set.nodes.map((n) => n.port)]
    expect(new Set(ports).size).toBe(5)
    const [a, b] = set.nodes as [(typeof set.nodes)[0], (typeof set.nodes)[0]]
    expect(await set.masterAddress()).toEqual({ host: '127.0.0.1', port: a.port })
    expect(await role(a.port)).toBe('master')
    expect(await role(b.port)).toBe('slave')
    for (const s of set.sentinels) {
      expect(await redisCommand(s, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'tierkit'])).toEqual([
        '127.0.0.1',
        String(a.port),
      ])
      const replicas = (await redisCommand(s, ['SENTINEL', 'REPLICAS', 'tierkit'])) as RespValue[]
      expect(replicas).toHaveLength(1)
      const others = (await redisCommand(s, ['SENTINEL', 'SENTINELS', 'tierkit'])) as RespValue[]
      expect(others).toHaveLength(2)
    }
    // a write on the primary reaches the replica
    expect(await redisCommand(a, ['SET', 'k', 'v1'])).toBe('OK')
    await vi.waitFor(async () => expect(await get(b.port, 'k')).toBe('v1'), polled)
    // the replica refuses writes
    expect(await redisCommand(b, ['SET', 'k', 'x'])).toBeInstanceOf(RespError)
  })

  it('failover() promotes the replica, the old primary follows it, and a second failover swaps them back', async () => {
    const [a, b] = set.nodes as [(typeof set.nodes)[0], (typeof set.nodes)[0]]
    await redisCommand(a, ['SET', 'before', '1'])
    await vi.waitFor(async () => expect(await get(b.port, 'before')).toBe('1'), polled)
    const next = await set.failover()
    expect(next).toEqual({ host: '127.0.0.1', port: b.port })
    expect(await set.masterAddress()).toEqual(next)
    expect(await role(b.port)).toBe('master')
    expect(await role(a.port)).toBe('slave')
    expect(await get(b.port, 'before')).toBe('1')
    expect(await redisCommand(b, ['SET', 'after', '2'])).toBe('OK')
    expect((await set.primary())?.port).toBe(b.port)
    // replication is asynchronous: fail back only once the write reached the old primary (else it is lost)
    await vi.waitFor(async () => expect(await get(a.port, 'after')).toBe('2'), polled)
    // without waiting for the old primary: it answers as soon as the new one is agreed
    const back = await set.failover({ waitForReplica: false })
    expect(back.port).toBe(a.port)
    expect(await role(a.port)).toBe('master')
    expect(await get(a.port, 'after')).toBe('2')
    await set.waitForReplica()
    expect(await role(b.port)).toBe('slave')
  }, 90_000)

  it('kill("primary") makes the sentinels fail over by themselves; the killed node restarts as a replica', async () => {
    const old = await set.masterAddress()
    const killed = await set.kill('primary')
    expect(killed.port).toBe(old.port)
    expect(killed.running).toBe(false)
    const next = await set.waitForNewPrimary(old.port, 30_000)
    expect(next.port).not.toBe(old.port)
    expect(await role(next.port)).toBe('master')
    await killed.restart()
    expect(killed.running).toBe(true)
    await vi.waitFor(async () => expect(await role(killed.port)).toBe('slave'), polled)
  }, 90_000)

  it('stop() stops every process and removes the folder', async () => {
    const other = await startSentinel({ name: 'other', downAfterMs: 2000 })
    const pids = [
      ...other.nodes.map((n) => n.pid!),
      ...(await Promise.all(
        other.sentinels.map(async (s) =>
          Number(String(await redisCommand(s, ['INFO', 'server'])).match(/process_id:(\d+)/)![1]),
        ),
      )),
    ]
    expect(pids).toHaveLength(5)
    expect(existsSync(other.dir)).toBe(true)
    await other.stop()
    for (const pid of pids) expect(await waitDead(pid)).toBe(true)
    expect(pids.every(pidDead)).toBe(true)
    expect(existsSync(other.dir)).toBe(false)
  }, 60_000)

  it('rejects bad options with a TypeError', async () => {
    await expect(startSentinel({ quorum: 0 })).rejects.toThrow(
      'startSentinel: quorum must be a positive integer',
    )
    await expect(startSentinel({ quorum: 4 })).rejects.toThrow('startSentinel: quorum must be at most 3')
    await expect(startSentinel({ name: 'a b' })).rejects.toThrow(TypeError)
    await expect(startSentinel({ downAfterMs: 1.5 })).rejects.toThrow(
      'startSentinel: downAfterMs must be a positive integer',
    )
  })
})
