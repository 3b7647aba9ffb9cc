import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import {
  type RedisCluster,
  RespError,
  type RespValue,
  redisCommand,
  startRedisCluster,
} from '../src/index.js'
import { pidDead } from './helpers.js'

describe('startRedisCluster', () => {
  let cluster: RedisCluster
  beforeAll(async () => {
    cluster = await startRedisCluster({ masters: 3 })
  }, 60_000)
  afterAll(async () => {
    await cluster?.stop()
  })

  it('starts 3 masters on distinct loopback ports, each reporting cluster_state:ok', async () => {
    expect(cluster.nodes).toHaveLength(3)
    expect(new Set(cluster.nodes.map((n) => n.port)).size).toBe(3)
    expect(cluster.urls).toEqual(cluster.nodes.map((n) => `redis://127.0.0.1:${n.port}`))
    for (const node of cluster.nodes) {
      const info = String(await redisCommand(node, ['CLUSTER', 'INFO']))
      expect(info).toContain('cluster_state:ok')
      expect(info).toContain('cluster_known_nodes:3')
      expect(info).toContain('cluster_size:3')
    }
  })

  it('covers all 16384 slots exactly once, split over the 3 masters', async () => {
    const slots = (await redisCommand(cluster.nodes[0]!, ['CLUSTER', 'SLOTS'])) as RespValue[][]
    const owner = new Array<number | undefined>(16384)
    const masters = new Set<number>()
    for (const range of slots) {
      const [start, end, master] = range as [number, number, RespValue[]]
      const port = master[1] as number
      masters.add(port)
      for (let s = start; s <= end; s++) {
        expect(owner[s]).toBeUndefined()
        owner[s] = port
      }
    }
    expect(owner.filter((p) => p !== undefined)).toHaveLength(16384)
    expect([...masters].sort()).toEqual(cluster.nodes.map((n) => n.port).sort())
  })

  it('routes keys: exactly one node accepts a key, the others answer MOVED', async () => {
    const replies = await Promise.all(cluster.nodes.map((n) => redisCommand(n, ['SET', '{user}:1', 'x'])))
    expect(replies.filter((r) => r === 'OK')).toHaveLength(1)
    const moved = replies.filter((r): r is RespError => r instanceof RespError)
    expect(moved).toHaveLength(2)
    for (const m of moved) expect(m.message).toMatch(/^MOVED \d+ 127\.0\.0\.1:\d+$/)
  })

  it('rejects fewer than 3 masters with a TypeError', async () => {
    await expect(startRedisCluster({ masters: 2 })).rejects.toThrow(
      'startRedisCluster: masters must be an integer >= 3',
    )
  })

  it('a node can be killed and restarted; it rejoins the cluster', async () => {
    const node = cluster.nodes[2]!
    await node.kill()
    expect(node.running).toBe(false)
    await node.restart()
    expect(node.running).toBe(true)
    await vi.waitFor(
      async () => expect(String(await redisCommand(node, ['CLUSTER', 'INFO']))).toContain('cluster_state:ok'),
      { timeout: 10_000, interval: 50 },
    )
  }, 30_000)

  it('stop() stops every node', async () => {
    const other = await startRedisCluster({ masters: 3 })
    const pids = await Promise.all(
      other.nodes.map(async (n) =>
        Number(String(await redisCommand(n, ['INFO', 'server'])).match(/process_id:(\d+)/)![1]),
      ),
    )
    await other.stop()
    for (const pid of pids) expect(pidDead(pid)).toBe(true)
  }, 60_000)
})
