/**
 * The write side: the invalidation bus across instances (with Redis), delete-on-update of products, and the
 * write-behind queue of view counts (with Redis) into the database.
 */
import {
  type CdnPurger,
  createInvalidationBus,
  createTags,
  deleteOnUpdate,
  type InvalidationBus,
  type Store,
  type Tags,
  type WriteBehind,
  type Writer,
  writeBehind,
} from '@tierkit/invalidation'
import type { DemoConfig } from './config.js'
import type { DemoStore, Product } from './db/types.js'
import { DemoError, NotFoundError } from './errors.js'
import type { Fence } from './fence.js'
import { preciseNow, TAG_GRACE_MS } from './invalidate.js'
import type { CachedProduct, ReadCaches } from './read-caches.js'
import { type InvalidationRecord, pushRecent } from './records.js'
import type { DemoRedisClient } from './redis-client.js'

/** A view count queued for the database. */
export interface ViewCount {
  id: number
  views: number
}

/** The demo's writers. */
export interface Writes {
  /** The bus, when Redis is there. */
  readonly bus: InvalidationBus | undefined
  /** The write-behind queue of view counts, when Redis is there. */
  readonly views: WriteBehind<ViewCount> | undefined
  /** The tags over the product cache (with Redis), on the bus: the single product reads are tagged. */
  readonly tags: Tags<CachedProduct | null> | undefined
  /** Writes a product to the database and invalidates it in every cache (and every instance, with the bus). */
  readonly productWriter: Writer<Product>
}

function viewStore(store: DemoStore): Store<ViewCount> {
  return {
    async save(_key, value, ctx) {
      return (await store.saveViews([{ id: value.id, views: value.views, version: ctx.version ?? 0 }])) === 1
    },
    async remove() {
      return true
    },
    async saveMany(writes) {
      await store.saveViews(writes.map((w) => ({ id: w.value.id, views: w.value.views, version: w.version })))
    },
  }
}

function productStore(store: DemoStore): Store<Product> {
  return {
    async save(_key, value) {
      if (!(await store.saveProduct(value))) throw new NotFoundError(`product ${value.id} not found`)
    },
    async remove() {
      throw new DemoError('E_BAD_REQUEST', 400, 'products are not removed in the demo')
    },
  }
}

async function openBus(
  config: DemoConfig,
  redis: DemoRedisClient,
  caches: ReadCaches,
  fence: Fence,
  invalidations: InvalidationRecord[],
  onRemote: ((e: RemoteInvalidation) => void) | undefined,
): Promise<InvalidationBus> {
  const bus = createInvalidationBus({
    redis: redis.client,
    channel: 'demo:invalidate',
    caches: [caches.products, caches.users], // a cache's evictLocal() clears its L1 after a lost subscription
    instanceId: config.instanceId,
    onEvent: (e) => {
      if (e.type === 'reconnect') fence.bumpAll() // messages may have been lost meanwhile
      if (e.type === 'message') {
        for (const k of e.message.keys) {
          const m = /^p:(\d+)$/.exec(k)
          if (m) fence.bump(Number(m[1]))
        }
        for (const t of e.message.tags) {
          const m = /^product:(\d+)$/.exec(t)
          if (m) fence.expired(Number(m[1]), TAG_GRACE_MS)
        }
        // applied (keys evicted, tag versions known): the moment the writer's latency runs to
        if (e.message.tags.length > 0)
          onRemote?.({ from: e.message.from, tags: e.message.tags, at: preciseNow() })
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
  return bus
}

/** What {@link openWrites} wires. */
export interface WritesDeps {
  config: DemoConfig
  redis: DemoRedisClient | undefined
  store: DemoStore
  caches: ReadCaches
  fence: Fence
  /** Remote invalidations (bus messages) are appended here. */
  invalidations: InvalidationRecord[]
  /** The bus's close is put first here. */
  cleanup: Array<() => Promise<unknown>>
  /** Told of each tag invalidation from another instance once the bus applied it. */
  onRemoteInvalidation?: ((e: RemoteInvalidation) => void) | undefined
  /** The CDN in front (the demo's purger): the tags purge it after Redis and the bus. @default none */
  cdn?: CdnPurger | undefined
}

/** A tag invalidation of another instance, applied here by the bus. */
export interface RemoteInvalidation {
  /** The writer's `INSTANCE_ID`. */
  from: string
  tags: readonly string[]
  /** When it was applied ({@link preciseNow}). */
  at: number
}

/** Opens the bus and the write-behind queue (with Redis) and the product writer. */
export async function openWrites(deps: WritesDeps): Promise<Writes> {
  const { config, redis, store, caches } = deps
  let bus: InvalidationBus | undefined
  let views: WriteBehind<ViewCount> | undefined
  let tags: Tags<CachedProduct | null> | undefined
  if (redis) {
    const b = await openBus(config, redis, caches, deps.fence, deps.invalidations, deps.onRemoteInvalidation)
    bus = b
    deps.cleanup.unshift(() => b.close())
    views = writeBehind({
      redis: redis.client,
      name: 'demo-views',
      flusher: { store: viewStore(store), pollInterval: 200 },
    })
    if (caches.redisCaches)
      tags = createTags<CachedProduct | null>({
        redis: redis.client,
        cache: caches.redisCaches.products,
        namespace: 'demo:products',
        bus: b,
        grace: TAG_GRACE_MS,
        // one invalidation API across the layers: deleteByTag / expireByTag purge the CDN too (after the bus,
        // cdnDelay's 50 ms, so the other instances have the new versions when nginx asks one of them again)
        ...(deps.cdn ? { cdn: deps.cdn } : {}),
      })
  }
  const productWriter = deleteOnUpdate<Product>({
    cache: caches.products,
    store: productStore(store),
    ...(bus ? { bus } : {}),
  })
  return { bus, views, tags, productWriter }
}
