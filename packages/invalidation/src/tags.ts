import {
  AbortedError,
  checkDuration,
  checkFunction,
  checkMethods,
  checkObject,
  checkSignal,
  checkString,
  checkStrings,
  checkTtl,
  invalidArgument,
  type LoaderContext,
  refuseRenamed,
} from '@tierkit/contracts'
import type { Cluster, Redis } from 'ioredis'
import { checkBus, checkName, checkRedis } from './args.js'
import { PublishError, UnknownTagError } from './errors.js'
import { unwrap, wrap } from './tags/stored.js'
import { TagVersions } from './tags/versions.js'
import { checkJitter, checkTtlOption, resolveTtl } from './ttl.js'
import type { InvalidationPublisher, ReadableCache, TtlOption } from './types.js'

/** What `createTags` reports through `onEvent`: errors it swallowed so that a read could still answer. */
export type TagsEvent =
  /**
   * A read could not check the tag versions in Redis (`error.cause` says why) and degraded: `get` missed,
   * `getOrLoad` answered from the loader without caching; or a `getOrLoad` could not cache what it loaded.
   */
  { type: 'error'; operation: 'get' | 'getOrLoad'; key: string; error: unknown }

/** Options of {@link createTags}. */
export interface TagsOptions<T = unknown> {
  /** An ioredis `Redis` or `Cluster` holding the tag versions (not closed by this package). */
  redis: Redis | Cluster
  /** The cache tagged values are stored in (redis-aside's cache is one). */
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
  /**
   * Bound of each operation's Redis calls on the tag versions, in ms: past it (or when Redis fails) `set`
   * and `invalidateTags` reject with `TagsUnavailableError` (`E_TAGS_UNAVAILABLE`), reads degrade.
   * @default 1000
   */
  timeout?: number
  /** Receives what was swallowed so that a read could answer (see {@link TagsEvent}). A listener that throws is ignored. */
  onEvent?: (event: TagsEvent) => void
}

/** Per-call options of `set` and `getOrLoad`. */
export interface TagOptions {
  /** Tags of the value (non-empty strings). */
  tags: readonly string[]
  /** TTL of this value: an integer number of ms from 1 to 315360000000. */
  ttl?: number
}

/** Per-call options of `getOrLoad`. */
export interface TagLoadOptions extends TagOptions {
  /**
   * Stops this caller's wait: once aborted, `getOrLoad` rejects at once with `AbortedError` (`E_ABORTED`,
   * `name` `'AbortError'`), the loader's `ctx.signal` is aborted (each call runs its own loader, so this
   * caller is its last waiter) and what it still returns is not cached.
   */
  signal?: AbortSignal
}

/**
 * What the loader of `tags.getOrLoad` receives (the family's `LoaderContext`): the key, a signal aborted
 * when the caller stops waiting, and `stale`, always `undefined` here (the tags keep no stale values).
 */
export type TagsLoaderContext<T = unknown> = LoaderContext<string, T>

/** Tagged access to a cache, returned by {@link createTags}. */
export interface Tags<T = unknown> {
  /**
   * Stores `value` (any value the cache takes, whatever its shape) with `tags`; the current version of each
   * tag is kept with it.
   * @throws TierkitTypeError, UnknownTagError (nothing stored); TagsUnavailableError when the tag
   * versions could not be read within `timeout` (nothing stored); the cache's own errors.
   */
  set(key: string, value: T, options: TagOptions): Promise<void>
  /**
   * Returns the value stored through `set`/`getOrLoad`, exactly as it was given, or `undefined`: absent,
   * stored without tags (a plain `cache.set`: not a tagged value), or one of its tags was invalidated since
   * (then it is also deleted). A cached "not found" of the cache (redis-aside's `null`) is not a tagged
   * value: `undefined`. One extra `MGET` of the tag versions per tagged hit, in any instance. Never throws
   * on Redis trouble: a value whose tags cannot be checked is not served (`undefined`, reported through
   * `onEvent`).
   */
  get(key: string): Promise<T | undefined>
  /**
   * `get`, else loads with `loader(ctx)` and stores the result with `tags` (tag versions are read before
   * loading; an `undefined` result is returned, not stored). Redis trouble never fails it: without the tag
   * versions it returns the loader's value uncached; a failed cache fill is reported through `onEvent`.
   * @throws AbortedError (`E_ABORTED`) at once when `options.signal` aborts (see {@link TagLoadOptions}).
   * @throws TierkitTypeError, UnknownTagError (nothing loaded); what the loader throws.
   */
  getOrLoad(
    key: string,
    loader: (ctx: TagsLoaderContext<T>) => T | Promise<T>,
    options: TagLoadOptions,
  ): Promise<T>
  /**
   * Invalidates every value stored with any of `tags` before the call: once this resolves, no instance
   * serves them, from L1 or L2. Works on a Cluster (one script on the namespace's slot).
   * @throws TierkitTypeError, UnknownTagError (nothing invalidated); TagsUnavailableError when Redis
   * could not be used within `timeout` (maybe not invalidated: call it again); PublishError when the bus
   * failed (the invalidation itself is done).
   */
  invalidateTags(tags: readonly string[]): Promise<void>
}

/** What the calls of one `createTags` share. */
interface TagsState<T> {
  readonly cache: ReadableCache
  readonly bus: InvalidationPublisher | undefined
  readonly ttl: TtlOption<T> | undefined
  readonly jitter: number | undefined
  readonly known: ReadonlySet<string> | undefined
  readonly versions: TagVersions
  emit(event: TagsEvent): void
}

/**
 * Tags with a version scheme: each tag has a version in Redis; a tagged value keeps the versions it was
 * stored under; `invalidateTags` moves the versions on, and a read that sees a different version treats the
 * value as gone. Nothing has to list or delete the tagged keys, so it works across the slots of a Cluster.
 * @throws TierkitTypeError (`E_INVALID_ARGUMENT`) when an option is invalid.
 * @example
 * const tags = createTags({ redis, cache })
 * await tags.set('product:1', product, { tags: ['products', 'brand:7'] })
 * await tags.invalidateTags(['brand:7'])
 */
export function createTags<T = unknown>(options: TagsOptions<T>): Tags<T> {
  const state = checkOptions(options)
  return {
    set: (key, value, o) => set(state, key, value, o),
    get: (key) => get(state, key),
    getOrLoad: (key, loader, o) => getOrLoad(state, key, loader, o),
    invalidateTags: (tags) => invalidateTags(state, tags),
  }
}

function checkOptions<T>(options: TagsOptions<T>): TagsState<T> {
  const where = 'createTags'
  checkObject(where, 'options', options)
  refuseRenamed(where, options, { timeoutMs: 'renamed timeout' })
  const { redis, cache, bus, ttl, jitter, onEvent } = options
  checkRedis(where, redis)
  checkMethods(
    where,
    'cache',
    cache,
    ['get', 'set', 'delete', 'evictLocal'],
    'a cache with get, set, delete and evictLocal methods',
  )
  const namespace = options.namespace ?? 'default'
  checkName(where, 'namespace', namespace)
  const known =
    options.knownTags === undefined ? undefined : new Set(checkStrings(where, 'knownTags', options.knownTags))
  checkBus(where, bus)
  checkTtlOption(where, ttl)
  checkJitter(where, jitter)
  const timeout = checkDuration(where, 'timeout', options.timeout ?? 1000, 1)
  checkFunction(where, 'onEvent', onEvent, true)
  const emit = (event: TagsEvent): void => {
    try {
      onEvent?.(event)
    } catch {
      // a listener must not break a read
    }
  }
  return { cache, bus, ttl, jitter, known, versions: new TagVersions(redis, namespace, timeout), emit }
}

/** The tags of a call: non-empty strings, known ones when `knownTags` was given, each once. */
function checkTags<T>(state: TagsState<T>, tags: unknown, where: string, what: string): string[] {
  const list = checkStrings(where, what, tags, true)
  if (state.known) for (const t of list) if (!state.known.has(t)) throw new UnknownTagError(where, t)
  return [...new Set(list)]
}

function checkCallOptions(o: unknown, where: string): TagLoadOptions {
  checkObject(where, 'options', o)
  const { ttl: ttlValue, signal } = o as { ttl?: unknown; signal?: unknown }
  if (ttlValue !== undefined) checkTtl(where, 'options.ttl', ttlValue)
  checkSignal(where, 'options.signal', signal)
  return o as unknown as TagLoadOptions
}

/** Stores `value` wrapped with its tags' versions, with its TTL. */
async function store<T>(
  state: TagsState<T>,
  where: string,
  key: string,
  value: T,
  tags: string[],
  vs: number[],
  perCall: number | undefined,
): Promise<void> {
  const ms = resolveTtl(where, state.ttl, state.jitter, key, value, perCall)
  await state.cache.set(key, wrap(value, tags, vs), ms === undefined ? undefined : { ttl: ms })
}

async function set<T>(state: TagsState<T>, key: string, value: T, o: TagOptions): Promise<void> {
  checkString('tags.set', 'key', key)
  if (value === undefined) throw invalidArgument('tags.set', 'value', 'defined', value)
  const opts = checkCallOptions(o, 'tags.set')
  const tags = checkTags(state, opts.tags, 'tags.set', 'options.tags')
  resolveTtl('tags.set', state.ttl, state.jitter, key, value, opts.ttl) // a bad TTL from the ttl function: nothing touched
  await store(state, 'tags.set', key, value, tags, await state.versions.forStore('set', tags), opts.ttl)
}

async function get<T>(state: TagsState<T>, key: string): Promise<T | undefined> {
  checkString('tags.get', 'key', key)
  const raw = await state.cache.get(key)
  const w = unwrap(raw)
  if (w === undefined) return undefined // absent, or not stored through tags
  let current: Array<number | undefined>
  try {
    current = await state.versions.current(w.tags)
  } catch (error) {
    state.emit({ type: 'error', operation: 'get', key, error })
    return undefined // cannot be checked: not served
  }
  if (current.some((v, i) => v === undefined || v !== w.versions[i])) {
    try {
      await state.cache.delete(key)
    } catch {
      try {
        await state.cache.evictLocal(key)
      } catch {
        // a miss either way
      }
    }
    return undefined
  }
  return w.value as T
}

async function getOrLoad<T>(
  state: TagsState<T>,
  key: string,
  loader: (ctx: TagsLoaderContext<T>) => T | Promise<T>,
  o: TagLoadOptions,
): Promise<T> {
  const where = 'tags.getOrLoad'
  checkString(where, 'key', key)
  checkFunction(where, 'loader', loader)
  const opts = checkCallOptions(o, where)
  const tags = checkTags(state, opts.tags, where, 'options.tags')
  const signal = opts.signal
  if (signal?.aborted) throw new AbortedError(where, signal.reason, key)
  const controller = new AbortController()
  const run = async (): Promise<T> => {
    const hit = await get(state, key)
    if (hit !== undefined) return hit
    // versions BEFORE loading: an invalidation during the load makes this value stale, as it should
    let vs: number[] | undefined
    try {
      vs = await state.versions.forStore('getOrLoad', tags)
    } catch (error) {
      state.emit({ type: 'error', operation: 'getOrLoad', key, error })
    }
    const value = await loader({ key, signal: controller.signal, stale: undefined })
    if (value !== undefined && vs !== undefined && !controller.signal.aborted) {
      try {
        await store(state, where, key, value, tags, vs, opts.ttl)
      } catch (error) {
        state.emit({ type: 'error', operation: 'getOrLoad', key, error })
      }
    }
    return value
  }
  if (signal === undefined) return run()
  return abortable(signal, controller, () => new AbortedError(where, signal.reason, key), run)
}

/**
 * `run()`, or a rejection with `aborted()` as soon as `signal` aborts (then `controller`, the loader's, is
 * aborted too; what `run` still returns is dropped).
 */
function abortable<T>(
  signal: AbortSignal,
  controller: AbortController,
  aborted: () => Error,
  run: () => Promise<T>,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      controller.abort(signal.reason)
      reject(aborted())
    }
    signal.addEventListener('abort', onAbort, { once: true })
    run().then(
      (v) => {
        signal.removeEventListener('abort', onAbort)
        resolve(v)
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(e)
      },
    )
  })
}

async function invalidateTags<T>(state: TagsState<T>, tags: readonly string[]): Promise<void> {
  const list = checkTags(state, tags, 'tags.invalidateTags', 'tags')
  await state.versions.bump(list)
  if (state.bus !== undefined) {
    try {
      await state.bus.publish({ tags: list })
    } catch (e) {
      throw e instanceof PublishError ? e : new PublishError(undefined, e)
    }
  }
}
