/**
 * `pnpm --filter @tierkit/demo start [--instances N] [--cdn]`: brings the demo up (SQLite by default, Redis from
 * REDIS_URL or a local redis-server), prints the URL(s) and shuts down gracefully on SIGTERM / SIGINT.
 */
import { parseArgs } from 'node:util'
import { createDemo, type Demo } from './app.js'
import { startCdn } from './cdn.js'
import { loadConfig } from './config.js'
import { ConfigError } from './errors.js'

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
  const demos: Demo[] = []
  const first = await createDemo({
    ...config,
    instanceId: instances > 1 ? `${config.instanceId}-1` : config.instanceId,
  })
  demos.push(first)
  for (let i = 2; i <= instances; i++) {
    demos.push(
      await createDemo(
        {
          ...config,
          port: config.port === 0 ? 0 : config.port + i - 1,
          redisUrl: first.redisUrl,
          redisMode: first.redisUrl ? 'auto' : 'off',
          instanceId: `${config.instanceId}-${i}`,
        },
        { log: (l) => console.log(`[instance ${i}] ${l}`) },
      ),
    )
  }
  const cdn = values.cdn
    ? await startCdn({ upstreams: demos.map((d) => d.url), metrics: first.metrics })
    : undefined
  if (cdn) for (const d of demos) d.setPurger(cdn)
  for (const [i, d] of demos.entries()) {
    console.log(
      `tierkit demo${demos.length > 1 ? ` instance ${i + 1}` : ''} listening on ${d.url}  (dashboard: ${d.url}/)`,
    )
  }
  if (cdn)
    console.log(`CDN (nginx proxy_cache) in front: ${cdn.url}  (dashboard through the CDN: ${cdn.url}/)`)
  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) return
    stopping = true
    console.log(`${signal}: shutting down gracefully`)
    const closeAll = async (): Promise<void> => {
      await cdn?.close()
      // the last instance first: the first one owns the redis-server the others use
      for (const d of [...demos].reverse()) await d.close()
    }
    closeAll().then(
      () => process.exit(0),
      (e) => {
        console.error(e)
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}

main().catch((e: unknown) => {
  if (e instanceof ConfigError) console.error(e.message)
  else console.error(e)
  process.exit(1)
})
