/**
 * `--instances N` (N > 1): the supervisor. It starts the shared redis-server (unless REDIS_URL is set), forks N
 * instances of the CLI on consecutive ports from PORT (or free ports with PORT=0), sharing one Redis and one
 * database, and runs nginx in front of them with `--cdn`; the instances purge the CDN through it, and the first
 * one receives the CDN's lookups for its metrics. An instance that stops on its own takes the others down.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { type Cdn, startCdn } from './cdn.js'
import type { CdnPurgeMode, CdnPurgeResult } from './cdn-log.js'
import type { DemoConfig } from './config.js'
import { CHILD_ENV, type ToInstance, type ToSupervisor, toIpcReport } from './ipc.js'
import { closeBehindCdn, exitAfter, onSignals } from './lifecycle.js'
import { findRedisServer, type LocalRedis, startLocalRedis } from './redis-server.js'

/** The redis-server the instances share, when the supervisor starts one (its URL goes into `env`). */
async function sharedRedis(
  config: DemoConfig,
  instances: number,
  env: NodeJS.ProcessEnv,
): Promise<LocalRedis | undefined> {
  if (config.redisUrl !== undefined || config.redisMode !== 'auto') return undefined
  const bin = findRedisServer()
  if (!bin) {
    console.log(
      'redis: redis-server not found and REDIS_URL unset: each instance runs with its own L1 only (no cross-instance invalidation)',
    )
    env.DEMO_REDIS = 'off'
    return undefined
  }
  const redis = await startLocalRedis(bin)
  env.REDIS_URL = redis.url
  console.log(`redis: started redis-server at ${redis.url} (shared by the ${instances} instances)`)
  return redis
}

class Supervisor {
  readonly #config: DemoConfig
  readonly #env: NodeJS.ProcessEnv
  readonly #redis: LocalRedis | undefined
  readonly #children: ChildProcess[] = []
  /** The instances by `INSTANCE_ID`: a bus latency goes back to the writer. */
  readonly #byInstance = new Map<string, ChildProcess>()
  readonly #urls: string[] = []
  readonly #exits: Array<Promise<void>> = []
  readonly #cdnLookups: Array<['hit' | 'miss' | 'stale', number]> = []
  #cdn: Cdn | undefined
  stopping = false

  constructor(config: DemoConfig, env: NodeJS.ProcessEnv, redis: LocalRedis | undefined) {
    this.#config = config
    this.#env = env
    this.#redis = redis
  }

  /**
   * Stops every instance (each finishes its requests, purges included, and drains its write-behind queue), then
   * the CDN (stopped first, it cut the purges of the last writes: "socket hang up"), then the Redis they share.
   */
  async stopAll(): Promise<void> {
    const instances = async (): Promise<void> => {
      for (const c of this.#children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM')
      await Promise.all(this.#exits)
    }
    await closeBehindCdn({ close: instances }, this.#cdn)
    await this.#redis?.close()
  }

  stop(why: string, code = 0): void {
    if (this.stopping) return
    this.stopping = true
    console.log(`${why}: shutting down gracefully`)
    exitAfter(() => this.stopAll(), code)
  }

  /** Forks instance `i` (from 1); resolves once it listens. */
  start(i: number): Promise<void> {
    const config = this.#config
    const child = fork(process.argv[1]!, [], {
      env: {
        ...this.#env,
        PORT: String(config.port === 0 ? 0 : config.port + i - 1),
        INSTANCE_ID: `${config.instanceId}-${i}`,
      },
      execArgv: process.execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    this.#children[i - 1] = child
    this.#byInstance.set(`${config.instanceId}-${i}`, child)
    this.#exits.push(new Promise<void>((r) => child.once('exit', () => r())))
    child.on('message', (m: ToSupervisor) => {
      if (m.type === 'purge') this.#purge(child, m)
      else if (m.type === 'evicted') this.#busLatency(m)
    })
    return new Promise<void>((resolve, reject) => {
      const onExit = (code: number | null, signal: string | null): void => {
        reject(new Error(`instance ${i} exited during start-up (${signal ?? `code ${code}`})`))
      }
      child.once('exit', onExit)
      child.on('message', (m: ToSupervisor) => {
        if (m.type !== 'ready') return
        child.off('exit', onExit)
        this.#urls[i - 1] = m.url
        // an instance that stops on its own takes the others down with it
        child.once('exit', (code, signal) =>
          this.stop(`instance ${i} exited (${signal ?? `code ${code}`})`, 1),
        )
        console.log(`tierkit demo instance ${i} listening on ${m.url}  (pid ${m.pid}, dashboard: ${m.url}/)`)
        resolve()
      })
    })
  }

  /** Starts nginx in front of the instances; the CDN row of the metrics lives in the first instance. */
  async startCdn(): Promise<void> {
    this.#cdn = await startCdn({
      upstreams: this.#urls,
      onLookup: (outcome, ms) => {
        if (this.#cdnLookups.push([outcome, ms]) !== 1) return
        setImmediate(() => {
          const lookups = this.#cdnLookups.splice(0)
          const first = this.#children[0]
          if (first?.connected) first.send({ type: 'cdn', lookups } satisfies ToInstance)
        })
      },
    })
    console.log(
      `CDN (nginx proxy_cache) in front: ${this.#cdn.url}  (dashboard through the CDN: ${this.#cdn.url}/)`,
    )
  }

  /** Sends an instance's report of a bus message applied back to the instance that wrote. */
  #busLatency(m: { from: string; by: string; tags: readonly string[]; at: number }): void {
    const writer = this.#byInstance.get(m.from)
    if (writer?.connected)
      writer.send({ type: 'bus-latency', by: m.by, tags: m.tags, at: m.at } satisfies ToInstance)
  }

  #purge(child: ChildProcess, m: { id: number; tags: readonly string[]; mode: CdnPurgeMode }): void {
    const reply = (error?: string, r?: CdnPurgeResult): void => {
      const result = r === undefined ? undefined : toIpcReport(r)
      if (child.connected) child.send({ type: 'purged', id: m.id, error, result } satisfies ToInstance)
    }
    if (!this.#cdn) reply()
    else
      this.#cdn.purgeTags(m.tags, { mode: m.mode }).then(
        (r) => reply(undefined, r),
        (e: unknown) => reply(String(e)),
      )
  }
}

/** Runs the supervisor of `instances` instances (with nginx in front when `withCdn`). */
export async function runSupervisor(config: DemoConfig, instances: number, withCdn: boolean): Promise<void> {
  const env: NodeJS.ProcessEnv = { ...process.env, [CHILD_ENV]: '1', TIERKIT_DEMO_CDN: withCdn ? '1' : '0' }
  const redis = await sharedRedis(config, instances, env)
  const supervisor = new Supervisor(config, env, redis)
  onSignals((why) => supervisor.stop(why))
  try {
    // the first instance creates (and seeds) the database; the others then start together
    await supervisor.start(1)
    await Promise.all(Array.from({ length: instances - 1 }, (_, k) => supervisor.start(k + 2)))
    if (withCdn) await supervisor.startCdn()
  } catch (e) {
    supervisor.stopping = true
    await supervisor.stopAll()
    throw e
  }
}
