/**
 * Write-behind on a Redis Cluster with one master down (issue 15, defect 8): the writes of keys whose queue
 * shard lives on a live master are acknowledged and applied while it is down; the dead master's keys are
 * refused (E_QUEUE_WRITE_FAILED, not acknowledged) and are applied again once it is back, or once its
 * replica has been promoted. Before the fix the whole queue lived in one slot: with that slot's master down,
 * no write of any key was acknowledged.
 *
 * The nodes run with `cluster-require-full-coverage no`: with the default (`yes`) a Cluster with a slot
 * uncovered refuses every key on every node, which no client can work around.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import {
  freePort,
  type RedisCluster,
  type RedisClusterNode,
  type RespValue,
  redisCommand,
  startRedis,
  startRedisCluster,
} from '@tierkit/testkit'
import { Cluster } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { createFlusher, queueKeys, writeBehind } from '../src/index.js'
import { MemoryStore } from './helpers/memory-store.js'

let cluster: RedisCluster
const closers: Array<() => Promise<unknown>> = []
beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3 })
  for (const n of cluster.nodes) {
    await redisCommand(n, ['CONFIG', 'SET', 'cluster-require-full-coverage', 'no'])
  }
})
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => {})
  await cluster.stop()
})

function client(): Cluster {
  const c = new Cluster(
    cluster.nodes.map(({ host, port }) => ({ host, port })),
    { redisOptions: { maxRetriesPerRequest: 1 } },
  )
  c.on('error', () => {})
  closers.push(async () => c.disconnect())
  return c
}

function text(v: RespValue): string {
  return typeof v === 'string' ? v : String(v)
}

/** The port of the master serving `key`, asked from a live node. */
async function masterOf(key: string, via: { host: string; port: number }): Promise<number> {
  const slot = Number(await redisCommand(via, ['CLUSTER', 'KEYSLOT', key]))
  const slots = (await redisCommand(via, ['CLUSTER', 'SLOTS'])) as RespValue[][]
  const range = slots.find((r) => Number(r[0]) <= slot && slot <= Number(r[1]))
  if (range === undefined) throw new Error(`no master serves slot ${slot}`)
  return Number((range[2] as RespValue[])[1])
}

async function clusterOk(node: { host: string; port: number }): Promise<boolean> {
  const info = text(await redisCommand(node, ['CLUSTER', 'INFO']).catch((e: unknown) => String(e)))
  return info.includes('cluster_state:ok')
}

type Acked = Map<string, number>

/** Writes every key at once; returns the acknowledged values and the refused keys (checking the error). */
async function writeAll(
  wb: ReturnType<typeof writeBehind<number>>,
  keys: readonly string[],
  value: number,
  acked: Acked,
): Promise<string[]> {
  const refused: string[] = []
  const codes: unknown[] = []
  await Promise.all(
    keys.map((k) =>
      wb.write(k, value).then(
        () => acked.set(k, value),
        (e: unknown) => {
          refused.push(k)
          codes.push((e as { code?: unknown }).code)
        },
      ),
    ),
  )
  // a write that is not acknowledged is refused with the typed error, never anything else
  expect(codes.filter((c) => c !== 'E_QUEUE_WRITE_FAILED')).toEqual([])
  return refused
}

function wrong(store: MemoryStore<number>, acked: Acked): string[] {
  return [...acked].filter(([k, v]) => store.value(k) !== v).map(([k]) => k)
}

const KEYS = Array.from({ length: 60 }, (_, i) => `user:${i}`)

describe('write-behind on a Cluster with a master down', () => {
  it('the other masters go on: their keys are acknowledged and applied; the dead one catches up when it is back', async () => {
    const name = 'cq1'
    const redis = client()
    const store = new MemoryStore<number>()
    const wb = writeBehind<number>({ redis, name })
    const flusher = createFlusher({ redis, name, store, pollInterval: 50, claimTimeout: 1_000 })
    closers.push(() => flusher.close({ timeout: 5_000 }))
    const acked: Acked = new Map()
    expect(await writeAll(wb, KEYS, 0, acked)).toEqual([])
    await wb.flush({ timeout: 20_000 })
    expect(wrong(store, acked)).toEqual([])

    // kill the master of the queue's first slot (before the fix: the queue's only slot)
    const live = cluster.nodes[0]!
    const victimPort = await masterOf(queueKeys(name).stream, live)
    const victim = cluster.nodes.find((n) => n.port === victimPort) as RedisClusterNode
    const other = cluster.nodes.find((n) => n !== victim)!
    await victim.kill()
    await vi.waitFor(
      async () => {
        const info = text(await redisCommand(other, ['CLUSTER', 'INFO']))
        expect(/cluster_slots_fail:[1-9]/.test(info), 'the others see the master fail').toBe(true)
      },
      { timeout: 30_000, interval: 50 },
    )
    const refused = await writeAll(wb, KEYS, 1, acked)
    const through = KEYS.filter((k) => !refused.includes(k))
    // before the fix: 0 of 60 acknowledged
    expect(through.length).toBeGreaterThan(0)
    // the flusher goes on with the live shards while the master is down
    await vi.waitFor(
      async () =>
        expect(
          await through.every((k) => store.value(k) === 1),
          'acknowledged writes applied during the outage',
        ).toBe(true),
      { timeout: 30_000, interval: 50 },
    )

    // the master comes back without its data (no persistence): its shards are re-created, and the keys
    // refused during the outage are accepted and applied again
    await victim.restart()
    await vi.waitFor(async () => expect(await clusterOk(victim), 'cluster ok').toBe(true), {
      timeout: 30_000,
      interval: 50,
    })
    let left = refused
    for (let round = 0; left.length > 0; round++) {
      expect(round).toBeLessThan(100)
      left = await writeAll(wb, left, 2, acked)
      if (left.length > 0) await sleep(100)
    }
    await wb.flush({ timeout: 30_000 })
    expect(wrong(store, acked)).toEqual([])
  })

  it('a replica promoted in place of a dead master: what it received is applied, and writes go on', async () => {
    for (const n of cluster.nodes) if (!n.running) await n.restart() // whatever the first test left
    for (const n of cluster.nodes)
      await vi.waitFor(async () => expect(await clusterOk(n), 'cluster ok').toBe(true), {
        timeout: 30_000,
        interval: 50,
      })
    const name = 'cq2'
    const redis = client()
    const store = new MemoryStore<number>()
    const wb = writeBehind<number>({ redis, name })
    const acked: Acked = new Map()
    expect(await writeAll(wb, KEYS, 0, acked)).toEqual([])
    // a replica for the master of the queue's first slot
    const live = cluster.nodes.find((n) => n.running)!
    const masterPort = await masterOf(queueKeys(name).stream, live)
    const master = cluster.nodes.find((n) => n.port === masterPort) as RedisClusterNode
    const busPort = await freePort()
    const replica = await startRedis({
      args: ['--cluster-enabled', 'yes', '--cluster-node-timeout', '3000', '--cluster-port', String(busPort)],
    })
    const masterId = text(await redisCommand(master, ['CLUSTER', 'MYID']))
    await redisCommand(replica, ['CLUSTER', 'MEET', master.host, String(master.port), String(master.busPort)])
    await vi.waitFor(
      async () =>
        expect(
          text(await redisCommand(replica, ['CLUSTER', 'NODES'])).includes(masterId),
          'the replica knows the master',
        ).toBe(true),
      { timeout: 30_000, interval: 50 },
    )
    await vi.waitFor(
      async () => {
        const r = await redisCommand(replica, ['CLUSTER', 'REPLICATE', masterId])
        expect(r === 'OK', 'replicating').toBe(true)
      },
      { timeout: 30_000, interval: 50 },
    )
    await vi.waitFor(
      async () => {
        const info = text(await redisCommand(replica, ['INFO', 'replication']))
        expect(info.includes('master_link_status:up'), 'in sync').toBe(true)
      },
      { timeout: 30_000, interval: 50 },
    )
    // nothing is applied yet (no flusher): the entries wait in the stream, on the master and the replica
    const offset = async (node: { host: string; port: number }, field: string): Promise<number> => {
      const info = text(await redisCommand(node, ['INFO', 'replication']))
      return Number(new RegExp(`${field}:(\\d+)`).exec(info)?.[1] ?? -1)
    }
    await vi.waitFor(
      async () =>
        expect(
          (await offset(replica, 'slave_repl_offset')) >= (await offset(master, 'master_repl_offset')),
          'the replica has everything',
        ).toBe(true),
      { timeout: 30_000, interval: 50 },
    )
    await master.kill()
    await vi.waitFor(
      async () => {
        const info = text(await redisCommand(replica, ['INFO', 'replication']))
        expect(info.includes('role:master') && (await clusterOk(replica)), 'the replica is promoted').toBe(
          true,
        )
      },
      { timeout: 60_000, interval: 50 },
    )
    const flusher = createFlusher({ redis, name, store, pollInterval: 50, claimTimeout: 1_000 })
    closers.push(() => flusher.close({ timeout: 5_000 }))
    // the entries queued before the failover are on the promoted replica: all are applied
    await wb.flush({ timeout: 30_000 })
    expect(wrong(store, acked)).toEqual([])
    let left = [...KEYS]
    for (let round = 0; left.length > 0; round++) {
      expect(round).toBeLessThan(100)
      left = await writeAll(wb, left, 1, acked)
      if (left.length > 0) await sleep(100)
    }
    await wb.flush({ timeout: 30_000 })
    expect(wrong(store, acked)).toEqual([])
  })
})
