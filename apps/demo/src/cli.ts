/**
 * `pnpm --filter @tierkit/demo start [--instances N] [--cdn]`: brings the demo up (SQLite by default, Redis from
 * REDIS_URL or a local redis-server), prints the URL(s) and shuts down gracefully on SIGTERM / SIGINT.
 *
 * With `--instances N` (N > 1) this process is a small supervisor: it starts the shared redis-server (unless
 * REDIS_URL is set), forks N instances of this same CLI, each its own Node process, on consecutive ports from PORT
 * (or free ports with PORT=0), sharing one Redis and one database, and runs nginx in front of them with `--cdn`.
 * The instances talk to the supervisor over the IPC channel of `fork`: when the supervisor goes away (even
 * SIGKILLed) the channel closes and each instance shuts down gracefully on its own; the redis-server has its own
 * watchdog (see redis-server.ts).
 */
import { type ChildProcess, fork } from 'node:child_process'
import { parseArgs } from 'node:util'
import { createDemo, type Demo } from './app.js'
import { type Cdn, startCdn } from './cdn.js'
import { type DemoConfig, loadConfig } from './config.js'
import { ConfigError, DemoError } from './errors.js'
import { findRedisServer, type LocalRedis, startLocalRedis } from './redis-server.js'

/** Set in the environment of the instances the supervisor forks. */
const CHILD_ENV = 'TIERKIT_DEMO_INSTANCE'

/** Messages over the IPC channel. */
type ToSupervisor =
  | { type: 'ready'; url: string; pid: number }
  | { type: 'purge'; id: number; tags: readonly string[] }
type ToInstance =
  | { type: 'purged'; id: number; error?: string }
  | { type: 'cdn'; lookups: Array<[outcome: 'hit' | 'miss' | 'stale', ms: number]> }

function onSignals(stop: (why: string) => void): void {
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}

/** Runs `close`, then exits 0 (1 when it failed). */
function exitAfter(close: () => Promise<void>): void {
  close().then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(e)
      process.exit(1)
    },
  )
}

/** One instance, in this process (`--instances 1`, the default). */
async function runSingle(config: DemoConfig, withCdn: boolean): Promise<void> {
  const demo = await createDemo(config)
  let cdn: Cdn | undefined
  if (withCdn) {
    try {
      cdn = await startCdn({ upstreams: [demo.url], metrics: demo.metrics })
    } catch (e) {
      await demo.close()
      throw e
    }
    demo.setPurger(cdn)
  }
  console.log(`tierkit demo listening on ${demo.url}  (dashboard: ${demo.url}/)`)
  if (cdn)
    console.log(`CDN (nginx proxy_cache) in front: ${cdn.url}  (dashboard through the CDN: ${cdn.url}/)`)
  let stopping = false
  onSignals((signal) => {
    if (stopping) return
    stopping = true
    console.log(`${signal}: shutting down gracefully`)
    exitAfter(async () => {
      await cdn?.close()
      await demo.close()
    })
  })
}

/** An instance forked by the supervisor: reports its URL, purges the CDN through the supervisor. */
async function runInstance(config: DemoConfig): Promise<void> {
  const send = (m: ToSupervisor): boolean => {
    if (!process.connected) return false
    process.send!(m)
    return true
  }
  const label = `[${config.instanceId}]`
  let demo: Demo | undefined
  let stopping = false
  const stop = (why: string): void => {
    if (stopping) return
    stopping = true
    console.log(`${label} ${why}: shutting down gracefully`)
    exitAfter(async () => {
      await demo?.close()
    })
  }
  // the supervisor is gone (exited, crashed or SIGKILLed): never outlive it
  process.on('disconnect', () => stop('supervisor gone'))
  onSignals(stop)
  demo = await createDemo(config, { log: (l) => console.log(`${label} ${l}`) })
  if (stopping) return
  const pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>()
  let nextId = 0
  process.on('message', (m: ToInstance) => {
    if (m.type === 'purged') {
      const p = pending.get(m.id)
      pending.delete(m.id)
      if (m.error === undefined) p?.resolve()
      else p?.reject(new Error(m.error))
    } else if (m.type === 'cdn') {
      for (const [outcome, ms] of m.lookups) demo!.metrics.observer.record('cdn', outcome, ms)
    }
  })
  if (process.env.TIERKIT_DEMO_CDN === '1') {
    demo.setPurger({
      purgeTags: (tags) =>
        new Promise<void>((resolve, reject) => {
          const id = ++nextId
          pending.set(id, { resolve, reject })
          // no supervisor, no CDN to purge: nothing is left to do
          if (!send({ type: 'purge', id, tags })) {
            pending.delete(id)
            resolve()
          }
        }),
    })
  }
  send({ type: 'ready', url: demo.url, pid: process.pid })
}

/** `--instances N`, N > 1: the supervisor. */
async function runSupervisor(config: DemoConfig, instances: number, withCdn: boolean): Promise<void> {
  let redis: LocalRedis | undefined
  const env: NodeJS.ProcessEnv = { ...process.env, [CHILD_ENV]: '1', TIERKIT_DEMO_CDN: withCdn ? '1' : '0' }
  if (config.redisUrl === undefined && config.redisMode === 'auto') {
    const bin = findRedisServer()
    if (bin) {
      redis = await startLocalRedis(bin)
      env.REDIS_URL = redis.url
      console.log(`redis: started redis-server at ${redis.url} (shared by the ${instances} instances)`)
    } else {
      console.log(
        'redis: redis-server not found and REDIS_URL unset: each instance runs with its own L1 only (no cross-instance invalidation)',
      )
      env.DEMO_REDIS = 'off'
    }
  }
  const children: ChildProcess[] = []
  const urls: string[] = []
  let cdn: Cdn | undefined
  let stopping = false
  const exits: Array<Promise<void>> = []

  const stopAll = async (): Promise<void> => {
    await cdn?.close()
    // every instance drains its write-behind queue and closes; then the Redis they share
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM')
    await Promise.all(exits)
    await redis?.close()
  }
  const stop = (why: string, code = 0): void => {
    if (stopping) return
    stopping = true
    console.log(`${why}: shutting down gracefully`)
    stopAll().then(
      () => process.exit(code),
      (e: unknown) => {
        console.error(e)
        process.exit(1)
      },
    )
  }
  onSignals(stop)

  const cdnLookups: Array<['hit' | 'miss' | 'stale', number]> = []
  const start = (i: number): Promise<void> => {
    const child = fork(process.argv[1]!, [], {
      env: {
        ...env,
        PORT: String(config.port === 0 ? 0 : config.port + i - 1),
        INSTANCE_ID: `${config.instanceId}-${i}`,
      },
      execArgv: process.execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    children[i - 1] = child
    exits.push(new Promise<void>((r) => child.once('exit', () => r())))
    child.on('message', (m: ToSupervisor) => {
      if (m.type !== 'purge') return
      const reply = (error?: string): void => {
        if (child.connected) child.send({ type: 'purged', id: m.id, error } satisfies ToInstance)
      }
      if (!cdn) reply()
      else
        cdn.purgeTags(m.tags).then(
          () => reply(),
          (e: unknown) => reply(String(e)),
        )
    })
    return new Promise<void>((resolve, reject) => {
      const onExit = (code: number | null, signal: string | null): void => {
        reject(new Error(`instance ${i} exited during start-up (${signal ?? `code ${code}`})`))
      }
      child.once('exit', onExit)
      child.on('message', (m: ToSupervisor) => {
        if (m.type !== 'ready') return
        child.off('exit', onExit)
        urls[i - 1] = m.url
        // an instance that stops on its own takes the others down with it
        child.once('exit', (code, signal) => stop(`instance ${i} exited (${signal ?? `code ${code}`})`, 1))
        console.log(`tierkit demo instance ${i} listening on ${m.url}  (pid ${m.pid}, dashboard: ${m.url}/)`)
        resolve()
      })
    })
  }
  try {
    // the first instance creates (and seeds) the database; the others then start together
    await start(1)
    await Promise.all(Array.from({ length: instances - 1 }, (_, k) => start(k + 2)))
    if (withCdn) {
      cdn = await startCdn({
        upstreams: urls,
        // the CDN row of the metrics lives in the first instance (as its dashboard shows it)
        onLookup: (outcome, ms) => {
          if (cdnLookups.push([outcome, ms]) === 1)
            setImmediate(() => {
              const lookups = cdnLookups.splice(0)
              if (children[0]?.connected) children[0].send({ type: 'cdn', lookups } satisfies ToInstance)
            })
        },
      })
      console.log(`CDN (nginx proxy_cache) in front: ${cdn.url}  (dashboard through the CDN: ${cdn.url}/)`)
    }
  } catch (e) {
    stopping = true
    await stopAll()
    throw e
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      instances: { type: 'string', default: '1' },
      cdn: { type: 'boolean', default: false },
    },
  })
  const instances = Number(values.instances)
  if (!Number.isInteger(instances) || instances < 1 || instances > 8) {
    throw new ConfigError('--instances', `must be an integer from 1 to 8, got "${values.instances}"`)
  }
  const config = loadConfig(process.env)
  if (process.env[CHILD_ENV] === '1' && process.send) return runInstance(config)
  if (instances === 1) return runSingle(config, values.cdn!)
  return runSupervisor(config, instances, values.cdn!)
}

main().catch((e: unknown) => {
  // configuration and start-up problems the user can fix: one line, no stack trace
  if (e instanceof DemoError) console.error(e.message)
  else console.error(e)
  process.exit(1)
})
