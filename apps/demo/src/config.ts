import { isAbsolute, resolve } from 'node:path'
import { ConfigError } from './errors.js'
import { parseRedisTarget, type RedisClientName, type RedisTarget, redisClientOf } from './redis-url.js'

/** The demo's configuration, read from the environment by {@link loadConfig}. */
export interface DemoConfig {
  /** `HOST`: address to listen on (loopback only by default). @default '127.0.0.1' */
  host: string
  /** `PORT`: port to listen on; `0` picks a free one. @default 3000 */
  port: number
  /** `DATABASE_URL`: a `postgres://` URL; when unset, SQLite is used. */
  databaseUrl: string | undefined
  /** `DATABASE_SCHEMA`: PostgreSQL schema holding the tables (created if missing). @default 'public' */
  databaseSchema: string
  /** `SQLITE_PATH`: the SQLite file (created and seeded on first start), or `:memory:`. @default '<cwd>/data/demo.sqlite' */
  sqlitePath: string
  /**
   * `REDIS_URL`: a `redis://` or `rediss://` URL, or a Sentinel URL
   * `redis+sentinel://host:port,host:port/<masterName>[/<db>]`; when unset, see `redisMode`.
   */
  redisUrl: string | undefined
  /** What `REDIS_URL` points at (one Redis, or a master found through sentinels); unset without `REDIS_URL`. */
  redisTarget: RedisTarget | undefined
  /** `REDIS_CLIENT`: the client library, `ioredis`, `node-redis` (`redis` 6) or `iovalkey`. @default 'ioredis' */
  redisClient: RedisClientName
  /** `DEMO_REDIS`: without `REDIS_URL`, `auto` starts a local redis-server if the binary is on the PATH; `off` runs L1 only. @default 'auto' */
  redisMode: 'auto' | 'off'
  /** `DEMO_CACHE`: `off` turns the read caches off (every read goes to the database): the load generator's no-cache baseline. @default 'on' */
  cacheMode: 'on' | 'off'
  /** `DB_LATENCY_MS`: simulated cost of each database read (a network hop to a database server), waited before the query. @default 0 */
  dbLatencyMs: number
  /** `SEED_PRODUCTS`: products seeded into an empty database. @default 100000 */
  seedProducts: number
  /** `SEED_USERS`: users seeded into an empty database. @default 10000 */
  seedUsers: number
  /** `L1_MAX`: entries kept in the in-process L1. @default 50000 */
  l1Max: number
  /** `L1_TTL_MS`: L1 lifetime of an entry. @default 60000 */
  l1TtlMs: number
  /** `CACHE_TTL_MS`: lifetime of an entry in Redis (L2). @default 300000 */
  cacheTtlMs: number
  /** `WORKER_THREADS`: threads of the report pool. @default 2 */
  workerThreads: number
  /** `INSTANCE_ID`: name of this instance on the invalidation bus and in /api/stats. @default `demo-<pid>` */
  instanceId: string
  /** `SHUTDOWN_TIMEOUT_MS`: how long a graceful shutdown may take. @default 10000 */
  shutdownTimeoutMs: number
  /** `LOG_LEVEL`: Fastify's logger level, or `silent`. @default 'warn' */
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
}

type Env = Record<string, string | undefined>

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  if (!/^\d+$/.test(raw.trim()))
    throw new ConfigError(name, `must be an integer from ${min} to ${max}, got "${raw}"`)
  const n = Number(raw.trim())
  if (n < min || n > max)
    throw new ConfigError(name, `must be an integer from ${min} to ${max}, got "${raw}"`)
  return n
}

function url(env: Env, name: string, protocols: readonly string[]): string | undefined {
  const raw = env[name]
  if (raw === undefined || raw === '') return undefined
  let parsed: URL
  try {
    parsed = new URL(raw)
  } catch {
    throw new ConfigError(name, `must be a URL (${protocols.join(' or ')}), got "${raw}"`)
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(name, `must be a URL (${protocols.join(' or ')}), got "${raw}"`)
  }
  return raw
}

function oneOf<T extends string>(env: Env, name: string, values: readonly T[], fallback: T): T {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  if (!(values as readonly string[]).includes(raw)) {
    throw new ConfigError(name, `must be one of ${values.join(', ')}, got "${raw}"`)
  }
  return raw as T
}

/**
 * Reads and validates the configuration. Every variable is optional; a bad one throws at start.
 * @throws ConfigError (`E_CONFIG`) naming the first bad variable, e.g. `invalid configuration: PORT must be an integer from 0 to 65535, got "http"`.
 * @example const config = loadConfig(process.env)
 */
export function loadConfig(env: Env = process.env, cwd: string = process.cwd()): DemoConfig {
  const host = env.HOST || '127.0.0.1'
  if (!/^[\w.:[\]-]+$/.test(host))
    throw new ConfigError('HOST', `must be a host name or address, got "${host}"`)
  const schema = env.DATABASE_SCHEMA || 'public'
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new ConfigError('DATABASE_SCHEMA', `must be a lower-case SQL identifier, got "${schema}"`)
  }
  const sqlite = env.SQLITE_PATH || 'data/demo.sqlite'
  const redisClient = redisClientOf(env)
  const redisUrl = env.REDIS_URL || undefined
  return {
    host,
    port: integer(env, 'PORT', 3000, 0, 65535),
    databaseUrl: url(env, 'DATABASE_URL', ['postgres:', 'postgresql:']),
    databaseSchema: schema,
    sqlitePath: sqlite === ':memory:' || isAbsolute(sqlite) ? sqlite : resolve(cwd, sqlite),
    redisUrl,
    redisTarget: redisUrl === undefined ? undefined : parseRedisTarget(redisUrl, redisClient),
    redisClient,
    redisMode: oneOf(env, 'DEMO_REDIS', ['auto', 'off'] as const, 'auto'),
    cacheMode: oneOf(env, 'DEMO_CACHE', ['on', 'off'] as const, 'on'),
    dbLatencyMs: integer(env, 'DB_LATENCY_MS', 0, 0, 10_000),
    seedProducts: integer(env, 'SEED_PRODUCTS', 100_000, 1, 10_000_000),
    seedUsers: integer(env, 'SEED_USERS', 10_000, 1, 10_000_000),
    l1Max: integer(env, 'L1_MAX', 50_000, 1, 10_000_000),
    l1TtlMs: integer(env, 'L1_TTL_MS', 60_000, 1, 86_400_000),
    cacheTtlMs: integer(env, 'CACHE_TTL_MS', 300_000, 1, 86_400_000),
    workerThreads: integer(env, 'WORKER_THREADS', 2, 1, 64),
    instanceId: env.INSTANCE_ID || `demo-${process.pid}`,
    shutdownTimeoutMs: integer(env, 'SHUTDOWN_TIMEOUT_MS', 10_000, 1, 600_000),
    logLevel: oneOf(
      env,
      'LOG_LEVEL',
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const,
      'warn',
    ),
  }
}
