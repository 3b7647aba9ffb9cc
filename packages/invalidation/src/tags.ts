import type { Cluster, Redis } from 'ioredis'
import { InvalidArgumentError, PublishError, UnknownTagError } from './errors.js'
import { checkJitter, checkTtlOption, resolveTtl } from './ttl.js'
import type { InvalidationPublisher, ReadableCache, TtlOption } from './types.js'
import { checkKey, checkObject, checkTags } from './validate.js'

/** Options of {@link createTags}. */
export interface TagsOptions<T = unknown> {
  /** An ioredis `Redis` or `Cluster` holding the tag versions (not closed by this package). */
  redis: Redis | Cluster
  /** The cache tagged values are stored in (redis-aside's cache fits). */
  cache: ReadableCache
  /** Namespace of the tag versions: `tk:{namespace}:<tag>` (one hash slot, so one `MGET` on a Cluster). @default 'default' */
  namespace?: string
  /** When given, only these tags are accepted; any other is `E_UNKNOWN_TAG`. */
  knownTags?: readonly string[]
  /** Told about every invalidation (`{ tags }`), so other instances can react (see the bus). */
  bus?: InvalidationPublisher
  /** TTL of tagged values (ms, or a function of key and value). @default the cache's own TTL */
  ttl?: TtlOption<T>
  /** Random fraction (0 to 1) by which each TTL is shortened. @default 0 */
  jitter?: number
}

/** Per-call options of `set` and `getOrLoad`. */
export interface TagOptions {
  /** Tags of the value (non-empty strings). */
  tags: readonly string[]
  /** TTL of this value in ms. */
  ttl?: number
}

/** Tagged access to a cache, returned by {@link createTags}. */
export interface Tags<T = unknown> {
  /**
   * Stores `value` with `tags` (the current version of each tag is kept with it).
   * @throws InvalidArgumentError, UnknownTagError; the cache's own errors.
   */
  set(key: string, value: T, options: TagOptions): Promise<void>
  /**
   * Returns the value, or `undefined` when absent or when one of its tags was invalidated since it was
   * stored (then it is also deleted). One extra `MGET` of the tag versions per tagged hit, in any instance.
   */
  get(key: string): Promise<T | undefined>
  /** `get`, else loads with `loader` and stores the result with `tags` (tag versions are read before loading). */
  getOrLoad(key: string, loader: () => T | Promise<T>, options: TagOptions): Promise<T>
  /**
   * Invalidates every value stored with any of `tags` before the call: once this resolves, no instance
   * serves them, from L1 or L2. Works on a Cluster (one `INCR` per tag, no cross-slot atomicity needed).
   * @throws InvalidArgumentError, UnknownTagError (nothing invalidated); PublishError when the bus failed
   * (the invalidation itself is done).
   */
  invalidateTags(tags: readonly string[]): Promise<void>
}

const MARK = '__tierkitTagged'

interface Tagged {
  [MARK]: 1
  v: unknown
  t: Record<string, number>
}

function isTagged(x: unknown): x is Tagged {
  return (
    typeof x === 'object' &&
    x !== null &&
    (x as Record<string, unknown>)[MARK] === 1 &&
    typeof (x as Tagged).t === 'object' &&
    (x as Tagged).t !== null
  )
}

/**
 * Tags with a version scheme: each tag has a counter in Redis; a tagged value keeps the counters it was
 * stored under; `invalidateTags` increments the counters, and a read that sees a newer counter treats the
 * value as gone. Nothing has to list or delete the tagged keys, so it works across the slots of a Cluster.
 * @throws InvalidArgumentError when an option is invalid.
 * @example
 * const tags = createTags({ redis, cache })
 * await tags.set('product:1', product, { tags: ['products', 'brand:7'] })
 * await tags.invalidateTags(['brand:7'])
 */
export function createTags<T = unknown>(options: TagsOptions<T>): Tags<T> {
  checkObject(options, 'createTags options')
  const { redis, cache, bus, ttl, jitter } = options
  if (typeof redis !== 'object' || redis === null || typeof (redis as Redis).mget !== 'function') {
    throw new InvalidArgumentError('createTags: redis must be an ioredis Redis or Cluster')
  }
  if (
    typeof cache !== 'object' ||
    cache === null ||
    typeof cache.get !== 'function' ||
    typeof cache.set !== 'function' ||
    typeof cache.delete !== 'function'
  ) {
    throw new InvalidArgumentError('createTags: cache must have get, set and delete methods')
  }
  const namespace = options.namespace ?? 'default'
  if (typeof namespace !== 'string' || namespace.length === 0 || /[{}]/.test(namespace)) {
    throw new InvalidArgumentError('createTags: namespace must be a non-empty string without { or }')
  }
  let known: Set<string> | undefined
  if (options.knownTags !== undefined) {
    checkTags(options.knownTags, 'createTags knownTags')
    known = new Set(options.knownTags)
  }
  if (bus !== undefined && typeof bus?.publish !== 'function') {
    throw new InvalidArgumentError('createTags: bus must have a publish method')
  }
  checkTtlOption(ttl, 'createTags')
  checkJitter(jitter, 'createTags')
  const prefix = `tk:{${namespace}}:`

  const check = (tags: unknown, fn: string): string[] => {
    checkTags(tags, fn)
    if (tags.length === 0) throw new InvalidArgumentError(`${fn}: give at least one tag`)
    if (known) for (const t of tags) if (!known.has(t)) throw new UnknownTagError(t)
    return [...new Set(tags)]
  }

  const versions = async (tags: readonly string[]): Promise<number[]> => {
    const r = (await (redis as Redis).mget(...tags.map((t) => prefix + t))) as Array<string | null>
    return r.map((v) => Number(v ?? 0))
  }

  const checkOpts = (o: unknown, fn: string): TagOptions => {
    checkObject(o, `${fn} options`)
    const ttlValue = (o as { ttl?: unknown }).ttl
    if (
      ttlValue !== undefined &&
      !(typeof ttlValue === 'number' && Number.isFinite(ttlValue) && ttlValue > 0)
    ) {
      throw new InvalidArgumentError(`${fn}: ttl must be a positive number`)
    }
    return o as unknown as TagOptions
  }

  const store = async (key: string, value: T, tags: string[], vs: number[], perCall: number | undefined) => {
    const t: Record<string, number> = {}
    tags.forEach((tag, i) => {
      t[tag] = vs[i]!
    })
    const wrapped: Tagged = { [MARK]: 1, v: value, t }
    const ms = resolveTtl(ttl, jitter, key, value, perCall)
    await cache.set(key, wrapped, ms === undefined ? undefined : { ttl: ms })
  }

  const api: Tags<T> = {
    async set(key, value, o) {
      checkKey(key, 'tags.set')
      if (value === undefined) throw new InvalidArgumentError('tags.set: value must not be undefined')
      const opts = checkOpts(o, 'tags.set')
      const tags = check(opts.tags, 'tags.set')
      await store(key, value, tags, await versions(tags), opts.ttl)
    },
    async get(key) {
      checkKey(key, 'tags.get')
      const raw = await cache.get(key)
      if (raw === undefined || raw === null || !isTagged(raw)) return raw as T | undefined
      const tags = Object.keys(raw.t)
      if (tags.length > 0) {
        const current = await versions(tags)
        if (current.some((v, i) => v > (raw.t[tags[i]!] ?? 0))) {
          await Promise.resolve(cache.delete(key)).catch(() => cache.evictLocal(key))
          return undefined
        }
      }
      return raw.v as T
    },
    async getOrLoad(key, loader, o) {
      checkKey(key, 'tags.getOrLoad')
      if (typeof loader !== 'function')
        throw new InvalidArgumentError('tags.getOrLoad: loader must be a function')
      const opts = checkOpts(o, 'tags.getOrLoad')
      const tags = check(opts.tags, 'tags.getOrLoad')
      const hit = await api.get(key)
      if (hit !== undefined) return hit
      // versions BEFORE loading: an invalidation during the load makes this value stale, as it should
      const vs = await versions(tags)
      const value = await loader()
      if (value !== undefined) await store(key, value, tags, vs, opts.ttl)
      return value
    },
    async invalidateTags(tags) {
      const list = check(tags, 'invalidateTags')
      const multi = (redis as Redis).multi()
      for (const t of list) multi.incr(prefix + t)
      const r = await multi.exec()
      for (const [err] of r ?? []) if (err) throw err
      if (bus !== undefined) {
        try {
          await bus.publish({ tags: list })
        } catch (e) {
          throw e instanceof PublishError ? e : new PublishError(e)
        }
      }
    },
  }
  return api
}
