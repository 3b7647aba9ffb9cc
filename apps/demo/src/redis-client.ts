/**
 * One Redis connection of the demo, through the client library `REDIS_CLIENT` names: an ioredis or iovalkey
 * `Redis` (one Redis, or the master its sentinels name: both libraries follow a failover themselves) or a
 * node-redis 6 client (one Redis). The connected client is what redis-aside and invalidation are given, as it is
 * (they tell the libraries apart themselves); `command()` sends the demo's own few commands (the view counter,
 * the load generator's `INFO`) whatever the library.
 */
import type { CacheOptions } from '@tierkit/redis-aside'
import { Redis } from 'ioredis'
import { Redis as Valkey } from 'iovalkey'
import { createClient } from 'redis'
import type { HostPort, RedisClientName, RedisTarget } from './redis-url.js'

/** A client redis-aside and invalidation take. */
export type PackageRedis = CacheOptions['redis']

/** A connected client and what the dashboard says of it. */
export interface DemoRedisClient {
  /** The library. */
  readonly name: RedisClientName
  /** `standalone` (one Redis) or `sentinel` (the master found through sentinels). */
  readonly topology: RedisTarget['topology']
  /** The master's name, with sentinels. */
  readonly master: string | undefined
  /** The client itself, as the packages take it. */
  readonly client: PackageRedis
  /** Sends one command (`['EVAL', script, '1', key]`); replies as the library gives them (RESP2 shapes for the demo's). */
  command(args: ReadonlyArray<string | number>): Promise<unknown>
  /** Closes after the pending commands (at once if that fails). */
  close(): Promise<void>
}

/** How a connection behaves. */
export interface RedisConnectOptions {
  /**
   * `false` (the demo's service connections): a command while Redis is away fails at once, so that the breaker
   * opens and reads go L1 → DB; `true`: it waits for the connection (the load generator's statistics).
   */
  offlineQueue: boolean
  /** How long the first connection may take. @default 10000 */
  timeoutMs?: number
}

/**
 * Whether `client` is one the packages take, checked as they check it (`@tierkit/contracts/redis`'s
 * `detectRedisClient`, structural: `call`, `duplicate` and a string `status`, as ioredis and iovalkey have). The
 * packages' `redis` option is typed with ioredis's classes, and iovalkey's `Redis`, the same shape at run time,
 * is another class to TypeScript: this check is how an iovalkey client is given to them without a cast.
 */
function takenByPackages(client: object): client is PackageRedis {
  const c: { call?: unknown; duplicate?: unknown; status?: unknown } = client
  return typeof c.call === 'function' && typeof c.duplicate === 'function' && typeof c.status === 'string'
}

const retry = (n: number): number => Math.min(50 * n, 1000)

/** The options of {@link ioredisOptions}: the fields both libraries' `RedisOptions` have. */
export interface IoredisOptions {
  enableOfflineQueue: boolean
  maxRetriesPerRequest: number
  retryStrategy: (times: number) => number
  sentinels?: HostPort[]
  name?: string
  db?: number
  username?: string
  password?: string
  sentinelRetryStrategy?: (times: number) => number
  failoverDetector?: boolean
  reconnectOnError?: (err: Error) => 2 | false
}

/**
 * ioredis's options for `target`, which iovalkey (a fork) takes too: a plain object, so that it is both
 * libraries' `RedisOptions` (each has its own copy of the type).
 */
export function ioredisOptions(target: RedisTarget, o: RedisConnectOptions): IoredisOptions {
  const common = {
    enableOfflineQueue: o.offlineQueue,
    maxRetriesPerRequest: 1,
    retryStrategy: retry,
  }
  if (target.topology === 'standalone') return common
  return {
    ...common,
    sentinels: target.sentinels.map((s) => ({ host: s.host, port: s.port })),
    name: target.master,
    db: target.db,
    ...(target.username === undefined ? {} : { username: target.username }),
    ...(target.password === undefined ? {} : { password: target.password }),
    sentinelRetryStrategy: retry,
    // the sentinels announce a switch at once (+switch-master), not only when the old primary drops us; a command
    // answered READONLY by the demoted primary reconnects (to the new one) and is sent again
    failoverDetector: true,
    reconnectOnError: (err: Error): 2 | false => (err.message.startsWith('READONLY') ? 2 : false),
  }
}

/** Waits for an ioredis / iovalkey client's `ready`, else disconnects it and rejects. */
function ready(redis: Redis | Valkey, where: string, timeoutMs: number): Promise<void> {
  let lastError: unknown
  redis.on('error', (e: unknown) => {
    lastError = e // later errors are reported through redis-aside's breaker events
  })
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      redis.disconnect()
      reject(new Error(`redis: no answer from ${where} within ${timeoutMs / 1000} s`, { cause: lastError }))
    }, timeoutMs)
    redis.once('ready', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}

async function connectIoredis(
  name: 'ioredis' | 'iovalkey',
  target: RedisTarget,
  where: string,
  o: RedisConnectOptions,
): Promise<DemoRedisClient> {
  const options = ioredisOptions(target, o)
  // not lazyConnect: the invalidation bus and write-behind duplicate() this client, and a lazy duplicate would
  // never connect by itself
  const url = target.topology === 'standalone' ? target.url : undefined
  let client: Redis | Valkey
  if (name === 'ioredis') client = url ? new Redis(url, options) : new Redis(options)
  else client = url ? new Valkey(url, options) : new Valkey(options)
  await ready(client, where, o.timeoutMs ?? 10_000)
  if (!takenByPackages(client)) throw new Error(`redis: the ${name} client does not have the shape expected`)
  const given: PackageRedis = client
  return {
    name,
    topology: target.topology,
    master: target.topology === 'sentinel' ? target.master : undefined,
    client: given,
    command: ([command, ...args]) => client.call(String(command), ...args),
    close: () =>
      client.quit().then(
        () => {},
        () => client.disconnect(),
      ),
  }
}

async function connectNodeRedis(
  target: RedisTarget,
  where: string,
  o: RedisConnectOptions,
): Promise<DemoRedisClient> {
  // parseRedisTarget refuses node-redis over sentinels (E_CONFIG) before anything connects
  if (target.topology !== 'standalone') throw new Error('redis: node-redis takes a redis:// URL only')
  const timeoutMs = o.timeoutMs ?? 10_000
  const client = createClient({
    url: target.url,
    disableOfflineQueue: !o.offlineQueue,
    socket: { connectTimeout: timeoutMs, reconnectStrategy: (n: number) => retry(n + 1) },
  })
  let lastError: unknown
  client.on('error', (e: unknown) => {
    lastError = e // node-redis throws an 'error' nobody listens to; later ones go through the breaker
  })
  const timer = setTimeout(() => {
    if (client.isOpen) client.destroy()
  }, timeoutMs)
  try {
    await client.connect()
  } catch (e) {
    throw new Error(`redis: no answer from ${where} within ${timeoutMs / 1000} s`, { cause: lastError ?? e })
  } finally {
    clearTimeout(timer)
  }
  return {
    name: 'node-redis',
    topology: 'standalone',
    master: undefined,
    client,
    command: (args) => client.sendCommand(args.map(String)),
    close: () =>
      client.close().then(
        () => {},
        () => client.destroy(),
      ),
  }
}

/**
 * Connects to `target` through `name` and waits until it answers.
 * @param where - how to name the target in the error (a redacted URL)
 * @throws Error `redis: no answer from ... within 10 s` (its cause the library's error).
 */
export function connectRedisClient(
  name: RedisClientName,
  target: RedisTarget,
  where: string,
  options: RedisConnectOptions,
): Promise<DemoRedisClient> {
  return name === 'node-redis'
    ? connectNodeRedis(target, where, options)
    : connectIoredis(name, target, where, options)
}
