/**
 * Redis time, as Redis itself measures it: the L2 reads of redis-aside are GET and MGET commands, and
 * `INFO commandstats` counts their calls and the microseconds Redis spent executing them. The difference of two
 * reads is the run's. `INFO latencystats` (Redis 7) gives their p99 since the last `CONFIG RESETSTAT`, which the
 * load generator sends only to the redis-server it started itself.
 */
import { connectRedisClient, type DemoRedisClient } from './redis-client.js'
import { parseRedisTarget, type RedisClientName, redactRedisUrl } from './redis-url.js'

/** GET and MGET calls and the time Redis spent in them, cumulative. */
export interface RedisReadStats {
  calls: number
  usec: number
  /** The larger p99 of GET and MGET in µs since the last reset (Redis 7 `INFO latencystats`), if known. */
  p99Usec: number | null
}

/** What a run's Redis reads cost inside Redis. */
export interface RedisTime {
  /** GET and MGET calls in the run. */
  calls: number
  /** Average time of one such command inside Redis, ms. */
  avgMs: number | null
  /** p99 of one such command inside Redis, ms (only when the stats were reset before the run). */
  p99Ms: number | null
}

const READS = ['get', 'mget']

/** Parses `INFO commandstats` and `INFO latencystats` for GET and MGET. */
export function parseRedisReads(commandstats: string, latencystats: string): RedisReadStats {
  let calls = 0
  let usec = 0
  for (const cmd of READS) {
    const m = new RegExp(`^cmdstat_${cmd}:calls=(\\d+),usec=(\\d+)`, 'm').exec(commandstats)
    if (m) {
      calls += Number(m[1])
      usec += Number(m[2])
    }
  }
  let p99: number | null = null
  for (const cmd of READS) {
    const m = new RegExp(`^latency_percentiles_usec_${cmd}:.*p99=([\\d.]+)`, 'm').exec(latencystats)
    if (m) p99 = Math.max(p99 ?? 0, Number(m[1]))
  }
  return { calls, usec, p99Usec: p99 }
}

const text = (reply: unknown): string => (typeof reply === 'string' ? reply : String(reply ?? ''))

/**
 * Reads and (optionally) resets the read statistics of the Redis at `url` (the demo's `REDIS_URL`, a Sentinel URL
 * too: then the master's), through `client` (the demo's `REDIS_CLIENT`); it connects on first use.
 * @throws ConfigError (`E_CONFIG`) for a URL or client the demo would refuse.
 */
export class RedisClock {
  readonly #url: string
  readonly #client: RedisClientName
  #redis: Promise<DemoRedisClient> | undefined
  constructor(url: string, client: RedisClientName = 'ioredis') {
    parseRedisTarget(url, client)
    this.#url = url
    this.#client = client
  }

  #connection(): Promise<DemoRedisClient> {
    this.#redis ??= connectRedisClient(
      this.#client,
      parseRedisTarget(this.#url, this.#client),
      redactRedisUrl(this.#url),
      { offlineQueue: true },
    )
    return this.#redis
  }

  /** Resets Redis' statistics (`CONFIG RESETSTAT`): only for a redis-server nobody else uses. */
  async reset(): Promise<void> {
    await (await this.#connection()).command(['CONFIG', 'RESETSTAT'])
  }

  async read(): Promise<RedisReadStats> {
    const redis = await this.#connection()
    const [commands, latency] = await Promise.all([
      redis.command(['INFO', 'commandstats']),
      redis.command(['INFO', 'latencystats']).catch(() => ''),
    ])
    return parseRedisReads(text(commands), text(latency))
  }

  async close(): Promise<void> {
    const redis = this.#redis
    this.#redis = undefined
    if (redis) await (await redis.catch(() => undefined))?.close()
  }
}

/** The run's Redis time from two reads (`reset`: the stats were reset just before `before`, so the p99 is the run's). */
export function redisTime(before: RedisReadStats, after: RedisReadStats, reset: boolean): RedisTime {
  const calls = after.calls - before.calls
  return {
    calls,
    avgMs: calls > 0 ? (after.usec - before.usec) / calls / 1000 : null,
    p99Ms: reset && after.p99Usec !== null ? after.p99Usec / 1000 : null,
  }
}
