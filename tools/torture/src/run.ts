/**
 * The orchestrator of one topology: starts the servers (Redis, Cluster or Sentinel; PostgreSQL schema; one nginx
 * per instance), forks the processes (instances, a flusher, the HTTP client), runs the warm-up, injects the planned
 * faults, quiesces, drains the write-behind queue, runs the final convergence reads, collects everything the
 * checker needs and stops it all (also on failure).
 */
import { type ChildProcess, fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import {
  type DelayProxy,
  delayProxy,
  type NginxServer,
  type RedisCluster,
  type RedisServer,
  type RespValue,
  redisCommand,
  type SentinelSet,
  startNginx,
  startRedis,
  startRedisCluster,
  startSentinel,
  trackChild,
} from '@tierkit/testkit/core'
import { HistoryWriter, now, readHistory } from './history.js'
import type { FaultPlan, Schedule, TopologyPlan } from './schedule.js'
import { slotOf } from './slot.js'
import { createSchema, dropSchema, pgUrl, readApplied, readFinal } from './store.js'
import type {
  AppliedEvent,
  ChildConfig,
  ChildMessage,
  FaultEvent,
  HistoryEvent,
  ParentMessage,
  RedisSpec,
  Topology,
} from './types.js'
import { allKeys, PRIVATE_MARKER } from './workload.js'

const here = dirname(fileURLToPath(import.meta.url))
const packageDir = join(here, '..')

/** Everything one topology's run produced, for the checker. */
export interface RunData {
  topology: Topology
  runId: string
  seed: number
  events: HistoryEvent[]
  applied: AppliedEvent[]
  final: Map<string, { lv: number; qv: number; enc: string }>
  /** `entries-added` of the write-behind stream at the end (undefined when the stream is gone or sharded) */
  streamEntriesAdded: number | undefined
  /** shards of the write-behind queue */
  queueShards: number
  /** files of the nginx caches that hold a body of the private handler */
  nginxPrivateFiles: string[]
  /** the final drain of the write-behind queue */
  drain: { ok: boolean; code?: string; msg?: string }
  startedAt: number
  endedAt: number
  /** where the packages under test came from */
  packagesRoot: string
}

/** Options of {@link runTopology}. */
export interface RunOptions {
  schedule: Schedule
  plan: TopologyPlan
  /** `packages` folder of another checkout (see `--against`); default: this checkout's builds */
  packagesRoot?: string | undefined
  /** progress lines */
  log?: (line: string) => void
  /** how long the final drain may take @default 12000 */
  drainTimeoutMs?: number
  /** keep the history folder (its path is logged) @default false */
  keepHistory?: boolean
}

class Child {
  readonly messages = new EventEmitter()
  private stderr = ''
  readonly untrack: () => void
  readonly gone: Promise<void>

  constructor(
    readonly name: string,
    readonly proc: ChildProcess,
  ) {
    this.messages.setMaxListeners(50)
    proc.on('message', (m: ChildMessage) => this.messages.emit(m.type, m))
    proc.stderr?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-8000)
    })
    this.untrack = trackChild(proc)
    this.gone = new Promise((resolve) => proc.once('exit', () => resolve()))
    void this.gone.then(this.untrack)
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null
  }

  send(m: ParentMessage): void {
    if (this.running) this.proc.send(m)
  }

  /** Waits for a message of `type`; rejects when the child exits first or time runs out. */
  waitFor<T extends ChildMessage['type']>(
    type: T,
    timeoutMs: number,
  ): Promise<Extract<ChildMessage, { type: T }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup()
        reject(new Error(`${this.name}: no '${type}' within ${timeoutMs} ms\n${this.stderr}`))
      }, timeoutMs)
      const onMsg = (m: Extract<ChildMessage, { type: T }>): void => {
        cleanup()
        resolve(m)
      }
      const onExit = (): void => {
        cleanup()
        reject(
          new Error(
            `${this.name} exited (${this.proc.exitCode ?? this.proc.signalCode}) before '${type}'\n${this.stderr}`,
          ),
        )
      }
      const cleanup = (): void => {
        clearTimeout(timer)
        this.messages.off(type, onMsg)
        this.proc.off('exit', onExit)
      }
      this.messages.on(type, onMsg)
      this.proc.once('exit', onExit)
    })
  }

  log(): string {
    return this.stderr
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.running) this.proc.kill(signal)
    await this.gone
  }

  /** Asks the child to exit; SIGKILL after `graceMs`. */
  async exit(graceMs = 8000): Promise<void> {
    if (!this.running) return
    this.send({ cmd: 'exit' })
    const t = setTimeout(() => {
      if (this.running) this.proc.kill('SIGKILL')
    }, graceMs)
    await this.gone
    clearTimeout(t)
  }
}

function forkChild(role: ChildConfig['role'], cfg: ChildConfig): Child {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VITEST')) env[k] = v
  const proc = fork(join(here, 'proc', `${role}.ts`), [JSON.stringify(cfg)], {
    cwd: packageDir,
    env,
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  })
  return new Child(cfg.name, proc)
}

function infoMap(v: RespValue): Record<string, RespValue> {
  const out: Record<string, RespValue> = {}
  if (!Array.isArray(v)) return out
  for (let i = 0; i + 1 < v.length; i += 2) out[String(v[i])] = v[i + 1]!
  return out
}

/** Slot ranges served by the Cluster master at `port`, read from a live node. */
async function slotsOf(live: { host: string; port: number }, port: number): Promise<Array<[number, number]>> {
  const r = await redisCommand(live, ['CLUSTER', 'SLOTS'])
  const out: Array<[number, number]> = []
  if (!Array.isArray(r)) return out
  for (const range of r) {
    if (!Array.isArray(range)) continue
    const [lo, hi, master] = range as [number, number, RespValue[]]
    if (Array.isArray(master) && Number(master[1]) === port) out.push([Number(lo), Number(hi)])
  }
  return out
}

async function clusterOk(nodes: RedisCluster['nodes']): Promise<boolean> {
  for (const n of nodes) {
    const r = await redisCommand(n, ['CLUSTER', 'INFO'], { timeoutMs: 1000 }).catch(() => '')
    const text = String(r)
    if (!text.includes('cluster_state:ok') || !text.includes('cluster_known_nodes:3')) return false
  }
  return true
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return []
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    try {
      if (statSync(p).isDirectory()) out.push(...filesUnder(p))
      else out.push(p)
    } catch {
      // removed meanwhile
    }
  }
  return out
}

/** Runs the plan of one topology and returns the collected data. */
export async function runTopology(o: RunOptions): Promise<RunData> {
  const { schedule, plan } = o
  const log = o.log ?? (() => {})
  const topology = plan.topology
  // names in Redis (queue, tag namespace, bus channel) follow from the seed, so that a seed replays the same
  // placement of keys on Cluster slots; the database schema is unique per run (runs may share PostgreSQL)
  const runId = `${topology.slice(0, 2)}${schedule.seed}`
  const dir = mkdtempSync(join(tmpdir(), `tierkit-torture-${runId}-`))
  const orch = new HistoryWriter(join(dir, 'orchestrator.jsonl'))
  const pg = { connectionString: pgUrl(), schema: `torture_${runId}_${randomBytes(4).toString('hex')}` }
  const keys = allKeys(schedule.workload)
  const children: Child[] = []
  const nginxes: NginxServer[] = []
  let redis: RedisServer | undefined
  let proxy: DelayProxy | undefined
  let cluster: RedisCluster | undefined
  let sentinel: SentinelSet | undefined
  let stopped: { pid: number } | undefined
  const startedAt = now()
  let faultId = 0
  const faults: FaultEvent[] = []

  const cleanup = async (): Promise<void> => {
    if (stopped) {
      try {
        process.kill(stopped.pid, 'SIGCONT')
      } catch {
        // gone
      }
    }
    await Promise.all(children.map((c) => c.exit(3000)))
    await Promise.all(nginxes.map((n) => n.stop()))
    await proxy?.close()
    await redis?.stop()
    await cluster?.stop()
    await sentinel?.stop()
    await dropSchema(pg.connectionString, pg.schema).catch(() => {})
    if (!o.keepHistory) rmSync(dir, { recursive: true, force: true })
    else log(`history kept in ${dir}`)
  }

  try {
    log(`[${topology}] starting servers (run ${runId})`)
    await createSchema(pg.connectionString, pg.schema, keys)
    let instanceSpec: RedisSpec
    let flusherSpec: RedisSpec
    if (topology === 'single') {
      redis = await startRedis({ appendonly: true, appendfsync: 'no' })
      proxy = await delayProxy({ host: redis.host, port: redis.port })
      instanceSpec = { kind: 'single', host: proxy.host, port: proxy.port }
      flusherSpec = { kind: 'single', host: redis.host, port: redis.port }
    } else if (topology === 'cluster') {
      cluster = await startRedisCluster({ masters: 3 })
      // without replicas: let the live masters keep serving their slots while one is down
      for (const n of cluster.nodes)
        await redisCommand(n, ['CONFIG', 'SET', 'cluster-require-full-coverage', 'no'])
      instanceSpec = { kind: 'cluster', nodes: cluster.nodes.map((n) => ({ host: n.host, port: n.port })) }
      flusherSpec = instanceSpec
    } else {
      sentinel = await startSentinel()
      instanceSpec = { kind: 'sentinel', sentinels: [...sentinel.sentinels], name: sentinel.name }
      flusherSpec = instanceSpec
    }

    const base = {
      seed: schedule.seed,
      pg,
      packagesRoot: o.packagesRoot,
      workload: schedule.workload,
      topology,
      runId,
    }
    let flusherCount = 0
    const startFlusher = async (): Promise<Child> => {
      const name = `flusher${flusherCount++}`
      const c = forkChild('flusher', {
        ...base,
        role: 'flusher',
        name,
        index: flusherCount,
        seed: schedule.seed + 1000 + flusherCount,
        historyFile: join(dir, `${name}.jsonl`),
        redis: flusherSpec,
        consumer: `${runId}-${name}`,
      })
      children.push(c)
      await c.waitFor('ready', 60_000)
      return c
    }
    let flusher = await startFlusher()
    const instances: Child[] = []
    const ports: number[] = []
    await Promise.all(
      Array.from({ length: schedule.instances }, async (_, i) => {
        const name = `inst${i}`
        const c = forkChild('instance', {
          ...base,
          role: 'instance',
          name,
          index: i,
          seed: schedule.seed + 100 + i,
          historyFile: join(dir, `${name}.jsonl`),
          redis: instanceSpec,
          invalidation: topology !== 'cluster' && i % 2 === 1 ? 'tracking' : 'bus',
          instances: schedule.instances,
        })
        children.push(c)
        instances[i] = c
        ports[i] = (await c.waitFor('ready', 60_000)).port ?? 0
      }),
    )
    for (const port of ports) {
      nginxes.push(
        await startNginx({
          upstream: port,
          config: { extra: '      proxy_cache_bypass $http_x_torture_purge;' },
        }),
      )
    }
    const edges = nginxes.map((n) => n.url)
    const client = forkChild('client', {
      ...base,
      role: 'client',
      name: 'client',
      index: 0,
      seed: schedule.seed + 999,
      historyFile: join(dir, 'client.jsonl'),
      redis: instanceSpec,
    })
    children.push(client)
    await client.waitFor('ready', 60_000)

    orch.add({ t: 'phase', at: now(), phase: 'start' })
    for (const c of [...instances, client]) c.send({ cmd: 'start', edges })
    log(
      `[${topology}] ${schedule.instances} instances, 1 flusher, 1 client, ${nginxes.length} nginx; warm-up ${plan.warmupMs} ms`,
    )
    await sleep(plan.warmupMs)
    orch.add({ t: 'phase', at: now(), phase: 'faults' })

    const queueKey = `wb:{q-${runId}}:q`
    /** `entries-added` of the queue stream now (undefined when it does not exist or cannot be read) */
    const streamAdded = async (): Promise<number | undefined> => {
      let where: { host: string; port: number } | undefined
      if (redis) where = redis
      else if (sentinel) where = await sentinel.masterAddress().catch(() => undefined)
      else if (cluster) {
        const slot = slotOf(queueKey)
        for (const n of cluster.nodes) {
          const ranges = await slotsOf(cluster.nodes.find((x) => x.running) ?? n, n.port).catch(() => [])
          if (ranges.some(([a, b]) => slot >= a && slot <= b)) where = n
        }
      }
      if (!where) return undefined
      const info = await redisCommand(where, ['XINFO', 'STREAM', queueKey], { timeoutMs: 1000 }).catch(
        () => null,
      )
      const m = infoMap(info as RespValue)
      return m['entries-added'] === undefined ? undefined : Number(m['entries-added'])
    }

    const record = (f: Omit<FaultEvent, 't' | 'id' | 'topology'>): void => {
      const e: FaultEvent = { t: 'fault', id: faultId++, topology, ...f }
      faults.push(e)
      orch.add(e)
      log(
        `[${topology}] fault ${e.id} ${e.fault}${e.target ? ` (${e.target})` : ''}: ${Math.round(e.end - e.start)} ms${e.detail ? `, ${e.detail}` : ''}`,
      )
    }

    const inject = async (f: FaultPlan): Promise<void> => {
      switch (f.kind) {
        case 'redis-sigkill': {
          const start = now()
          await redis!.kill()
          await sleep(f.durationMs)
          await redis!.restart()
          record({ fault: f.kind, start, end: now(), outage: true, dataLoss: false, detail: 'AOF kept' })
          return
        }
        case 'redis-restart-empty': {
          const added = await streamAdded()
          const start = now()
          await redis!.kill()
          for (const name of readdirSync(redis!.dir)) {
            if (name.startsWith('appendonly') || name.endsWith('.rdb'))
              rmSync(join(redis!.dir, name), { recursive: true, force: true })
          }
          await sleep(f.durationMs)
          await redis!.restart()
          record({
            fault: f.kind,
            start,
            end: now(),
            outage: true,
            dataLoss: true,
            lossAt: start,
            detail: 'AOF and RDB removed',
            ...(added === undefined ? {} : { streamEntriesAdded: added }),
          })
          return
        }
        case 'redis-sigstop': {
          const pid = redis!.pid!
          const start = now()
          process.kill(pid, 'SIGSTOP')
          stopped = { pid }
          await sleep(f.durationMs)
          process.kill(pid, 'SIGCONT')
          stopped = undefined
          record({ fault: f.kind, start, end: now(), outage: true, dataLoss: false })
          return
        }
        case 'redis-flushall': {
          const added = await streamAdded()
          const start = now()
          await redisCommand(redis!, ['FLUSHALL'])
          const end = now()
          record({
            fault: f.kind,
            start,
            end,
            outage: false,
            dataLoss: true,
            lossAt: start,
            ...(added === undefined ? {} : { streamEntriesAdded: added }),
          })
          return
        }
        case 'proxy-delay': {
          const latency = f.latencyMs ?? 400
          const start = now()
          proxy!.setLatency(latency)
          // then the link resets while a burst of write-behind writes awaits its replies: Redis has run those
          // commands, their replies are lost, the clients see a dropped connection (and ioredis sends them again)
          const burstAt = Math.max(0, f.durationMs - Math.round(latency * 1.5))
          await sleep(burstAt)
          for (const c of instances) c.send({ cmd: 'write-burst', fam: 'wb' })
          await sleep(f.durationMs - burstAt)
          const dropped = proxy!.dropConnections()
          proxy!.setLatency(0)
          record({
            fault: f.kind,
            start,
            end: now(),
            outage: true,
            dataLoss: false,
            detail: `+${latency} ms each way, then ${dropped} connections reset under a burst of queue writes`,
          })
          return
        }
        case 'instance-stall': {
          const target = instances[(f.target ?? 0) % instances.length]!
          const start = now()
          target.send({ cmd: 'stall', ms: f.durationMs })
          await target.waitFor('stalled', 30_000)
          record({ fault: f.kind, start, end: now(), outage: false, dataLoss: false, target: target.name })
          return
        }
        case 'flusher-sigkill': {
          const start = now()
          flusher.send({ cmd: 'arm-kill' })
          let detail = 'mid-batch (committed to the database, not acknowledged in Redis)'
          await flusher.waitFor('in-batch', 6000).catch(() => {
            detail = 'no batch came within 6 s: killed between batches'
          })
          const victim = flusher.name
          await flusher.kill('SIGKILL')
          await sleep(300)
          flusher = await startFlusher()
          record({ fault: f.kind, start, end: now(), outage: false, dataLoss: false, target: victim, detail })
          return
        }
        case 'cluster-master-kill': {
          const node = cluster!.nodes[(f.target ?? 0) % cluster!.nodes.length]!
          const live = cluster!.nodes.find((n) => n !== node)!
          const slots = await slotsOf(live, node.port)
          const qs = slotOf(queueKey)
          const added = slots.some(([a, b]) => qs >= a && qs <= b) ? await streamAdded() : undefined
          const start = now()
          await node.kill()
          await sleep(f.durationMs)
          await node.restart()
          await redisCommand(node, ['CONFIG', 'SET', 'cluster-require-full-coverage', 'no'])
          const deadline = Date.now() + 30_000
          while (!(await clusterOk(cluster!.nodes)) && Date.now() < deadline) await sleep(50)
          record({
            fault: f.kind,
            start,
            end: now(),
            outage: true,
            dataLoss: true,
            lossAt: start,
            slots,
            target: `127.0.0.1:${node.port}`,
            detail: `${slots.reduce((n, [a, b]) => n + b - a + 1, 0)} slots, back empty`,
            ...(added === undefined ? {} : { streamEntriesAdded: added }),
          })
          return
        }
        case 'sentinel-failover':
        case 'sentinel-primary-kill': {
          const old = await sentinel!.masterAddress()
          const start = now()
          let next: { port: number }
          if (f.kind === 'sentinel-failover') {
            next = await sentinel!.failover({ waitForReplica: false })
          } else {
            // SIGKILL: no shutdown, the sentinels notice after down-after-milliseconds and promote the replica
            const node = await sentinel!.kill('primary')
            next = await sentinel!.waitForNewPrimary(old.port, 60_000)
            await node.restart()
          }
          const promoted = now()
          // until the old primary is back as a replica of the new one, a client still connected to it writes to
          // a node whose writes the new primary never sees: the outage (and possible loss) lasts until then
          await sentinel!.waitForReplica(60_000)
          record({
            fault: f.kind,
            start,
            end: now(),
            outage: true,
            dataLoss: true,
            lossAt: start,
            target: `${old.port} -> ${next.port}`,
            detail: `${f.kind === 'sentinel-failover' ? '' : 'SIGKILL, '}promoted after ${Math.round(promoted - start)} ms`,
          })
          return
        }
      }
    }

    for (const f of plan.faults) {
      await inject(f)
      await sleep(plan.gapMs)
    }

    orch.add({ t: 'phase', at: now(), phase: 'quiesce' })
    log(`[${topology}] quiesce`)
    await Promise.all(
      [...instances, client].map(async (c) => {
        c.send({ cmd: 'stop' })
        await c.waitFor('stopped', 30_000)
      }),
    )
    orch.add({ t: 'phase', at: now(), phase: 'drain' })
    const drainTimeoutMs = o.drainTimeoutMs ?? 12_000
    flusher.send({ cmd: 'flush', timeoutMs: drainTimeoutMs })
    const flushed = await flusher.waitFor('flushed', drainTimeoutMs + 15_000).catch((e: unknown) => ({
      type: 'flushed' as const,
      ok: false,
      code: 'E_NO_ANSWER',
      msg: String((e as Error).message).slice(0, 300),
    }))
    const drain = {
      ok: flushed.ok,
      ...(flushed.code ? { code: flushed.code } : {}),
      ...(flushed.msg ? { msg: flushed.msg } : {}),
    }
    log(`[${topology}] drain: ${drain.ok ? 'ok' : `${drain.code} ${drain.msg ?? ''}`}`)

    // the final convergence reads start more than the healthy bound after the last write
    await sleep(1500)
    orch.add({ t: 'phase', at: now(), phase: 'sweep' })
    await Promise.all(
      [...instances, client].map(async (c) => {
        c.send({ cmd: 'sweep' })
        await c.waitFor('swept', 60_000)
      }),
    )
    orch.add({ t: 'phase', at: now(), phase: 'end' })

    // what the checker needs from the servers before they stop: the queue's shard count (recorded by the writers
    // of a sharded queue), and the stream's counter when the queue is one stream
    let queueShards = 1
    {
      const k = `wb:{q-${runId}}:shards`
      let where: { host: string; port: number } | undefined = redis
      if (sentinel) where = await sentinel.masterAddress().catch(() => undefined)
      if (cluster) {
        const slot = slotOf(k)
        for (const n of cluster.nodes) {
          const ranges = await slotsOf(cluster.nodes[0]!, n.port).catch(() => [])
          if (ranges.some(([a, b]) => slot >= a && slot <= b)) where = n
        }
      }
      const v = where ? await redisCommand(where, ['GET', k], { timeoutMs: 1000 }).catch(() => null) : null
      if (typeof v === 'string' && Number.isSafeInteger(Number(v)) && Number(v) > 0) queueShards = Number(v)
    }
    const streamEntriesAdded = queueShards === 1 ? await streamAdded() : undefined
    const nginxPrivateFiles: string[] = []
    nginxes.forEach((n, i) => {
      for (const f of filesUnder(join(n.dir, 'cache'))) {
        try {
          if (readFileSync(f).includes(PRIVATE_MARKER))
            nginxPrivateFiles.push(`edge${i}:${f.slice(n.dir.length)}`)
        } catch {
          // unreadable
        }
      }
    })
    const applied = await readApplied(pg.connectionString, pg.schema)
    const final = await readFinal(pg.connectionString, pg.schema)
    orch.flush()
    for (const c of children) c.send({ cmd: 'exit' })
    await Promise.all(children.map((c) => c.exit(8000)))
    const events = readHistory(dir)
    const endedAt = now()
    log(
      `[${topology}] done in ${Math.round((endedAt - startedAt) / 1000)} s: ${events.length} events, ${applied.length} store saves`,
    )
    return {
      topology,
      runId,
      seed: schedule.seed,
      events,
      applied,
      final,
      streamEntriesAdded,
      queueShards,
      nginxPrivateFiles,
      drain,
      startedAt,
      endedAt,
      packagesRoot: o.packagesRoot ?? 'workspace',
    }
  } catch (e) {
    for (const c of children) if (c.log()) log(`--- ${c.name} stderr ---\n${c.log()}`)
    throw e
  } finally {
    await cleanup()
  }
}
