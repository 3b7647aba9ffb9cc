import { timingSafeEqual } from 'node:crypto'
import { computeETag, definePolicy } from '@tierkit/cdn-headers'
import { fastifyCdnHeaders } from '@tierkit/cdn-headers/fastify'
import {
  createInvalidationBus,
  deleteOnUpdate,
  type InvalidationBus,
  errors as invalidationErrors,
  type Store,
  type WriteBehind,
  writeBehind,
} from '@tierkit/invalidation'
import { L1Cache } from '@tierkit/l1-cache'
import { type CacheMetrics, createCacheMetrics, PROMETHEUS_CONTENT_TYPE } from '@tierkit/metrics'
import { type BreakerState, type Cache, type CacheEvent, createCache } from '@tierkit/redis-aside'
import { createPool, type WorkerPool } from '@tierkit/worker-pool'
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify'
import { Redis } from 'ioredis'
import type { DemoConfig } from './config.js'
import { dashboardHtml } from './dashboard.js'
import { openPostgresStore } from './db/postgres.js'
import { openSqliteStore } from './db/sqlite.js'
import type { DemoStore, Product, ProductPatch, User } from './db/types.js'
import { BadRequestError, DemoError, NotFoundError, PortInUseError, UnauthorizedError } from './errors.js'
import { l1OnlyCache, type ReadCache } from './l1-only.js'
import { findRedisServer, type LocalRedis, startLocalRedis } from './redis-server.js'
import type tasks from './tasks.js'

/** A cached product: the JSON body and its strong ETag, computed once per load (null: no such product). */
interface CachedProduct {
  json: string
  etag: string
}

/** Purges CDN entries by cache tag (the CDN mode plugs nginx in; without a CDN it does nothing). */
export interface TagPurger {
  /** Makes the CDN drop (or refresh) every response carrying one of `tags`. */
  purgeTags(tags: readonly string[]): Promise<void>
}

/** One entry of the recent-invalidations list of `/api/stats`. */
export interface InvalidationRecord {
  /** Epoch ms. */
  at: number
  /** `local` (this instance wrote), `remote` (bus message from another instance), `cdn-purge`. */
  kind: 'local' | 'remote' | 'cdn-purge'
  /** Cache keys. */
  keys: readonly string[]
  /** Tags. */
  tags: readonly string[]
  /** Instance that wrote. */
  from: string
}

/** A circuit breaker transition of the Redis client. */
export interface CircuitRecord {
  /** Epoch ms. */
  at: number
  /** New state. */
  state: BreakerState
  /** Which read cache (each has its own breaker): `products` or `users`. */
  cache: string
}

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
  /** Purges the CDN by tag on updates. @default none */
  purger?: TagPurger
  /** Receives one line per notable event (start-up choices). @default console.log */
  log?: (line: string) => void
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
  /** Replaces the CDN purger (set once nginx runs in front). */
  setPurger(purger: TagPurger | undefined): void
  /**
   * Graceful shutdown: stops accepting connections, finishes in-flight requests, drains write-behind, closes
   * the pool, the bus, Redis and the database. Idempotent.
   */
  close(): Promise<void>
}

/**
 * A product answer that took longer than this at the origin is not stored by the CDN (`no-store`): any stale
 * answer the edge may store was read at most this long before it was sent, which bounds how late an answer read
 * before a write can still reach the edge (the CDN's late-store check then replaces it). See {@link createDemo}.
 */
export const CDN_MAX_STORABLE_MS = 500

const ID_RE = /^[1-9]\d{0,9}$/
const MAX_IDS = 100
const RECENT = 50

function parseId(raw: unknown): number {
  if (typeof raw !== 'string' || !ID_RE.test(raw) || Number(raw) > 2_147_483_647) {
    throw new BadRequestError(`id must be a positive integer, got "${String(raw)}"`)
  }
  return Number(raw)
}

function parseIds(raw: unknown): number[] {
  if (typeof raw !== 'string' || raw === '')
    throw new BadRequestError('ids must be a comma-separated list of ids')
  const parts = raw.split(',')
  if (parts.length > MAX_IDS) throw new BadRequestError(`at most ${MAX_IDS} ids, got ${parts.length}`)
  return [...new Set(parts.map(parseId))]
}

function parsePatch(body: unknown): ProductPatch {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new BadRequestError('body must be a JSON object with name, priceCents and/or stock')
  }
  const b = body as Record<string, unknown>
  const patch: ProductPatch = {}
  for (const k of Object.keys(b)) {
    if (k !== 'name' && k !== 'priceCents' && k !== 'stock') throw new BadRequestError(`unknown field "${k}"`)
  }
  if (b.name !== undefined) {
    if (typeof b.name !== 'string' || b.name.trim() === '' || b.name.length > 200) {
      throw new BadRequestError('name must be a non-empty string of at most 200 characters')
    }
    patch.name = b.name
  }
  for (const k of ['priceCents', 'stock'] as const) {
    const v = b[k]
    if (v === undefined) continue
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > 1_000_000_000) {
      throw new BadRequestError(`${k} must be an integer from 0 to 1000000000`)
    }
    patch[k] = v
  }
  if (Object.keys(patch).length === 0)
    throw new BadRequestError('give at least one of name, priceCents, stock')
  return patch
}

function bearer(header: unknown): string | undefined {
  if (typeof header !== 'string') return undefined
  const m = /^Bearer ([\w.~+/-]+=*)$/i.exec(header.trim())
  return m?.[1]
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

function cacheProduct(p: Product): CachedProduct {
  const json = JSON.stringify(p)
  return { json, etag: computeETag(json) }
}

/** What a product read captured when it started: the write generations of its products. */
interface FenceEntry {
  epoch: number
  ids: readonly number[] | number
  gens: readonly number[] | number
}

/**
 * The CDN fence. Every write of a product bumps its generation twice (when it starts and when the database, Redis
 * and the bus are done), a bus message from another instance bumps it once, a bus reconnection (messages may have
 * been lost) bumps them all. A product read records the generations when it starts; when its answer is sent, a
 * changed generation means the answer may hold the old row and the purge may already have passed: it goes out
 * `no-store`. So does an answer that took longer than {@link CDN_MAX_STORABLE_MS}.
 */
function createFence() {
  const gens = new Map<number, number>()
  const reads = new WeakMap<object, FenceEntry>()
  let epoch = 0
  const gen = (id: number): number => gens.get(id) ?? 0
  return {
    bump(id: number): void {
      gens.set(id, gen(id) + 1)
    },
    bumpAll(): void {
      epoch++
    },
    enter(req: object, id: number): void {
      reads.set(req, { epoch, ids: id, gens: gen(id) })
    },
    enterMany(req: object, ids: readonly number[]): void {
      reads.set(req, { epoch, ids, gens: ids.map(gen) })
    },
    /** Whether the answer to `req` (a product read) must not be stored at the edge. */
    stale(req: object, elapsedMs: number): boolean {
      const e = reads.get(req)
      if (e === undefined) return false
      if (elapsedMs > CDN_MAX_STORABLE_MS || e.epoch !== epoch) return true
      if (typeof e.ids === 'number') return gen(e.ids) !== e.gens
      const g = e.gens as readonly number[]
      for (let i = 0; i < e.ids.length; i++) if (gen(e.ids[i]!) !== g[i]) return true
      return false
    },
  }
}

const pushRecent = <T>(list: T[], item: T): void => {
  list.push(item)
  if (list.length > RECENT) list.shift()
}

const INCR_IF_EXISTS =
  "if redis.call('exists', KEYS[1]) == 0 then return false end return redis.call('incr', KEYS[1])"

/** The caching policy: the notes' rules (public API cached 10 minutes, authenticated routes bypassed). */
export const policy: ReturnType<typeof definePolicy> = definePolicy([
  { name: 'users', path: '/api/users/*', authenticated: true },
  {
    name: 'public api',
    path: '/api/public/*',
    maxAge: 600, // seconds, like the directives they write
    cdnMaxAge: 600,
    staleWhileRevalidate: 60,
    negativeMaxAge: 30,
    tags: ['public'],
  },
])

async function connectRedis(url: string): Promise<Redis> {
  // not lazyConnect: the invalidation bus and write-behind duplicate() this client, and a lazy duplicate would
  // never connect by itself
  const redis = new Redis(url, {
    enableOfflineQueue: false, // fail fast while Redis is away: the breaker opens and reads go L1 → DB
    maxRetriesPerRequest: 1,
    retryStrategy: (n) => Math.min(50 * n, 1000),
  })
  let lastError: unknown
  redis.on('error', (e) => {
    lastError = e // later errors are reported through redis-aside's breaker events
  })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      redis.disconnect()
      reject(new Error(`redis: no answer from ${url} within 10 s`, { cause: lastError }))
    }, 10_000)
    redis.once('ready', () => {
      clearTimeout(timer)
      resolve()
    })
  })
  return redis
}

/**
 * Starts the demo: opens and seeds the database, finds Redis (REDIS_URL, a local redis-server, or none), wires
 * the six packages and listens.
 * @throws the database's or Redis' connection error (with REDIS_URL set, Redis must answer).
 */
export async function createDemo(config: DemoConfig, options: DemoOptions = {}): Promise<Demo> {
  const log = options.log ?? ((line: string) => console.log(line))
  const hooks = options.testHooks ?? {}
  let purger = options.purger
  const store = config.databaseUrl
    ? openPostgresStore(config.databaseUrl, config.databaseSchema)
    : openSqliteStore(config.sqlitePath)
  const cleanup: Array<() => Promise<unknown>> = [() => store.close()]
  try {
    const seeded = await store.init({ products: config.seedProducts, users: config.seedUsers })
    log(
      `database: ${store.kind}${store.kind === 'sqlite' ? ` (${config.sqlitePath})` : ` (schema ${config.databaseSchema})`}, ${seeded.products} products, ${seeded.users} users${seeded.seeded ? ' (seeded now)' : ''}`,
    )

    // ---- Redis: REDIS_URL, else a local redis-server, else L1 only
    let redisMode: 'url' | 'local' | 'none' = 'none'
    let localRedis: LocalRedis | undefined
    let redisUrl = config.redisUrl
    if (redisUrl) redisMode = 'url'
    else if (config.redisMode === 'auto') {
      const bin = findRedisServer()
      if (bin) {
        localRedis = await startLocalRedis(bin)
        cleanup.unshift(() => localRedis!.close())
        redisUrl = localRedis.url
        redisMode = 'local'
      }
    }
    let redis: Redis | undefined
    if (redisUrl) {
      redis = await connectRedis(redisUrl)
      cleanup.unshift(() => redis!.quit().catch(() => redis!.disconnect()))
      log(redisMode === 'local' ? `redis: started redis-server at ${redisUrl}` : `redis: ${redisUrl}`)
    } else {
      log(
        config.redisMode === 'off'
          ? 'redis: none (DEMO_REDIS=off): running with the in-process L1 cache only'
          : 'redis: none (no REDIS_URL and no redis-server on the PATH): running with the in-process L1 cache only',
      )
    }

    // ---- metrics, L1, read caches. One source per layer: with Redis, redis-aside records l1, l2 and db through
    // the observer; without it, the L1s' own stats() are the l1 layer and the L1-only path records db.
    const metrics = createCacheMetrics() // cdn, l1, l2, db
    const http = createCacheMetrics({ layers: ['http'] })
    const circuit: CircuitRecord[] = []
    const invalidations: InvalidationRecord[] = []
    let products: ReadCache<CachedProduct | null>
    let users: ReadCache<User | null>
    /** The redis-aside caches, when Redis is there (their breaker state goes to /api/stats). */
    let redisCaches: { products: Cache; users: Cache } | undefined
    let l1Size: () => number
    if (redis) {
      const l1 = new L1Cache<string, unknown>({ max: config.l1Max, ttl: config.l1TtlMs })
      l1Size = () => l1.stats().size
      const common = {
        redis,
        ttl: config.cacheTtlMs,
        l1,
        observer: metrics.observer,
        grace: 60_000,
        nullTtl: 30_000,
        breaker: { threshold: 5, cooldown: 2000 },
      }
      const onEvent =
        (cache: string) =>
        (e: CacheEvent): void => {
          if (e.type === 'breaker') {
            pushRecent(circuit, { at: Date.now(), state: e.state, cache })
            log(`redis: circuit ${e.state} (${cache} cache)`)
          }
        }
      redisCaches = {
        products: createCache({ ...common, namespace: 'demo:products', onEvent: onEvent('products') }),
        users: createCache({ ...common, namespace: 'demo:users', onEvent: onEvent('users') }),
      }
      products = redisCaches.products
      users = redisCaches.users
    } else {
      const productsL1 = new L1Cache<string, CachedProduct | null>({ max: config.l1Max, ttl: config.l1TtlMs })
      const usersL1 = new L1Cache<string, User | null>({ max: config.l1Max, ttl: config.l1TtlMs })
      metrics.watch('l1', productsL1)
      metrics.watch('l1', usersL1)
      l1Size = () => productsL1.stats().size + usersL1.stats().size
      products = l1OnlyCache(productsL1, metrics.observer)
      users = l1OnlyCache(usersL1, metrics.observer)
    }
    cleanup.unshift(() => Promise.all([products.close(), users.close()]))

    // ---- the CDN fence: an answer read before a write of its product and sent after it must not reach the edge
    const fence = createFence()

    // ---- invalidation: bus across instances, delete-on-update, write-behind views
    let bus: InvalidationBus | undefined
    let views: WriteBehind<{ id: number; views: number }> | undefined
    if (redis) {
      bus = createInvalidationBus({
        redis,
        channel: 'demo:invalidate',
        caches: [products, users], // a cache's evictLocal() clears its L1 after a lost subscription
        instanceId: config.instanceId,
        onEvent: (e) => {
          if (e.type === 'reconnect') fence.bumpAll() // messages may have been lost meanwhile
          if (e.type === 'message') {
            for (const k of e.message.keys) {
              const m = /^p:(\d+)$/.exec(k)
              if (m) fence.bump(Number(m[1]))
            }
            pushRecent(invalidations, {
              at: Date.now(),
              kind: 'remote',
              keys: e.message.keys,
              tags: e.message.tags,
              from: e.message.from,
            })
          }
        },
      })
      await bus.ready()
      const b = bus
      cleanup.unshift(() => b.close())
      const viewStore: Store<{ id: number; views: number }> = {
        async save(_key, value, ctx) {
          return (
            (await store.saveViews([{ id: value.id, views: value.views, version: ctx.version ?? 0 }])) === 1
          )
        },
        async remove() {
          return true
        },
        async saveMany(writes) {
          await store.saveViews(
            writes.map((w) => ({ id: w.value.id, views: w.value.views, version: w.version })),
          )
        },
      }
      views = writeBehind({ redis, name: 'demo-views', flusher: { store: viewStore, pollInterval: 200 } })
    }
    const productStore: Store<Product> = {
      async save(_key, value) {
        if (!(await store.saveProduct(value))) throw new NotFoundError(`product ${value.id} not found`)
      },
      async remove() {
        throw new DemoError('E_BAD_REQUEST', 400, 'products are not removed in the demo')
      },
    }
    const productWriter = deleteOnUpdate<Product>({
      cache: products,
      store: productStore,
      ...(bus ? { bus } : {}),
    })

    // ---- worker pool
    const pool: WorkerPool<typeof tasks> = createPool<typeof tasks>({
      tasks: new URL('./tasks.js', import.meta.url),
      maxThreads: config.workerThreads,
      minThreads: 1,
      taskTimeout: 120_000,
    })

    // ---- HTTP
    const app = Fastify({
      logger: config.logLevel === 'silent' ? false : { level: config.logLevel },
      forceCloseConnections: 'idle',
      // a URL Fastify cannot decode (400) or an over-long parameter (414) is answered before routing and before
      // any hook: fail closed there too (the cdn-headers plugin never sees these answers)
      frameworkErrors: (err: FastifyError, _req: FastifyRequest, reply: FastifyReply) => {
        const status = typeof err.statusCode === 'number' && err.statusCode >= 400 ? err.statusCode : 400
        void reply
          .code(status)
          .header('cache-control', 'private, no-store')
          .header('cdn-cache-control', 'no-store')
          .send({ error: 'E_BAD_REQUEST', message: err.message })
      },
    })
    await app.register(fastifyCdnHeaders, { policy })
    // after the plugin's onSend (hooks run in the order they were added): the last word on whether the edge may
    // store a product answer. Checked in the tick that writes the answer, so no write can slip in between.
    app.addHook('onSend', (req, reply, payload, done) => {
      if (fence.stale(req, reply.elapsedTime)) {
        reply.header('cache-control', 'no-store').header('cdn-cache-control', 'no-store')
        if (reply.hasHeader('cache-tag')) reply.removeHeader('cache-tag')
        reply.header('x-cdn-fence', 'overlapped a write')
      }
      done(null, payload)
    })
    app.addHook('onResponse', (_req, reply, done) => {
      http.observer.record('http', reply.statusCode < 500 ? 'hit' : 'error', reply.elapsedTime)
      done()
    })
    app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => {
      if (err instanceof DemoError) {
        return reply.code(err.status).send({ error: err.code, message: err.message })
      }
      if (typeof err.statusCode === 'number' && err.statusCode < 500) {
        return reply.code(err.statusCode).send({ error: err.code ?? 'E_BAD_REQUEST', message: err.message })
      }
      app.log.error(err)
      return reply.code(500).send({ error: err.code ?? 'E_INTERNAL', message: err.message })
    })

    const loadProduct = async (id: number): Promise<CachedProduct | null> => {
      const p = await store.getProduct(id)
      return p === undefined ? null : cacheProduct(p)
    }

    const beforeResponse = hooks.beforeProductResponse
    app.get('/api/public/products/:id', (req, reply) => {
      const id = parseId((req.params as { id: string }).id)
      fence.enter(req, id)
      const send = (c: CachedProduct | null | undefined) => {
        if (c === null || c === undefined) throw new NotFoundError(`product ${id} not found`)
        reply
          .header('etag', c.etag)
          .header('cache-tag', `product:${id}`)
          .type('application/json; charset=utf-8')
        return reply.send(c.json)
      }
      const read = products.getOrLoad(`p:${id}`, () => loadProduct(id))
      if (beforeResponse === undefined) return read.then(send)
      return read.then(async (c) => {
        await beforeResponse([id])
        return send(c)
      })
    })

    app.get('/api/public/products', async (req, reply) => {
      const ids = parseIds((req.query as { ids?: unknown }).ids)
      fence.enterMany(req, ids)
      const keys = ids.map((id) => `p:${id}`)
      const found = await products.getOrLoadMany(keys, async (missing) => {
        const rows = await store.getProducts(missing.map((k) => Number(k.slice(2))))
        const out = new Map<string, CachedProduct | null>()
        for (const k of missing) {
          const p = rows.get(Number(k.slice(2)))
          out.set(k, p === undefined ? null : cacheProduct(p))
        }
        return out
      })
      if (beforeResponse) await beforeResponse(ids)
      const bodies: string[] = []
      const missing: number[] = []
      found.forEach((c, i) => {
        if (c === null || c === undefined) missing.push(ids[i]!)
        else bodies.push(c.json)
      })
      reply
        .header(
          'cache-tag',
          ['products', ...ids.filter((id) => !missing.includes(id)).map((id) => `product:${id}`)].join(','),
        )
        .type('application/json; charset=utf-8')
      return reply.send(`{"products":[${bodies.join(',')}],"missing":${JSON.stringify(missing)}}`)
    })

    app.get('/api/users/:id', async (req) => {
      const token = bearer(req.headers.authorization)
      if (token === undefined) throw new UnauthorizedError()
      const id = parseId((req.params as { id: string }).id)
      // the notes' get_user: cache-aside with a 300 s TTL
      const user = await users.getOrLoad(`u:${id}`, async () => (await store.getUser(id)) ?? null, {
        ttl: 300_000,
      })
      if (user === null || user === undefined || !sameToken(token, user.apiToken))
        throw new UnauthorizedError()
      return { id: user.id, name: user.name, email: user.email, createdAt: user.createdAt }
    })

    app.put('/api/products/:id', async (req, reply) => {
      const id = parseId((req.params as { id: string }).id)
      const patch = parsePatch(req.body)
      const current = await store.getProduct(id)
      if (current === undefined) throw new NotFoundError(`product ${id} not found`)
      if (!reply.checkPreconditions({ etag: cacheProduct(current).etag })) return reply
      const next: Product = {
        ...current,
        ...patch,
        version: current.version + 1,
        updatedAt: new Date().toISOString(),
      }
      const key = `p:${id}`
      // before and after: a read of this product in flight across any part of the write is not stored at the edge
      fence.bump(id)
      try {
        await productWriter.write(key, next)
      } catch (e) {
        // the database has the new row and this instance's L1 is clear; only Redis (or the bus) could not be
        // told: the stale copy there lives at most CACHE_TTL_MS. The write is acknowledged, with a warning.
        if (
          !(e instanceof invalidationErrors.E_CACHE_DELETE_FAILED) &&
          !(e instanceof invalidationErrors.E_PUBLISH_FAILED)
        )
          throw e
        reply.header('x-cache-invalidation', `failed (${e.code})`)
      } finally {
        fence.bump(id)
      }
      pushRecent(invalidations, {
        at: Date.now(),
        kind: 'local',
        keys: [key],
        tags: [],
        from: config.instanceId,
      })
      const tags = [`product:${id}`]
      if (purger) {
        await purger.purgeTags(tags)
        pushRecent(invalidations, {
          at: Date.now(),
          kind: 'cdn-purge',
          keys: [],
          tags,
          from: config.instanceId,
        })
      }
      const c = cacheProduct(next)
      return reply.header('etag', c.etag).type('application/json; charset=utf-8').send(c.json)
    })

    app.post('/api/products/:id/views', async (req, reply) => {
      const id = parseId((req.params as { id: string }).id)
      const exists = await products.getOrLoad(`p:${id}`, () => loadProduct(id))
      if (exists === null || exists === undefined) throw new NotFoundError(`product ${id} not found`)
      if (!redis || !views) {
        // no Redis: no durable queue to write behind to, so the database is written directly
        return reply.code(200).send({ id, views: await store.incrementViews(id), mode: 'direct' })
      }
      const key = `demo:views:${id}`
      let n = (await redis.eval(INCR_IF_EXISTS, 1, key)) as number | null
      if (n === null) {
        // first view since Redis started: the counter starts from what the database holds
        await redis.set(key, await store.getViews(id), 'NX')
        n = (await redis.eval(INCR_IF_EXISTS, 1, key)) as number
      }
      const queued = await views.write(`views:${id}`, { id, views: n })
      return reply.code(202).send({ id, views: n, mode: 'write-behind', version: queued.version })
    })

    app.post('/api/reports/price-stats', async (req) => {
      const body = (req.body ?? {}) as { resamples?: unknown }
      if (typeof body !== 'object' || body === null) throw new BadRequestError('body must be a JSON object')
      const resamples = body.resamples ?? 200
      if (
        typeof resamples !== 'number' ||
        !Number.isInteger(resamples) ||
        resamples < 0 ||
        resamples > 5000
      ) {
        throw new BadRequestError('resamples must be an integer from 0 to 5000')
      }
      const cols = await store.priceColumns()
      return pool.run(
        'priceStats',
        { ...cols, resamples },
        { transfer: [cols.prices.buffer as ArrayBuffer, cols.categoryIndex.buffer as ArrayBuffer] },
      )
    })

    app.get('/metrics', (_req, reply) => {
      reply.header('content-type', PROMETHEUS_CONTENT_TYPE).header('cache-control', 'no-store')
      return reply.send(metrics.toPrometheus())
    })

    const started = Date.now()
    app.get('/api/stats', (_req, reply) => {
      const snap = metrics.snapshot()
      const h = http.snapshot().byLayer.http
      const ps = pool.stats()
      const layers: Record<string, unknown> = {}
      for (const [name, l] of Object.entries(snap.byLayer)) {
        layers[name] = {
          hits: l.hits,
          misses: l.misses,
          stale: l.stale,
          errors: l.errors,
          hitRate: l.hitRate,
          avgMs: l.latency?.avg ?? null,
          p99Ms: l.latency?.p99 ?? null,
        }
      }
      reply.header('cache-control', 'no-store')
      return {
        instanceId: config.instanceId,
        pid: process.pid,
        uptimeMs: Date.now() - started,
        now: Date.now(),
        database: store.kind,
        redis: {
          mode: redisMode,
          breaker: redisCaches?.products.breakerState ?? null,
        },
        http: {
          requests: h ? h.lookups + h.errors : 0,
          errors: h?.errors ?? 0,
          p50Ms: h?.latency?.p50 ?? null,
          p95Ms: h?.latency?.p95 ?? null,
          p99Ms: h?.latency?.p99 ?? null,
          avgMs: h?.latency?.avg ?? null,
        },
        layers,
        l1: { size: l1Size() },
        pool: {
          threads: ps.threads,
          maxThreads: config.workerThreads,
          running: ps.running,
          queued: ps.queued,
          completed: ps.completed,
          failed: ps.failed,
          utilization: ps.utilization,
          busyTime: ps.busyTime,
          uptime: ps.uptime,
        },
        writeBehind: views?.flusher?.stats() ?? null,
        bus: bus?.stats() ?? null,
        invalidations: [...invalidations].reverse(),
        circuit: [...circuit],
      }
    })

    app.get('/', (_req, reply) => {
      reply.header('cache-control', 'no-store').type('text/html; charset=utf-8')
      return reply.send(dashboardHtml)
    })

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
    const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`

    let closing: Promise<void> | undefined
    const demo: Demo = {
      app,
      url,
      config,
      store,
      metrics,
      redisMode,
      localRedis,
      redisUrl,
      setPurger(p) {
        purger = p
      },
      close() {
        closing ??= (async () => {
          // no new connections; in-flight requests finish. A keep-alive connection that was busy when closing
          // began becomes idle afterwards and would hold the server open until its keep-alive timeout (72 s):
          // close idle connections as they appear, and everything past the shutdown timeout.
          const sweep = setInterval(() => app.server.closeIdleConnections(), 50)
          const hard = setTimeout(() => app.server.closeAllConnections(), config.shutdownTimeoutMs)
          try {
            await app.close()
          } finally {
            clearInterval(sweep)
            clearTimeout(hard)
          }
          if (views) await views.close({ timeout: config.shutdownTimeoutMs }) // drain write-behind into the database
          await pool.close({ timeout: config.shutdownTimeoutMs })
          for (const c of cleanup) await c().catch(() => {})
        })()
        return closing
      },
    }
    return demo
  } catch (e) {
    for (const c of cleanup) await c().catch(() => {})
    throw e
  }
}
