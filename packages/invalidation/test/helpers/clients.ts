/**
 * The Redis client library this run uses (`TIERKIT_TEST_CLIENT`: ioredis by default, iovalkey, node-redis,
 * node-redis5; see @tierkit/testkit/clients): `redisClient(...)` takes ioredis's constructor arguments. The whole
 * suite builds its single-server clients with it, so it runs unchanged with each library
 * (tools/scripts/client-matrix.mjs); the Cluster files run with the libraries that have Cluster support.
 */
import { toRedisLike } from '@tierkit/contracts/redis'
import { clientName, redisClientFactory } from '@tierkit/testkit/clients'
import type { Redis, RedisOptions } from 'ioredis'
import { createClient } from 'redis'
import { createClient as createClient5 } from 'redis5'
import { adminUrlOf, nodeRedisOptionsOf, withTls } from './secure.js'

const factory = redisClientFactory(toRedisLike)

/**
 * A client of this run's library from ioredis's constructor arguments; in the `secure` run a `rediss://` URL (a
 * server's `url`: the ACL user over TLS) gets the run's CA.
 */
export const redisClient: ReturnType<typeof redisClientFactory> = (...args) => factory(...withTls(args))

/**
 * A client for the test's own doings on the server at `url` (fault injection, FLUSHALL, CLIENT KILL, KEYS,
 * inspecting streams): in the `secure` run the plain port as user `default`, else as {@link redisClient}.
 */
export function adminClient(url: string, options: RedisOptions = {}): Redis {
  return redisClient(adminUrlOf(url), options)
}

/**
 * A client that has not connected yet, as a service may pass one: an ioredis/iovalkey client made with
 * `lazyConnect: true` (status `wait` until its first command; its duplicates inherit that); under node-redis
 * a `createClient()` whose `connect()` was not called, passed as it is (the package wraps and connects it).
 */
export function lazyRedisClient(url: string, options: RedisOptions = {}): Redis {
  const name = clientName()
  if (!name.startsWith('node-redis')) return redisClient(url, { ...options, lazyConnect: true })
  const raw =
    name === 'node-redis' ? createClient(nodeRedisOptionsOf(url)) : createClient5(nodeRedisOptionsOf(url))
  raw.on('error', () => {})
  return raw as unknown as Redis
}

/** Whether a client of {@link lazyRedisClient} has not connected: status `wait`, or a node-redis one not open. */
export function notConnected(client: unknown): boolean {
  const c = client as { status?: unknown; isOpen?: unknown }
  return typeof c.isOpen === 'boolean' ? c.isOpen === false : c.status === 'wait'
}

/**
 * The client library's own client, connected, as a service passes it: ioredis/iovalkey as {@link redisClient}
 * makes them; under node-redis a `createClient()` (not the suite's proxy, which answers any command method
 * through `call`), so that a package calling a method the client interface lacks fails here.
 */
export async function ownRedisClient(url: string): Promise<{ client: Redis; close(): Promise<unknown> }> {
  const name = clientName()
  if (!name.startsWith('node-redis')) {
    const r = redisClient(url)
    r.on('error', () => {})
    return { client: r, close: async () => r.disconnect() }
  }
  const raw =
    name === 'node-redis' ? createClient(nodeRedisOptionsOf(url)) : createClient5(nodeRedisOptionsOf(url))
  raw.on('error', () => {})
  await raw.connect()
  return { client: raw as unknown as Redis, close: async () => raw.destroy() }
}
