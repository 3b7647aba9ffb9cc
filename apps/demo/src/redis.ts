/** Finding Redis: `REDIS_URL`, else a local redis-server (`DEMO_REDIS=auto`), else none (L1 only). */
import { Redis } from 'ioredis'
import type { DemoConfig } from './config.js'
import { findRedisServer, type LocalRedis, startLocalRedis } from './redis-server.js'

/** The Redis the demo runs with. */
export interface DemoRedis {
  /** How Redis was found: `url` (REDIS_URL), `local` (started here), `none` (L1 only). */
  readonly mode: 'url' | 'local' | 'none'
  /** The redis-server this process started, when `mode` is `local`. */
  readonly local: LocalRedis | undefined
  /** The Redis URL in use, if any. */
  readonly url: string | undefined
  /** The connected client, if any. */
  readonly client: Redis | undefined
}

async function connectRedis(url: string): Promise<Redis> {
  // not lazyConnect: the invalidation bus and write-behind duplicate() this client, and a lazy duplicate would
  // never connect by itself
  const redis = new Redis(url, {
    enableOfflineQueue: false, // fail fast while Redis is away: the breaker opens and reads go L1 → DB
    maxRetriesPerRequest: 1,
    retryStrategy: (n) => Math.min(50 * n, 1000),
  })
  let lastError: unknown
  redis.on('error', (e) => {
    lastError = e // later errors are reported through redis-aside's breaker events
  })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      redis.disconnect()
      reject(new Error(`redis: no answer from ${url} within 10 s`, { cause: lastError }))
    }, 10_000)
    redis.once('ready', () => {
      clearTimeout(timer)
      resolve()
    })
  })
  return redis
}

/**
 * Finds Redis and connects to it. Each thing it opens is put first in `cleanup` (so it closes before what was
 * opened earlier).
 * @throws Redis' connection error (with REDIS_URL set, Redis must answer).
 */
export async function openRedis(
  config: DemoConfig,
  log: (line: string) => void,
  cleanup: Array<() => Promise<unknown>>,
): Promise<DemoRedis> {
  let mode: DemoRedis['mode'] = 'none'
  let local: LocalRedis | undefined
  let url = config.redisUrl
  if (url) mode = 'url'
  else if (config.redisMode === 'auto') {
    const bin = findRedisServer()
    if (bin) {
      const started = await startLocalRedis(bin)
      local = started
      cleanup.unshift(() => started.close())
      url = started.url
      mode = 'local'
    }
  }
  if (!url) {
    log(
      config.redisMode === 'off'
        ? 'redis: none (DEMO_REDIS=off): running with the in-process L1 cache only'
        : 'redis: none (no REDIS_URL and no redis-server on the PATH): running with the in-process L1 cache only',
    )
    return { mode, local, url, client: undefined }
  }
  const client = await connectRedis(url)
  cleanup.unshift(() => client.quit().catch(() => client.disconnect()))
  log(mode === 'local' ? `redis: started redis-server at ${url}` : `redis: ${url}`)
  return { mode, local, url, client }
}
