/** `startRedisCluster`: a real Redis Cluster of N masters on loopback, joined with `redis-cli --cluster create`. */
import { type ChildProcess, execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort } from './ports.js'
import { exited, isRunning, terminate, trackDir } from './processes.js'
import { portTaken, spawnRedis } from './redis.js'
import { redisCommand } from './redis-resp.js'

/** Options of {@link startRedisCluster}. */
export interface StartRedisClusterOptions {
  /** Number of masters (no replicas); redis-cli needs at least 3. @default 3 */
  masters?: number
  /** How long to wait for the cluster to report `cluster_state:ok` on every node. @default 30000 */
  startTimeoutMs?: number
}

/** One node of a cluster started by {@link startRedisCluster}. */
export interface RedisClusterNode {
  /** Always `127.0.0.1`. */
  readonly host: string
  /** Client port of the node. */
  readonly port: number
  /** Cluster bus port of the node (`--cluster-port`). */
  readonly busPort: number
  /** Data dir (nodes.conf, log). */
  readonly dir: string
  /** True while the process runs. */
  readonly running: boolean
  /** Stops the node gracefully and waits for it to exit. */
  stop(): Promise<void>
  /** Kills the node with SIGKILL and waits for it to exit. */
  kill(): Promise<void>
  /** Starts the node again on the same ports and dir (it rejoins from nodes.conf) and waits for PING. */
  restart(): Promise<void>
}

/** A running Redis Cluster started by {@link startRedisCluster}. */
export interface RedisCluster {
  /** The master nodes, in the order they were given to `redis-cli --cluster create`. */
  readonly nodes: RedisClusterNode[]
  /** `redis://127.0.0.1:PORT` for each node. */
  readonly urls: string[]
  /** Stops every node and waits for them to exit. Idempotent. */
  stop(): Promise<void>
}

function redisCliBin(): string {
  const env = process.env.REDIS_CLI_BIN
  if (env) return env
  return existsSync('/usr/bin/redis-cli') ? '/usr/bin/redis-cli' : 'redis-cli'
}

async function startNode(): Promise<{
  child: ChildProcess
  port: number
  busPort: number
  dir: string
  args: string[]
}> {
  const dir = mkdtempSync(join(tmpdir(), 'tierkit-redis-cluster-'))
  trackDir(dir)
  for (let attempt = 0; ; attempt++) {
    const port = await freePort()
    const busPort = await freePort()
    const args = [
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      join(dir, 'nodes.conf'),
      '--cluster-port',
      String(busPort),
      '--cluster-node-timeout',
      '3000',
      '--appendonly',
      'no',
      '--save',
      '',
    ]
    try {
      const child = await spawnRedis(port, dir, args, {})
      return { child, port, busPort, dir, args }
    } catch (e) {
      if (attempt < 4 && portTaken(e)) continue
      throw e
    }
  }
}

function clusterInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':')
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim()
  }
  return out
}

/**
 * Starts a real Redis Cluster: `masters` redis-server processes with `--cluster-enabled yes` on free
 * loopback ports, joined with `redis-cli --cluster create ... --cluster-replicas 0 --cluster-yes`, and
 * resolves once every node reports `cluster_state:ok` with all 16384 slots assigned and knows every other
 * node. Everything is stopped when the test file ends or the process exits.
 * @throws TypeError when `masters` is not an integer of at least 3.
 * @example
 * const cluster = await startRedisCluster({ masters: 3 })
 * const client = new Cluster(cluster.nodes.map(({ host, port }) => ({ host, port })))
 */
export async function startRedisCluster(options: StartRedisClusterOptions = {}): Promise<RedisCluster> {
  const { masters = 3, startTimeoutMs = 30_000 } = options
  if (!Number.isInteger(masters) || masters < 3) {
    throw new TypeError('startRedisCluster: masters must be an integer >= 3')
  }
  const started = await Promise.all(Array.from({ length: masters }, () => startNode()))
  const nodes: RedisClusterNode[] = started.map((s) => {
    let current = s.child
    return {
      host: '127.0.0.1',
      port: s.port,
      busPort: s.busPort,
      dir: s.dir,
      get running() {
        return isRunning(current)
      },
      stop: () => terminate(current),
      async kill() {
        if (!isRunning(current)) return
        const gone = exited(current)
        current.kill('SIGKILL')
        await gone
      },
      async restart() {
        await terminate(current)
        current = await spawnRedis(s.port, s.dir, s.args, {})
      },
    }
  })
  const cluster: RedisCluster = {
    nodes,
    urls: nodes.map((n) => `redis://${n.host}:${n.port}`),
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()))
    },
  }
  try {
    await new Promise<void>((resolve, reject) => {
      execFile(
        redisCliBin(),
        [
          '--cluster',
          'create',
          ...nodes.map((n) => `${n.host}:${n.port}`),
          '--cluster-replicas',
          '0',
          '--cluster-yes',
        ],
        { timeout: startTimeoutMs },
        (err, stdout, stderr) => {
          if (err)
            reject(new Error(`redis-cli --cluster create failed: ${err.message}\n${stdout}\n${stderr}`))
          else resolve()
        },
      )
    })
    const deadline = Date.now() + startTimeoutMs
    for (const node of nodes) {
      for (;;) {
        const reply = await redisCommand(node, ['CLUSTER', 'INFO']).catch((e: unknown) => String(e))
        const info = clusterInfo(typeof reply === 'string' ? reply : '')
        if (
          info.cluster_state === 'ok' &&
          info.cluster_slots_ok === '16384' &&
          Number(info.cluster_known_nodes) === masters
        ) {
          break
        }
        if (Date.now() > deadline) {
          const log = readFileSync(join(node.dir, 'redis.log'), 'utf8').split('\n').slice(-10).join('\n')
          throw new Error(`cluster node ${node.port} not ready: ${String(reply)}\n${log}`)
        }
        await sleep(50)
      }
    }
  } catch (e) {
    await cluster.stop()
    throw e
  }
  return cluster
}
