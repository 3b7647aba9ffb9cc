/**
 * `pnpm --filter @tierkit/demo start [--instances N] [--cdn]`: brings the demo up (SQLite by default, Redis from
 * REDIS_URL or a local redis-server), prints the URL(s) and shuts down gracefully on SIGTERM / SIGINT.
 *
 * With `--instances N` (N > 1) this process is a small supervisor: it starts the shared redis-server (unless
 * REDIS_URL is set), forks N instances of this same CLI, each its own Node process, on consecutive ports from PORT
 * (or free ports with PORT=0), sharing one Redis and one database, and runs nginx in front of them with `--cdn`.
 * The instances talk to the supervisor over the IPC channel of `fork`: when the supervisor goes away (even
 * SIGKILLed) the channel closes and each instance shuts down gracefully on its own; the redis-server has its own
 * watchdog (see redis-server.ts). The supervisor is supervisor.ts.
 */
import { parseArgs } from 'node:util'
import { PurgeFailedError } from '@tierkit/cdn-headers'
import { createDemo, type Demo } from './app.js'
import { type Cdn, startCdn } from './cdn.js'
import type { CdnPurgeResult } from './cdn-log.js'
import { type DemoConfig, loadConfig } from './config.js'
import { ConfigError, DemoError } from './errors.js'
import { CHILD_ENV, fromIpcReport, type ToInstance, type ToSupervisor } from './ipc.js'
import { closeBehindCdn, exitAfter, onSignals } from './lifecycle.js'
import { runSupervisor } from './supervisor.js'

/** One instance, in this process (`--instances 1`, the default). */
async function runSingle(config: DemoConfig, withCdn: boolean): Promise<void> {
  const demo = await createDemo(config, { cdn: withCdn })
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
    exitAfter(() => closeBehindCdn(demo, cdn))
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
  const withCdn = process.env.TIERKIT_DEMO_CDN === '1'
  demo = await createDemo(config, {
    cdn: withCdn,
    log: (l) => console.log(`${label} ${l}`),
    // the writer learns when this instance applied its invalidation: through the supervisor
    onRemoteInvalidation: (e) =>
      send({ type: 'evicted', from: e.from, by: config.instanceId, tags: e.tags, at: e.at }),
  })
  if (stopping) return
  const pending = new Map<
    number,
    { resolve: (r: CdnPurgeResult) => void; reject: (e: Error) => void; tags: readonly string[] }
  >()
  /** Every tag failed: no supervisor, or no CDN running there (yet). */
  const unavailable = (tags: readonly string[], why: string): CdnPurgeResult => {
    const error = new PurgeFailedError(0, tags, why, { reason: 'unavailable' })
    const failed = tags.map((tag) => ({ tag, reason: 'unavailable' as const, error }))
    return { purged: [], hardened: [], failed, refetched: 0, removed: 0 }
  }
  let nextId = 0
  process.on('message', (m: ToInstance) => {
    if (m.type === 'purged') {
      const p = pending.get(m.id)
      pending.delete(m.id)
      if (m.error !== undefined) p?.reject(new Error(m.error))
      else if (m.result !== undefined) p?.resolve(fromIpcReport(m.result))
      else p?.resolve(unavailable(p.tags, 'the supervisor runs no CDN (yet)'))
    } else if (m.type === 'cdn') {
      for (const [outcome, ms] of m.lookups) demo!.metrics.observer.record('cdn', outcome, ms)
    } else if (m.type === 'bus-latency') {
      demo!.recordBusLatency({ instance: m.by, tags: m.tags, at: m.at })
    }
  })
  if (withCdn) {
    demo.setPurger({
      purgeTags: (tags, options) =>
        new Promise<CdnPurgeResult>((resolve, reject) => {
          const id = ++nextId
          pending.set(id, { resolve, reject, tags })
          // no supervisor: no CDN to reach
          if (!send({ type: 'purge', id, tags, mode: options?.mode ?? 'soft' })) {
            pending.delete(id)
            resolve(unavailable(tags, 'the supervisor is gone'))
          }
        }),
    })
  }
  send({ type: 'ready', url: demo.url, pid: process.pid })
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
