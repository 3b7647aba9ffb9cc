/**
 * `@tierkit/testkit/clients`: the Redis client library a suite runs with, from `TIERKIT_TEST_CLIENT` (`ioredis`,
 * the default; `iovalkey`; `node-redis`, 6 with RESP3; `node-redis5`), so that a whole integration suite written
 * against ioredis runs unchanged with each (tools/scripts/client-matrix.mjs). `redisClient(...)` takes ioredis's
 * constructor arguments and returns, typed as ioredis's `Redis`: an ioredis client; an iovalkey one (the same
 * shape); or a node-redis client behind a proxy that answers the tests' ioredis-style calls through
 * `@tierkit/contracts/redis` (any other command method, `flushall`, `pttl`..., sent as `call`). The proxy looks like
 * ioredis to the packages (they use it as it is); a test that must pass a raw node-redis client makes one itself.
 * Not in the core: it imports the client libraries.
 */
import { Redis, type RedisOptions } from 'ioredis'
import { Redis as Valkey } from 'iovalkey'
import { createClient } from 'redis'
import { createClient as createClient5 } from 'redis5'

/** The client libraries a suite can run with. */
export type ClientName = 'ioredis' | 'iovalkey' | 'node-redis' | 'node-redis5'

/** The library of this run: `TIERKIT_TEST_CLIENT`, `ioredis` when unset. */
export function clientName(value: string | undefined = process.env.TIERKIT_TEST_CLIENT): ClientName {
  const name = value === undefined || value === '' ? 'ioredis' : value
  if (!['ioredis', 'iovalkey', 'node-redis', 'node-redis5'].includes(name))
    throw new Error(`TIERKIT_TEST_CLIENT must be ioredis, iovalkey, node-redis or node-redis5, got ${value}`)
  return name as ClientName
}

/** Whether this run's library has Redis Cluster support in tierkit (node-redis has not, yet). */
export function clusterSupported(name: ClientName = clientName()): boolean {
  return !name.startsWith('node-redis')
}

/** ioredis's constructor arguments, read as one options object. */
function readArgs(args: unknown[]): RedisOptions {
  let options: RedisOptions = {}
  const rest = [...args]
  if (typeof rest[0] === 'string') {
    const u = new URL(rest.shift() as string)
    options = {
      host: u.hostname,
      port: Number(u.port || 6379),
      ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
      ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    }
  } else if (typeof rest[0] === 'number') {
    options = { port: rest.shift() as number }
    if (typeof rest[0] === 'string') options.host = rest.shift() as string
  }
  if (rest[0] !== undefined && typeof rest[0] === 'object')
    options = { ...options, ...(rest[0] as RedisOptions) }
  return options
}

/** The node-redis options for ioredis-style `o`. */
function nodeRedisOptions(o: RedisOptions): Record<string, unknown> {
  const tls = o.tls as { ca?: string } | undefined
  const auth =
    o.password === undefined
      ? ''
      : `${encodeURIComponent(o.username ?? 'default')}:${encodeURIComponent(o.password)}@`
  const retry = o.retryStrategy
  return {
    url: `${tls ? 'rediss' : 'redis'}://${auth}${o.host ?? '127.0.0.1'}:${o.port ?? 6379}`,
    disableOfflineQueue: o.enableOfflineQueue === false,
    socket: {
      ...(tls ? { tls: true, ca: tls.ca } : {}),
      ...(retry
        ? {
            reconnectStrategy: (retries: number) => {
              const d = retry(retries + 1)
              return typeof d === 'number' ? d : false
            },
          }
        : {}),
    },
  }
}

/**
 * ioredis's `pipeline()` for the tests: each lowercase command method queues the command, `exec()` sends them
 * all (node-redis pipelines commands sent together) and resolves with ioredis's `[error, reply]` pairs.
 */
function pipelineOf(call: CallFn): object {
  const queued: Array<[string, Array<string | number>]> = []
  const pipeline: object = new Proxy(
    {
      exec: () =>
        Promise.all(
          queued.splice(0).map(([c, a]) =>
            call(c, ...a).then(
              (r) => [null, r],
              (e: unknown) => [e, null],
            ),
          ),
        ),
    },
    {
      get(target, prop, receiver) {
        if (typeof prop !== 'string' || prop in target || !/^[a-z]+$/.test(prop))
          return Reflect.get(target, prop, receiver)
        return (...args: Array<string | number>) => {
          queued.push([prop.toUpperCase(), args])
          return pipeline
        }
      },
    },
  )
  return pipeline
}

/** A bulk string as a Buffer (node-redis's RESP type `$`), for ioredis's `getBuffer`. */
const BUFFER_REPLY = { 36: Buffer }

/** `raw` (what a package is given) answering the tests' ioredis-style calls through `adapter`. */
function commandProxy(raw: object, adapter: Record<string, unknown> & { call: CallFn }): object {
  const send = (raw as { sendCommand(args: string[], options: object): Promise<unknown> }).sendCommand
  return new Proxy(raw, {
    get(target, prop, receiver) {
      if (prop === 'pipeline') return () => pipelineOf(adapter.call.bind(adapter))
      if (prop === 'getBuffer')
        return (key: string) => send.call(target, ['GET', key], { typeMapping: BUFFER_REPLY })
      if (typeof prop === 'string' && prop in adapter) {
        const v = (adapter as unknown as Record<string, unknown>)[prop]
        return typeof v === 'function' ? v.bind(adapter) : v
      }
      // `then` is never a command: a proxy returned from an async function is checked for it by `await`.
      // node-redis' own method of a command (`del`, `copy`, `keys`...: it has `DEL` too) takes its own
      // arguments (`del(keys[])`, `copy(a, b, { REPLACE })`), not ioredis' flat ones: sent as `call` too
      if (
        typeof prop === 'string' &&
        prop !== 'then' &&
        prop !== 'multi' &&
        /^[a-z]+$/.test(prop) &&
        (!(prop in target) || prop.toUpperCase() in target)
      )
        return (...args: Array<string | number>) => adapter.call(prop.toUpperCase(), ...args)
      return Reflect.get(target, prop, receiver)
    },
  })
}

type CallFn = (command: string, ...args: Array<string | number>) => Promise<unknown>

/** `@tierkit/contracts/redis`'s `toRedisLike` (passed in: the kit cannot depend on contracts, whose tests use it). */
export type ToRedisLike = (client: unknown) => unknown

/**
 * A factory of single-server clients of this run's library, from ioredis's constructor arguments (`url`,
 * `port, host`, options...). `enableOfflineQueue`, `retryStrategy`, credentials and `tls.ca` carry over to
 * node-redis; `lazyConnect` and `maxRetriesPerRequest` have no node-redis counterpart (it connects at once; its
 * commands wait in the offline queue).
 * @param toRedisLike - `toRedisLike` of `@tierkit/contracts/redis`
 */
export function redisClientFactory(toRedisLike: ToRedisLike): (...args: unknown[]) => Redis {
  return (...args) => {
    const name = clientName()
    if (name === 'ioredis') return new Redis(readArgs(args))
    if (name === 'iovalkey') return new Valkey(readArgs(args) as never) as unknown as Redis
    const options = nodeRedisOptions(readArgs(args))
    const raw: { on(e: string, f: () => void): unknown } =
      name === 'node-redis' ? createClient(options) : createClient5(options)
    raw.on('error', () => {})
    // connected at once: the adapter connects every client it wraps
    const adapter = toRedisLike(raw) as Record<string, unknown> & { call: CallFn }
    return commandProxy(raw, adapter) as unknown as Redis
  }
}
