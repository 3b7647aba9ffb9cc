/**
 * `REDIS_URL` and `REDIS_CLIENT` read into what to connect to: one Redis (`redis://`, `rediss://`) or the master
 * a set of sentinels names (`redis+sentinel://host:port,host:port/<masterName>[/<db>]`), through ioredis (the
 * default), node-redis or iovalkey. A bad value is a {@link ConfigError} (`E_CONFIG`) naming the variable.
 */
import { ConfigError } from './errors.js'

/** The client libraries the demo connects with (`REDIS_CLIENT`). */
export const REDIS_CLIENTS = ['ioredis', 'node-redis', 'iovalkey'] as const

/** One of {@link REDIS_CLIENTS}. */
export type RedisClientName = (typeof REDIS_CLIENTS)[number]

/** A sentinel's address. */
export interface HostPort {
  host: string
  port: number
}

/** What `REDIS_URL` points at. */
export type RedisTarget =
  | {
      readonly topology: 'standalone'
      /** The `redis://` or `rediss://` URL as given. */
      readonly url: string
    }
  | {
      readonly topology: 'sentinel'
      /** The sentinels asked for the master, in the URL's order. */
      readonly sentinels: readonly HostPort[]
      /** The master's name (`sentinel monitor <name> ...`). */
      readonly master: string
      /** The database index. @default 0 */
      readonly db: number
      /** The ACL user of the Redis nodes (the sentinels are asked without one). */
      readonly username: string | undefined
      /** The password of the Redis nodes. */
      readonly password: string | undefined
    }

/** The default port of a sentinel. */
export const SENTINEL_PORT = 26379

const SENTINEL_FORM = 'redis+sentinel://[user:password@]host:port[,host:port...]/<masterName>[/<db>]'

function sentinelError(raw: string, why: string): ConfigError {
  return new ConfigError('REDIS_URL', `${why}: a Sentinel URL is ${SENTINEL_FORM}, got "${raw}"`)
}

/** `host:port` (`[v6]:port`, port optional) of a sentinel. */
function hostPort(raw: string, part: string): HostPort {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(part)
  if (m === null) throw sentinelError(raw, `"${part}" is not host:port`)
  const port = m[2] === undefined ? SENTINEL_PORT : Number(m[2])
  if (port < 1 || port > 65535) throw sentinelError(raw, `port ${m[2]} is out of range`)
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port }
}

function decoded(raw: string, s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    throw sentinelError(raw, 'the credentials are not URL-encoded')
  }
}

/** Parses a `redis+sentinel://` URL. */
export function parseSentinelUrl(raw: string): RedisTarget & { topology: 'sentinel' } {
  const m = /^redis\+sentinel:\/\/(?:([^@/]*)@)?([^/?#]*)(\/[^?#]*)?$/.exec(raw)
  if (m === null) throw sentinelError(raw, 'not a Sentinel URL (no query or fragment)')
  const [, auth, hosts = '', path = ''] = m
  if (hosts === '') throw sentinelError(raw, 'no sentinel address')
  const sentinels = hosts.split(',').map((h) => hostPort(raw, h))
  const segments = path.split('/').slice(1)
  const master = segments[0] ?? ''
  if (!/^[A-Za-z0-9_.-]+$/.test(master)) throw sentinelError(raw, 'no master name (letters, digits, _ . -)')
  if (segments.length > 2) throw sentinelError(raw, 'too many path segments')
  const dbText = segments[1]
  if (dbText !== undefined && !/^\d{1,5}$/.test(dbText))
    throw sentinelError(raw, `the database "${dbText}" is not an integer`)
  let username: string | undefined
  let password: string | undefined
  if (auth !== undefined && auth !== '') {
    const colon = auth.indexOf(':')
    const user = colon === -1 ? '' : auth.slice(0, colon)
    username = user === '' ? undefined : decoded(raw, user)
    password = decoded(raw, colon === -1 ? auth : auth.slice(colon + 1))
  }
  return { topology: 'sentinel', sentinels, master, db: Number(dbText ?? 0), username, password }
}

/**
 * What `raw` (a `REDIS_URL`) points at, through `client`.
 * @throws ConfigError naming `REDIS_URL` (not a Redis or Sentinel URL) or `REDIS_CLIENT` (node-redis over a
 *   Sentinel URL: the packages cannot take node-redis's Sentinel client).
 */
export function parseRedisTarget(raw: string, client: RedisClientName): RedisTarget {
  if (raw.startsWith('redis+sentinel:')) {
    const target = parseSentinelUrl(raw)
    if (client === 'node-redis')
      throw new ConfigError(
        'REDIS_CLIENT',
        'node-redis cannot be used with a Sentinel URL (REDIS_URL=redis+sentinel://...): its createSentinel() ' +
          "client's sendCommand takes other arguments than a client's and pools its connections, which " +
          '@tierkit/redis-aside and @tierkit/invalidation do not accept; use REDIS_CLIENT=ioredis or iovalkey, ' +
          'or point REDIS_URL at the master (redis://)',
      )
    return target
  }
  let parsed: URL
  try {
    parsed = new URL(raw)
  } catch {
    throw new ConfigError('REDIS_URL', `must be a URL (redis:, rediss: or redis+sentinel:), got "${raw}"`)
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:')
    throw new ConfigError('REDIS_URL', `must be a URL (redis:, rediss: or redis+sentinel:), got "${raw}"`)
  return { topology: 'standalone', url: raw }
}

/** `REDIS_CLIENT` of `env` (`ioredis` when unset). @throws ConfigError for anything but {@link REDIS_CLIENTS}. */
export function redisClientOf(env: Record<string, string | undefined>): RedisClientName {
  const raw = env.REDIS_CLIENT
  if (raw === undefined || raw === '') return 'ioredis'
  const found = REDIS_CLIENTS.find((c) => c === raw)
  if (found === undefined)
    throw new ConfigError('REDIS_CLIENT', `must be one of ${REDIS_CLIENTS.join(', ')}, got "${raw}"`)
  return found
}

/** `raw` with its password replaced by `***` (for logs and /api/stats). */
export function redactRedisUrl(raw: string): string {
  return raw.replace(/^([a-z+]+:\/\/[^:@/]*:)[^@/]*@/, '$1***@')
}
