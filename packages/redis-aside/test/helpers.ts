import { setTimeout as sleep } from 'node:timers/promises'
import { TierkitTypeError } from '@tierkit/contracts'
import { type RedisLike, toRedisLike } from '@tierkit/contracts/redis'
import {
  type DelayProxy,
  delayProxy,
  type RedisCluster,
  type RedisServer,
  type SecureRedisServer,
  startRedis,
  startRedisCluster,
  startSecureRedis,
} from '@tierkit/testkit'
import { Cluster, Redis } from 'ioredis'
import { Redis as Valkey, Cluster as ValkeyCluster } from 'iovalkey'
import { createClient } from 'redis'
import { createClient as createClient5 } from 'redis5'
import { expect, vi } from 'vitest'

export type TopologyName = 'redis' | 'cluster'

/**
 * The client library the whole suite runs with: `TIERKIT_TEST_CLIENT` = `ioredis` (the default), `iovalkey`,
 * `node-redis` (6, RESP3) or `node-redis5`. node-redis has no Cluster support in tierkit yet (a typed error,
 * tested in contracts): with it the suite runs on the single Redis only.
 */
export type ClientName = 'ioredis' | 'iovalkey' | 'node-redis' | 'node-redis5'
export const CLIENT: ClientName = clientFromEnv(process.env.TIERKIT_TEST_CLIENT)
/**
 * `TIERKIT_TEST_SECURE=1`: the suite as managed Redis runs it: the cache's clients connect over TLS (a CA made at
 * start) as an ACL user granted exactly {@link REDIS_ASIDE_ACL} (the README's) plus the tests' own bookkeeping
 * (`EXISTS`, the workers' `loader-calls:*` counters); the fault injection and `onEveryNode` keep the admin connection (the plain port). Single Redis only.
 */
export const SECURE: boolean = process.env.TIERKIT_TEST_SECURE === '1'
export const TOPOLOGIES: TopologyName[] =
  CLIENT.startsWith('node-redis') || SECURE ? ['redis'] : ['redis', 'cluster']

/** The Redis ACL redis-aside needs (README, "Redis ACL"): its keys, no channels, the commands it and its scripts send. */
export const REDIS_ASIDE_ACL =
  'resetkeys ~ra:* resetchannels -@all +get +mget +set +del +pexpire +pttl +eval +evalsha +ping +info'

/** What the tests themselves need besides the package: EXISTS for their checks, the workers' loader counters. */
const TEST_BOOKKEEPING = '~loader-calls:* +exists +incr'

/** The secure server's credentials and CA, for the clients (undefined when not secure). */
let secure: { username: string; password: string; ca: string } | undefined

function clientFromEnv(v: string | undefined): ClientName {
  const name = v === undefined || v === '' ? 'ioredis' : v
  if (!['ioredis', 'iovalkey', 'node-redis', 'node-redis5'].includes(name))
    throw new Error(`TIERKIT_TEST_CLIENT must be ioredis, iovalkey, node-redis or node-redis5, got ${v}`)
  return name as ClientName
}

/**
 * A single-server client of the suite's library, typed as ioredis's `Redis` (what the tests call on it). A
 * node-redis client is passed to the cache as it is (createCache wraps it) but the tests' own calls on it go
 * through the same adapter, with any other command method (`flushall`, `pttl`...) sent as `call`.
 */
function singleClient(host: string, port: number, offlineQueue: boolean): Redis {
  const auth = secure && { username: secure.username, password: secure.password, tls: { ca: secure.ca } }
  if (CLIENT === 'ioredis')
    return new Redis({ host, port, lazyConnect: false, enableOfflineQueue: offlineQueue, ...auth })
  if (CLIENT === 'iovalkey')
    return new Valkey({ host, port, enableOfflineQueue: offlineQueue, ...auth }) as unknown as Redis
  const url = secure
    ? `rediss://${secure.username}:${secure.password}@${host}:${port}`
    : `redis://${host}:${port}`
  const options = {
    url,
    disableOfflineQueue: !offlineQueue,
    ...(secure ? { socket: { tls: true as const, ca: secure.ca } } : {}),
  }
  const raw: object = CLIENT === 'node-redis' ? createClient(options) : createClient5(options)
  return commandProxy(raw, toRedisLike(raw)) as unknown as Redis
}

/** `raw` (what the cache is given) answering the tests' ioredis-style calls through `adapter`. */
function commandProxy(raw: object, adapter: RedisLike): object {
  return new Proxy(raw, {
    get(target, prop, receiver) {
      if (prop === 'disconnect' || prop === 'quit' || prop === 'status' || prop === 'duplicate')
        return prop === 'status' ? adapter.status : (adapter[prop] as () => unknown).bind(adapter)
      if (typeof prop === 'string' && prop in adapter) {
        const v = (adapter as unknown as Record<string, unknown>)[prop]
        return typeof v === 'function' ? v.bind(adapter) : v
      }
      if (typeof prop === 'string' && /^[a-z]+$/.test(prop) && !(prop in target))
        return (...args: Array<string | number>) => adapter.call(prop.toUpperCase(), ...args)
      return Reflect.get(target, prop, receiver)
    },
  })
}

/** A real single Redis or a real 3-master Cluster, with clients that the test closes. */
export interface Topology {
  name: TopologyName
  server?: RedisServer
  cluster?: RedisCluster
  /** A new client (closed by `close()`). */
  client(options?: { proxied?: DelayProxy[]; enableOfflineQueue?: boolean }): Redis | Cluster
  /** Every master as host/port (one for a single Redis). */
  nodes(): Array<{ host: string; port: number }>
  /** Stops every server process (really). */
  stopServers(): Promise<void>
  /** Restarts every server process and waits until it is usable again. */
  restartServers(): Promise<void>
  /** Restarts the servers if a previous (failed) test left them stopped. */
  ensureRunning(): Promise<void>
  /** Runs a raw command on every node and returns the replies. */
  onEveryNode(cmd: string[]): Promise<unknown[]>
  close(): Promise<void>
}

export async function startTopology(name: TopologyName): Promise<Topology> {
  const clients: Array<Redis | Cluster> = []
  const quiet = <C extends Redis | Cluster>(c: C): C => {
    c.on('error', () => {})
    clients.push(c)
    return c
  }
  if (name === 'redis') {
    const user = {
      name: 'tk',
      password: `pw-${process.pid}`,
      rules: `${REDIS_ASIDE_ACL} ${TEST_BOOKKEEPING}`,
    }
    const server = SECURE
      ? await startSecureRedis({ appendonly: true, users: [user] })
      : await startRedis({ appendonly: true })
    if (SECURE)
      secure = { username: user.name, password: user.password, ca: (server as SecureRedisServer).ca }
    // the cache's clients (and the workers') reach the TLS port as the ACL user; the admin keeps the plain one
    const cachePort = SECURE ? (server as SecureRedisServer).tlsPort : server.port
    return {
      name,
      server,
      client: (options) => {
        const p = options?.proxied?.[0]
        return quiet(
          singleClient(p?.host ?? server.host, p?.port ?? cachePort, options?.enableOfflineQueue !== false),
        )
      },
      nodes: () => [
        secure
          ? {
              host: server.host,
              port: cachePort,
              username: secure.username,
              password: secure.password,
              tls: { ca: secure.ca },
            }
          : { host: server.host, port: server.port },
      ],
      stopServers: () => server.stop(),
      restartServers: () => server.restart(),
      ensureRunning: async () => {
        if (!server.running) await server.restart()
      },
      onEveryNode: async (cmd) => {
        const c = new Redis({ host: server.host, port: server.port })
        try {
          return [await c.call(cmd[0]!, ...cmd.slice(1))]
        } finally {
          c.disconnect()
        }
      },
      close: async () => {
        for (const c of clients) c.disconnect()
        await server.stop()
      },
    }
  }
  const cluster = await startRedisCluster({ masters: 3 })
  const nodes = () => cluster.nodes.map((n) => ({ host: n.host, port: n.port }))
  return {
    name,
    cluster,
    client: (options) => {
      const proxies = options?.proxied
      const natMap = proxies
        ? Object.fromEntries(
            cluster.nodes.map((n, i) => [
              `${n.host}:${n.port}`,
              { host: proxies[i]!.host, port: proxies[i]!.port },
            ]),
          )
        : undefined
      const startNodes = proxies ? proxies.map((p) => ({ host: p.host, port: p.port })) : nodes()
      const ClusterClient = CLIENT === 'iovalkey' ? (ValkeyCluster as unknown as typeof Cluster) : Cluster
      return quiet(
        new ClusterClient(startNodes, {
          ...(natMap ? { natMap } : {}),
          ...(options?.enableOfflineQueue === false ? { enableOfflineQueue: false } : {}),
        }),
      )
    },
    nodes,
    stopServers: async () => {
      await Promise.all(cluster.nodes.map((n) => n.stop()))
    },
    restartServers: async () => {
      await Promise.all(cluster.nodes.map((n) => n.restart()))
      // wait until the cluster is whole again
      for (const n of cluster.nodes) {
        for (let i = 0; ; i++) {
          const c = new Redis({ host: n.host, port: n.port })
          const info = String(await c.call('CLUSTER', 'INFO').catch(() => ''))
          c.disconnect()
          if (info.includes('cluster_state:ok')) break
          if (i > 400) throw new Error('cluster did not recover')
          await sleep(50)
        }
      }
    },
    ensureRunning: async function (this: Topology) {
      if (cluster.nodes.some((n) => !n.running)) await this.restartServers()
    },
    onEveryNode: async (cmd) =>
      Promise.all(
        nodes().map(async (n) => {
          const c = new Redis(n)
          try {
            return await c.call(cmd[0]!, ...cmd.slice(1))
          } finally {
            c.disconnect()
          }
        }),
      ),
    close: async () => {
      for (const c of clients) c.disconnect()
      await cluster.stop()
    },
  }
}

/** Proxies in front of every node of a topology (for slow-Redis tests). */
export async function proxiesFor(t: Topology, latencyMs: number): Promise<DelayProxy[]> {
  return Promise.all(t.nodes().map((n) => delayProxy(n, { latencyMs })))
}

/** Resolves once the client can reach every master (a Cluster connects to its nodes lazily). */
export async function ready(client: Redis | Cluster): Promise<void> {
  await eventually(async () => {
    try {
      await client.ping()
      if (client instanceof Cluster) await Promise.all(client.nodes('master').map((n) => n.ping()))
      return true
    } catch {
      return false
    }
  }, 20_000)
}

/**
 * Waits until `fn` returns true: `vi.waitFor` (polling every 10 ms, throwing after `timeout`) for a predicate
 * rather than an assertion. Waits only, never asserts a duration.
 */
export function eventually(fn: () => boolean | Promise<boolean>, timeout = 10_000): Promise<void> {
  return vi.waitFor(
    async () => {
      if (!(await fn())) throw new Error('condition not met in time')
    },
    { timeout, interval: 10 },
  )
}

let nsCounter = 0
/** A namespace unique to this test. */
export function uniqueNs(prefix = 't'): string {
  return `${prefix}-${process.pid}-${++nsCounter}`
}

/** Sum of `calls` of one command in INFO commandstats over the given replies. */
export function commandCalls(infos: unknown[], command: string): number {
  let sum = 0
  for (const info of infos) {
    const m = new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(String(info))
    if (m) sum += Number(m[1])
  }
  return sum
}

/** An observer that keeps every record. */
export function recordingObserver(): {
  record(layer: string, outcome: string, ms?: number): void
  events: string[]
  count(e: string): number
} {
  const events: string[] = []
  return {
    events,
    record(layer, outcome) {
      events.push(`${layer}:${outcome}`)
    },
    count(e) {
      return events.filter((x) => x === e).length
    },
  }
}

/**
 * A minimal L1 of the documented shape (Map + per-entry TTL), used where a test needs any L1; the real
 * `L1Cache` is exercised in l1-cache.integration.test.ts.
 */
export class MapL1 {
  readonly map: Map<string, { value: unknown; expires: number }> = new Map()
  get(key: string): unknown {
    const e = this.map.get(key)
    if (e === undefined) return undefined
    if (Date.now() >= e.expires) {
      this.map.delete(key)
      return undefined
    }
    return e.value
  }
  set(key: string, value: unknown, options?: { ttl?: number }): this {
    this.map.set(key, {
      value,
      expires: options?.ttl === undefined ? Number.POSITIVE_INFINITY : Date.now() + options.ttl,
    })
    return this
  }
  delete(key: string): boolean {
    return this.map.delete(key)
  }
  clear(): void {
    this.map.clear()
  }
}

/** What `f` throws (`undefined` when it returns): the assertions stay outside any catch. */
export function thrown(f: () => unknown): unknown {
  try {
    f()
  } catch (e) {
    return e
  }
  return undefined
}

/** What `p` rejects with (`undefined` when it resolves). */
export function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  )
}

/** `e` is the family's bad-argument error (a TypeError, code E_INVALID_ARGUMENT) with exactly `message`. */
export function expectInvalidArgument(e: unknown, message: string): void {
  expect(e).toBeInstanceOf(TierkitTypeError)
  expect(e).toBeInstanceOf(TypeError)
  expect(e).toMatchObject({ code: 'E_INVALID_ARGUMENT', name: 'TypeError', message })
}
