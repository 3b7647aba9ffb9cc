/**
 * `createDemo`: opens the database, finds Redis, wires the six packages (read caches, invalidation, worker pool,
 * metrics, cdn-headers) into one Fastify service and listens. Each room it wires is its own module: `redis.ts`,
 * `read-caches.ts`, `writes.ts`, `fence.ts`, `server.ts` and the routes under `routes/`.
 */
import type { WriteBehind } from '@tierkit/invalidation'
import { type CacheMetrics, createCacheMetrics } from '@tierkit/metrics'
import { createPool, type WorkerPool } from '@tierkit/worker-pool'
import type { FastifyInstance } from 'fastify'
import type { DemoConfig } from './config.js'
import { openPostgresStore } from './db/postgres.js'
import { recordedStore } from './db/recorded.js'
import { openSqliteStore } from './db/sqlite.js'
import type { DemoStore } from './db/types.js'
import { PortInUseError } from './errors.js'
import { createFence, type Fence } from './fence.js'
import { currentPurger, type LastInvalidation, type RemoteReport, recordRemote } from './invalidate.js'
import { createReadCaches, type ReadCaches } from './read-caches.js'
import type { CircuitRecord, InvalidationRecord } from './records.js'
import { type DemoRedis, openRedis, type RedisInfo, redisInfo } from './redis.js'
import type { LocalRedis } from './redis-server.js'
import { registerCategoryListing } from './routes/category-listing.js'
import { registerProductReads } from './routes/product-reads.js'
import { registerProductWrites, type TagPurger } from './routes/product-writes.js'
import { registerReports } from './routes/reports.js'
import { registerStats } from './routes/stats.js'
import { registerUsers } from './routes/users.js'
import { createServer } from './server.js'
import type tasks from './tasks.js'
import { openWrites, type RemoteInvalidation, type ViewCount, type Writes } from './writes.js'

export { CDN_MAX_STORABLE_MS } from './fence.js'
export { policy } from './policy.js'
export type { CircuitRecord, InvalidationRecord } from './records.js'
export type { TagPurger } from './routes/product-writes.js'

/** Test-only hooks of {@link createDemo}: they let a test hold an origin response in flight. */
export interface DemoTestHooks {
  /**
   * Awaited by the product read routes (`/api/public/products/:id`, `/api/public/products?ids=`) after the cache
   * read and before the answer is sent, with the ids read. @default none
   */
  beforeProductResponse?: (ids: readonly number[]) => Promise<void> | void
}

/** Options of {@link createDemo} beyond the configuration. */
export interface DemoOptions {
  /**
   * The demo runs behind a CDN: its tags purge it with every invalidation (`deleteByTag` / `expireByTag`), through
   * the purger of the moment (`purger`, then `setPurger`). @default `true` when `purger` is given, else `false`
   */
  cdn?: boolean
  /** Purges the CDN by tag on updates (implies `cdn`). @default none */
  purger?: TagPurger
  /** Receives one line per notable event (start-up choices). @default console.log */
  log?: (line: string) => void
  /**
   * Told of each tag invalidation of another instance once this instance's bus applied it (the supervisor of
   * `--instances N` sends it back to the writer over IPC: the bus latency of its `lastInvalidation`). @default none
   */
  onRemoteInvalidation?: (e: RemoteInvalidation) => void
  /** Test-only hooks. @default none */
  testHooks?: DemoTestHooks
}

/** A running demo service. */
export interface Demo {
  /** The Fastify instance (already listening). */
  readonly app: FastifyInstance
  /** `http://HOST:PORT` */
  readonly url: string
  /** The configuration it runs with. */
  readonly config: DemoConfig
  /** The database. */
  readonly store: DemoStore
  /** Per-layer cache metrics (`cdn`, `l1`, `l2`, `db`). */
  readonly metrics: CacheMetrics
  /** How Redis was found: `url` (REDIS_URL), `local` (started here), `none` (L1 only). */
  readonly redisMode: 'url' | 'local' | 'none'
  /** The redis-server this process started, when `redisMode` is `local`. */
  readonly localRedis: LocalRedis | undefined
  /** The Redis URL in use, if any. */
  readonly redisUrl: string | undefined
  /** The Redis in use as `/api/stats` shows it (the client library, the topology, the master's name). */
  readonly redis: RedisInfo
  /**
   * Replaces the CDN purger (set once nginx runs in front).
   * @throws Error when the demo was created without `{ cdn: true }` (its tags have no CDN layer) and Redis is there.
   */
  setPurger(purger: TagPurger | undefined): void
  /**
   * Another instance reports when its bus applied an invalidation made here: added to that invalidation's
   * `remote` latencies (`/api/stats`, the dashboard). Returns whether a matching invalidation was found.
   */
  recordBusLatency(report: RemoteReport): boolean
  /**
   * Graceful shutdown: stops accepting connections, finishes in-flight requests, drains write-behind, closes
   * the pool, the bus, Redis and the database. Idempotent.
   */
  close(): Promise<void>
}

/** What the graceful shutdown stops, in order after the HTTP server. */
interface Stoppable {
  app: FastifyInstance
  config: DemoConfig
  views: WriteBehind<ViewCount> | undefined
  pool: WorkerPool<typeof tasks>
  cleanup: Array<() => Promise<unknown>>
  log: (line: string) => void
}

async function shutdown({ app, config, views, pool, cleanup, log }: Stoppable): Promise<void> {
  // no new connections; in-flight requests finish. A keep-alive connection that was busy when closing began
  // becomes idle afterwards and would hold the server open until its keep-alive timeout (72 s): close idle
  // connections as they appear, and everything past the shutdown timeout.
  const sweep = setInterval(() => app.server.closeIdleConnections(), 50)
  const hard = setTimeout(() => app.server.closeAllConnections(), config.shutdownTimeoutMs)
  try {
    await app.close()
  } finally {
    clearInterval(sweep)
    clearTimeout(hard)
  }
  // drain write-behind into the database; if it cannot (Redis away: FlushTimeoutError), the entries stay queued in
  // Redis for the next flusher, and the rest still closes
  if (views)
    await views.close({ timeout: config.shutdownTimeoutMs }).catch((e: unknown) => {
      log(`write-behind: not drained at shutdown: ${e instanceof Error ? e.message : String(e)}`)
    })
  await pool.close({ timeout: config.shutdownTimeoutMs })
  for (const c of cleanup) await c().catch(() => {})
}

/** Listens on the configured address; returns `http://HOST:PORT`. */
async function listen(app: FastifyInstance, config: DemoConfig): Promise<string> {
  try {
    await app.listen({ host: config.host, port: config.port })
  } catch (e) {
    await app.close().catch(() => {})
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE')
      throw new PortInUseError(config.host, config.port, { cause: e })
    throw e
  }
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : config.port
  return `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`
}

/** Opens the database and seeds it when empty. */
async function openStore(config: DemoConfig, log: (line: string) => void): Promise<DemoStore> {
  const store = config.databaseUrl
    ? openPostgresStore(config.databaseUrl, config.databaseSchema)
    : openSqliteStore(config.sqlitePath)
  try {
    const seeded = await store.init({ products: config.seedProducts, users: config.seedUsers })
    const where = store.kind === 'sqlite' ? ` (${config.sqlitePath})` : ` (schema ${config.databaseSchema})`
    log(
      `database: ${store.kind}${where}, ${seeded.products} products, ${seeded.users} users${seeded.seeded ? ' (seeded now)' : ''}`,
    )
    return store
  } catch (e) {
    await store.close().catch(() => {})
    throw e
  }
}

function openPool(config: DemoConfig): WorkerPool<typeof tasks> {
  return createPool<typeof tasks>({
    tasks: new URL('./tasks.js', import.meta.url),
    maxThreads: config.workerThreads,
    minThreads: 1,
    taskTimeout: 120_000,
  })
}

/** Everything the routes use, as {@link createDemo} wires it. */
interface Wiring {
  config: DemoConfig
  store: DemoStore
  redis: DemoRedis
  metrics: CacheMetrics
  http: CacheMetrics<'http'>
  circuit: CircuitRecord[]
  invalidations: InvalidationRecord[]
  /** The per-layer timings of this instance's product invalidations (the last is in `/api/stats`). */
  lastInvalidations: LastInvalidation[]
  caches: ReadCaches
  fence: Fence
  writes: Writes
  pool: WorkerPool<typeof tasks>
  beforeResponse: DemoTestHooks['beforeProductResponse']
  purger: () => TagPurger | undefined
}

function registerRoutes(app: FastifyInstance, w: Wiring): void {
  const { config, store, fence, invalidations, pool } = w
  const { products, users } = w.caches
  const { bus, views, productWriter } = w.writes
  const tags = w.writes.tags
  const recordDb = (outcome: 'hit' | 'miss', ms: number): void => w.metrics.observer.record('db', outcome, ms)
  const reads = { store, products, fence, tags, recordDb, beforeResponse: w.beforeResponse }
  registerProductReads(app, reads)
  registerCategoryListing(app, reads)
  registerUsers(app, store, users)
  registerProductWrites(app, {
    instanceId: config.instanceId,
    store,
    products,
    fence,
    productWriter,
    redis: w.redis.client,
    views,
    invalidations,
    purger: w.purger,
    tags,
    lastInvalidations: w.lastInvalidations,
  })
  registerReports(app, store, pool)
  registerStats(app, {
    config,
    store,
    metrics: w.metrics,
    http: w.http,
    pool,
    redis: redisInfo(w.redis),
    caches: w.caches,
    views,
    bus,
    invalidations,
    lastInvalidations: w.lastInvalidations,
    circuit: w.circuit,
  })
}

/**
 * Starts the demo: opens and seeds the database, finds Redis (REDIS_URL, a local redis-server, or none), wires
 * the six packages and listens.
 * @throws the database's or Redis' connection error (with REDIS_URL set, Redis must answer).
 */
export async function createDemo(config: DemoConfig, options: DemoOptions = {}): Promise<Demo> {
  const log = options.log ?? ((line: string) => console.log(line))
  let purger = options.purger
  const behindCdn = options.cdn ?? purger !== undefined
  const metrics = createCacheMetrics() // cdn, l1, l2, db
  const raw = await openStore(config, log)
  const cleanup: Array<() => Promise<unknown>> = [() => raw.close()]
  try {
    const redis = await openRedis(config, log, cleanup)
    // the simulated latency, if asked for; the db layer is the store's row reads (found: hit, absent: miss) unless
    // redis-aside records it (Redis and the read caches on)
    const storeRecords = redis.client === undefined || config.cacheMode === 'off'
    const store = recordedStore(raw, storeRecords ? metrics.observer : undefined, config.dbLatencyMs)
    const http = createCacheMetrics({ layers: ['http'] })
    const circuit: CircuitRecord[] = []
    const invalidations: InvalidationRecord[] = []
    const caches = createReadCaches(config, redis.client?.client, { metrics, circuit, log })
    cleanup.unshift(() => caches.close())
    const fence = createFence()
    const writes = await openWrites({
      config,
      redis: redis.client,
      store,
      caches,
      fence,
      invalidations,
      cleanup,
      onRemoteInvalidation: options.onRemoteInvalidation,
      cdn: behindCdn ? currentPurger(() => purger) : undefined,
    })
    const pool = openPool(config)
    const app = await createServer(config, fence, http.observer)
    const beforeResponse = options.testHooks?.beforeProductResponse
    const wiring = {
      config,
      store,
      redis,
      metrics,
      http,
      circuit,
      invalidations,
      lastInvalidations: [] as LastInvalidation[],
      caches,
      fence,
      writes,
      pool,
    }
    registerRoutes(app, { ...wiring, beforeResponse, purger: () => purger })
    const url = await listen(app, config)
    let closing: Promise<void> | undefined
    return {
      app,
      url,
      config,
      store,
      metrics,
      redisMode: redis.mode,
      localRedis: redis.local,
      redisUrl: redis.url,
      redis: redisInfo(redis),
      setPurger(p) {
        if (p !== undefined && !behindCdn && writes.tags !== undefined)
          throw new Error('createDemo(config, { cdn: true }) for a demo behind a CDN: its tags purge it')
        purger = p
      },
      recordBusLatency: (report) => recordRemote(wiring.lastInvalidations, report),
      close() {
        closing ??= shutdown({ app, config, views: writes.views, pool, cleanup, log })
        return closing
      },
    }
  } catch (e) {
    for (const c of cleanup) await c().catch(() => {})
    throw e
  }
}
