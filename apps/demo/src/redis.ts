/** Finding Redis: `REDIS_URL`, else a local redis-server (`DEMO_REDIS=auto`), else none (L1 only). */
import type { DemoConfig } from './config.js'
import { connectRedisClient, type DemoRedisClient } from './redis-client.js'
import { findRedisServer, type LocalRedis, startLocalRedis } from './redis-server.js'
import { parseRedisTarget, type RedisTarget, redactRedisUrl } from './redis-url.js'

/** The Redis the demo runs with. */
export interface DemoRedis {
  /** How Redis was found: `url` (REDIS_URL), `local` (started here), `none` (L1 only). */
  readonly mode: 'url' | 'local' | 'none'
  /** The redis-server this process started, when `mode` is `local`. */
  readonly local: LocalRedis | undefined
  /** The Redis URL in use, if any. */
  readonly url: string | undefined
  /** The connected client (and which library and topology), if any. */
  readonly client: DemoRedisClient | undefined
}

/** What `/api/stats` and the dashboard show of the Redis in use. */
export interface RedisInfo {
  mode: DemoRedis['mode']
  /** The client library (`REDIS_CLIENT`), `null` without Redis. */
  client: DemoRedisClient['name'] | null
  /** `standalone` or `sentinel`, `null` without Redis. */
  topology: RedisTarget['topology'] | null
  /** The master's name, with sentinels. */
  master?: string
  /** The URL, its password hidden, `null` without Redis. */
  url: string | null
}

/** The {@link RedisInfo} of `redis`. */
export function redisInfo(redis: DemoRedis): RedisInfo {
  const c = redis.client
  return {
    mode: redis.mode,
    client: c?.name ?? null,
    topology: c?.topology ?? null,
    ...(c?.master === undefined ? {} : { master: c.master }),
    url: redis.url === undefined ? null : redactRedisUrl(redis.url),
  }
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
  const target = config.redisTarget ?? parseRedisTarget(url, config.redisClient)
  const shown = redactRedisUrl(url)
  const client = await connectRedisClient(config.redisClient, target, shown, { offlineQueue: false })
  cleanup.unshift(() => client.close())
  const how = `${client.name}${client.master === undefined ? '' : `, sentinel master ${client.master}`}`
  log(mode === 'local' ? `redis: started redis-server at ${url} (${how})` : `redis: ${shown} (${how})`)
  return { mode, local, url, client }
}
