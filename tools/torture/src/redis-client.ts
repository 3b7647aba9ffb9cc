/** ioredis clients for a {@link RedisSpec}, configured as a service would be during outages (fail fast). */
import { Cluster, Redis, type RedisOptions } from 'ioredis'
import type { RedisSpec } from './types.js'

const common: RedisOptions = {
  // fail fast while Redis is away: the breaker opens and reads go L1 → database (as the demo does)
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  connectTimeout: 1000,
  retryStrategy: (n: number) => Math.min(50 * n, 500),
  // after a Sentinel failover the old primary answers READONLY until the client reconnects
  reconnectOnError: (err: Error) => (err.message.startsWith('READONLY') ? 2 : false),
}

/** A client for `spec`. Errors are swallowed here (the caches report them). */
export function connect(spec: RedisSpec, extra: RedisOptions = {}): Redis | Cluster {
  let client: Redis | Cluster
  if (spec.kind === 'single') {
    client = new Redis({ ...common, ...extra, host: spec.host, port: spec.port })
  } else if (spec.kind === 'sentinel') {
    client = new Redis({
      ...common,
      ...extra,
      sentinels: spec.sentinels,
      name: spec.name,
      sentinelRetryStrategy: (n: number) => Math.min(50 * n, 500),
      failoverDetector: true,
    })
  } else {
    client = new Cluster(spec.nodes, {
      enableOfflineQueue: false,
      clusterRetryStrategy: (n: number) => Math.min(50 * n, 500),
      retryDelayOnFailover: 50,
      retryDelayOnClusterDown: 50,
      maxRedirections: 4,
      // a master that comes back re-announces its slots: answers MOVED back and forth for a moment, and four
      // redirections without a pause are spent in a millisecond (each then a miss and a loader call)
      retryDelayOnMoved: 20,
      slotsRefreshTimeout: 1000,
      redisOptions: { ...common, ...extra },
    })
  }
  client.on('error', () => {})
  return client
}

/** Resolves once the client is ready (bounded). */
export function whenReady(client: Redis | Cluster, timeoutMs = 15_000): Promise<void> {
  if (client.status === 'ready') return Promise.resolve()
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`redis: not ready within ${timeoutMs} ms`)), timeoutMs)
    client.once('ready', () => {
      clearTimeout(t)
      resolve()
    })
  })
}
