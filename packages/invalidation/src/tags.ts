import { setTimeout as sleep } from 'node:timers/promises'
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
import type { IoredisLike, NodeRedisClientLike } from '@tierkit/contracts/redis'
import type { Cluster, Redis } from 'ioredis'
import { checkBus, checkName, checkRedis, withRedis } from './args.js'
import { PublishError, UnknownTagError } from './errors.js'
import { type CdnPurger, purgeCdn, type TagInvalidation } from './tags/cdn.js'
import { LocalVersions } from './tags/local.js'
import {
  judgeStored,
  type Load,
  loadAndStore,
  type Prefetch,
  prefetchVersions,
  readStored,
  refresh,
  store,
  type TagsEvent,
  type TagsState,
  withinGrace,
} from './tags/read.js'
import { Refresher } from './tags/refresh.js'
import { type Unwrapped, unwrap } from './tags/stored.js'
import { type TagState, TagVersions } from './tags/versions.js'
import { checkJitter, checkTtlOption, resolveTtl } from './ttl.js'
import type {
  InvalidationMessage,
  InvalidationPublisher,
  ReadableCache,
  TagVersionBus,
  TtlOption,
} from './types.js'

export type { TagsEvent } from './tags/read.js'

/** The longest tag name, in characters: a longer one is refused (`TierkitTypeError`, `E_INVALID_ARGUMENT`). */
export const MAX_TAG_LENGTH: number = 1024

/** Options of {@link createTags}. */
export interface TagsOptions<T = unknown> {
  /** An ioredis `Redis` or `Cluster` holding the tag versions (not closed by this package). */
  redis: Redis | Cluster | IoredisLike | NodeRedisClientLike
  /** The cache tagged values are stored in (redis-aside's cache is one). */
  cache: ReadableCache
  /** Namespace of the tag versions: `tk:{namespace}:<tag>` (one hash slot, so one `MGET` on a Cluster). @default 'default' */
  namespace?: string
  /** When given, only these tags are accepted; any other is `E_UNKNOWN_TAG`. */
  knownTags?: readonly string[]
  /**
   * Told about every invalidation (`{ tags, tagVersions }`, `{ keys }`), so other instances can react. A bus
   * of `createInvalidationBus` also brings the other instances' tag versions: while it is subscribed, an L1
   * hit is checked against the versions this process holds, with no round trip (see `versionTtl`).
   */
  bus?: InvalidationPublisher
  /** TTL of tagged values (ms, or a function of key and value). @default the cache's own TTL */
  ttl?: TtlOption<T>
  /** Random fraction (0 to 1) by which each TTL is shortened. @default 0 */
  jitter?: number
  /**
   * How long a value made stale by `expire`/`expireByTag` may still be served, in ms from when it went
   * stale (per call: `{ grace }`); 0: a stale value is loaded again, as a gone one.
   * @default 0
   */
  grace?: number
  /**
   * The staleness bound of the tag versions this process holds: each is trusted for at most this many ms
   * after it was learned (from Redis or the bus), then read from Redis again. Only used with a bus that is
   * subscribed; without one every tagged read asks Redis.
   * @default 1000
   */
  versionTtl?: number
  /**
   * How long the instance that refreshes a stale value has before another instance may refresh it too
   * (the refresh claim's time to live), in ms.
   * @default 10000
   */
  refreshTimeout?: number
  /**
   * Bound of each operation's Redis calls on the tag versions, in ms: past it (or when Redis fails) `set`
   * and the invalidations reject with `TagsUnavailableError` (`E_TAGS_UNAVAILABLE`), reads degrade.
   * @default 1000
   */
  timeout?: number
  /**
   * The CDN in front of the service, purged by `deleteByTag` (hard) and `expireByTag` (soft) with the same
   * tags, after Redis and the bus: `@tierkit/cdn-headers`' `createNginxPurger` or `createPurgeClient`
   * (Cloudflare), or anything with their `purgeTags(tags, { mode })`. The responses must carry the tags as
   * their `Cache-Tag` (cdn-headers' policy does).
   */
  cdn?: CdnPurger
  /**
   * With `cdn` and a bus: how long the purge waits after the bus publish, in ms, so that the other
   * instances have applied the new versions before the CDN asks one of them for the URL again (the bus
   * publish resolves when Redis took the message, before the others read it; on one network this is well
   * under a millisecond). 0: at once.
   * @default 50
   */
  cdnDelay?: number
  /** Receives what was swallowed so that a read could answer (see {@link TagsEvent}). A listener that throws is ignored. */
  onEvent?: (event: TagsEvent) => void
}

/** Per-call options of `set` and `getOrLoad`. */
export interface TagOptions {
  /** Tags of the value (non-empty strings of at most {@link MAX_TAG_LENGTH} characters). */
  tags: readonly string[]
  /** TTL of this value: an integer number of ms from 1 to 315360000000. */
  ttl?: number
}

/** Per-call options of `get`. */
export interface TagGetOptions {
  /** How long after it went stale (`expire`, `expireByTag`) a value is still served, in ms. @default the `grace` option */
  grace?: number
}

/** Per-call options of `getOrLoad`. */
export interface TagLoadOptions extends TagOptions, TagGetOptions {
  /**
   * Stops this caller's wait: once aborted, `getOrLoad` rejects at once with `AbortedError` (`E_ABORTED`,
   * `name` `'AbortError'`), the loader's `ctx.signal` is aborted (each call runs its own loader, so this
   * caller is its last waiter) and what it still returns is not cached.
   */
  signal?: AbortSignal
}

/**
 * What the loader of `tags.getOrLoad` receives (the family's `LoaderContext`): the key, a signal aborted
 * when the caller stops waiting, and `stale`: the value being replaced when it was stale (a refresh, or a
 * read past its grace), else `undefined`.
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
   * stored without tags (a plain `cache.set`: not a tagged value), gone (`delete`, `deleteByTag`; then it is
   * also deleted), or stale past `grace` (`expire`, `expireByTag`). No round trip for the versions while a bus
   * is subscribed and they are fresh (`versionTtl`), else one `MGET`. Never throws on Redis trouble: a value
   * whose tags cannot be checked is not served (`undefined`, reported through `onEvent`).
   */
  get(key: string, options?: TagGetOptions): Promise<T | undefined>
  /**
   * `get`, else loads with `loader(ctx)` and stores the result with `tags` (tag versions are read before
   * loading; an `undefined` result is returned, not stored). A stale value within `grace` is returned at once
   * and refreshed in the background, by one instance of all while Redis answers (at most one per instance
   * when it does not). An L2 hit reads the versions beside the value: one round trip. Redis trouble never
   * fails it: without the tag versions it returns the loader's value uncached.
   * @throws AbortedError (`E_ABORTED`) at once when `options.signal` aborts (see {@link TagLoadOptions}).
   * @throws TierkitTypeError, UnknownTagError (nothing loaded); what the loader throws.
   */
  getOrLoad(
    key: string,
    loader: (ctx: TagsLoaderContext<T>) => T | Promise<T>,
    options: TagLoadOptions,
  ): Promise<T>
  /**
   * Hard, one key: deletes it (L2 and own L1) and tells the other instances (`{ keys }` on the bus).
   * @throws TierkitTypeError; the cache's errors; PublishError when the bus failed (the delete is done).
   */
  delete(key: string): Promise<void>
  /**
   * Soft, one key: the stored value is marked stale now (rewritten with the time, its TTL started again)
   * and the other instances drop their L1 copy; reads serve it within their grace and refresh it once.
   * Resolves `false` when there was no tagged value.
   * @throws TierkitTypeError; the cache's errors; PublishError when the bus failed (the expire is done).
   */
  expire(key: string): Promise<boolean>
  /**
   * Hard, by tag: every value stored with any of `tags` before the call is gone. This instance stops
   * serving them at once; another one as soon as the bus brings it the new versions (the bus delivery
   * time), at the latest `versionTtl` after it last learned them, and at once when it has no bus.
   * One script on the namespace's slot (O(1) per tag, whatever the number of keys).
   * With `cdn`, the CDN purges the same tags hard, after Redis and the bus. Resolves with what each layer
   * did and how long it took ({@link TagInvalidation}; a CDN failure is in its report, never a rejection).
   * @throws TierkitTypeError, UnknownTagError (nothing invalidated); TagsUnavailableError when Redis
   * could not be used within `timeout` (maybe not invalidated, the CDN not purged: call it again);
   * PublishError when the bus failed (the invalidation itself is done, the CDN purged: its `invalidation`
   * holds what each layer did).
   */
  deleteByTag(tags: readonly string[]): Promise<TagInvalidation>
  /**
   * Soft, by tag: every value stored with any of `tags` before the call is stale (seen as `deleteByTag`'s
   * are, with the same bound): reads serve it within their grace and refresh it once; a read without grace
   * loads. With `cdn`, the CDN purges the same tags soft (nginx: each tagged URL fetched again through the
   * cache, so no user sees a miss; the origin must answer that fetch without grace). Same cost, result and
   * errors as `deleteByTag`.
   */
  expireByTag(tags: readonly string[]): Promise<TagInvalidation>
  /** @deprecated renamed `deleteByTag` (the hard one; `expireByTag` is the soft one). Same behaviour. */
  invalidateTags(tags: readonly string[]): Promise<void>
}

/**
 * Tags with a version scheme: each tag has a version in Redis; a tagged value keeps the versions it was
 * stored under; `deleteByTag` moves the versions on (a read that sees another version treats the value as
 * gone), `expireByTag` moves the tags' soft stamps on (the value is stale). Nothing has to list or delete the
 * tagged keys, so it works across the slots of a Cluster.
 * @throws TierkitTypeError (`E_INVALID_ARGUMENT`) when an option is invalid.
 * @example
 * const tags = createTags({ redis, cache, bus, grace: 60_000 })
 * await tags.set('product:1', product, { tags: ['products', 'brand:7'] })
 * await tags.expireByTag(['brand:7']) // served stale, refreshed once
 * await tags.deleteByTag(['products']) // gone now
 */
export function createTags<T = unknown>(options: TagsOptions<T>): Tags<T> {
  const state = checkOptions(withRedis('createTags', options))
  const bus = state.bus as Partial<TagVersionBus> | undefined
  if (typeof bus?.attachTags === 'function') {
    bus.attachTags({
      tagVersions: (tags, v) =>
        state.local.announced(tags, v === undefined ? undefined : { hard: [...v.hard], soft: [...v.soft] }),
      subscription: (up) => state.local.subscription(up),
    })
  }
  return {
    set: (key, value, o) => set(state, key, value, o),
    get: (key, o) => get(state, key, o),
    getOrLoad: (key, loader, o) => getOrLoad(state, key, loader, o),
    delete: (key) => deleteKey(state, key),
    expire: (key) => expireKey(state, key),
    deleteByTag: (tags) => byTag(state, tags, 'deleteByTag'),
    expireByTag: (tags) => byTag(state, tags, 'expireByTag'),
    invalidateTags: async (tags) => {
      await byTag(state, tags, 'invalidateTags')
    },
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
    options.knownTags === undefined
      ? undefined
      : new Set(checkStrings(where, 'knownTags', options.knownTags, false, MAX_TAG_LENGTH))
  checkBus(where, bus)
  checkTtlOption(where, ttl)
  checkJitter(where, jitter)
  const timeout = checkDuration(where, 'timeout', options.timeout ?? 1000, 1)
  const grace = checkDuration(where, 'grace', options.grace ?? 0, 0)
  const versionTtl = checkDuration(where, 'versionTtl', options.versionTtl ?? 1000, 1)
  const refreshTimeout = checkDuration(where, 'refreshTimeout', options.refreshTimeout ?? 10_000, 1)
  checkFunction(where, 'onEvent', onEvent, true)
  if (options.cdn !== undefined)
    checkMethods(where, 'cdn', options.cdn, ['purgeTags'], 'a CDN purger with purgeTags')
  const emit = (event: TagsEvent): void => {
    try {
      onEvent?.(event)
    } catch {
      // a listener must not break a read
    }
  }
  const cdnDelay = checkDuration(where, 'cdnDelay', options.cdnDelay ?? 50, 0)
  const versions = new TagVersions(redis, namespace, timeout)
  const local = new LocalVersions(versionTtl)
  const refresher = new Refresher(versions, refreshTimeout)
  const peek = typeof (cache as Partial<ReadableCache>).peekLocal === 'function'
  return {
    cache,
    peek,
    bus,
    cdn: options.cdn,
    cdnDelay,
    ttl,
    jitter,
    known,
    versions,
    local,
    refresher,
    grace,
    emit,
  }
}

/** The tags of a call: non-empty strings of at most MAX_TAG_LENGTH, known ones when `knownTags` was given, each once. */
function checkTags<T>(state: TagsState<T>, tags: unknown, where: string, what: string): readonly string[] {
  if (state.known === undefined && plainTags(tags)) return tags // the usual case, in one pass
  const list = checkStrings(where, what, tags, true, MAX_TAG_LENGTH)
  if (state.known) for (const t of list) if (!state.known.has(t)) throw new UnknownTagError(where, t)
  return unique(list)
}

/** A short list of valid tags, none repeated (each checked against the ones before it: up to 16 tags). */
function plainTags(tags: unknown): tags is readonly string[] {
  if (!Array.isArray(tags) || tags.length === 0 || tags.length > 16) return false
  for (let i = 0; i < tags.length; i++) {
    const t: unknown = tags[i]
    if (typeof t !== 'string' || t.length === 0 || t.length > MAX_TAG_LENGTH) return false
    for (let j = 0; j < i; j++) if (tags[j] === t) return false
  }
  return true
}

/** `list` itself when no tag repeats (the usual case: nothing allocated), else each once. */
function unique(list: readonly string[]): readonly string[] {
  if (list.length > 16) return [...new Set(list)]
  for (let i = 1; i < list.length; i++) {
    for (let j = 0; j < i; j++) if (list[i] === list[j]) return [...new Set(list)]
  }
  return list
}

function checkGrace(where: string, o: { grace?: unknown } | undefined): number | undefined {
  return o?.grace === undefined ? undefined : checkDuration(where, 'options.grace', o.grace, 0)
}

function checkCallOptions(o: unknown, where: string): TagLoadOptions {
  checkObject(where, 'options', o)
  const { ttl: ttlValue, signal } = o as { ttl?: unknown; signal?: unknown }
  if (ttlValue !== undefined) checkTtl(where, 'options.ttl', ttlValue)
  checkSignal(where, 'options.signal', signal)
  checkGrace(where, o as { grace?: unknown })
  return o as unknown as TagLoadOptions
}

async function set<T>(state: TagsState<T>, key: string, value: T, o: TagOptions): Promise<void> {
  checkString('tags.set', 'key', key)
  if (value === undefined) throw invalidArgument('tags.set', 'value', 'defined', value)
  const opts = checkCallOptions(o, 'tags.set')
  const tags = checkTags(state, opts.tags, 'tags.set', 'options.tags')
  resolveTtl('tags.set', state.ttl, state.jitter, key, value, opts.ttl) // a bad TTL from the ttl function: nothing touched
  const mark = state.local.mark()
  const vs = await state.versions.forStore('set', tags)
  state.local.learn(tags, vs, mark)
  await store(state, 'tags.set', key, value, tags, vs, opts.ttl)
}

async function get<T>(state: TagsState<T>, key: string, o?: TagGetOptions): Promise<T | undefined> {
  checkString('tags.get', 'key', key)
  if (o !== undefined) checkObject('tags.get', 'options', o)
  const grace = checkGrace('tags.get', o) ?? state.grace
  const r = await judgeStored(state, key)
  if (r === undefined) return undefined
  const { w, v } = r
  if (v.kind === 'fresh' || (v.kind === 'stale' && withinGrace(v.since, grace))) return w.value as T
  if (v.kind === 'unknown') state.emit({ type: 'error', operation: 'get', key, error: v.error })
  return undefined
}

/**
 * One `getOrLoad` past its checks and its synchronous L1-hit path. `peeked`: the wrapper `peekLocal` found
 * in this process's L1 (not vouched for by the map): judged without reading the cache again. Otherwise the
 * cache's answer first, with nothing allocated on a hit (a cache without `peekLocal`): its wrapper read back
 * once, its versions compared with the map. Otherwise the versions are read beside the value (one round
 * trip for an L2 hit) and the value judged, served, refreshed or loaded.
 */
function readThrough<T>(
  state: TagsState<T>,
  load: Load<T>,
  grace: number,
  signal: () => AbortSignal,
  peeked: Unwrapped | undefined,
): Promise<T> {
  // while the bus is subscribed the map normally vouches: the versions are read (beside the value) only when not
  const prefetch = state.local.isTrusted ? undefined : prefetchVersions(state, load.tags)
  if (peeked !== undefined) return slowRead(state, load, grace, signal, prefetch, peeked)
  return Promise.resolve(state.cache.get(load.key)).then((raw) => {
    const w = unwrap(raw)
    if (w !== undefined && w.expiredAt === 0 && state.local.freshFor(w)) {
      return w.value as T
    }
    return slowRead(state, load, grace, signal, prefetch, w)
  })
}

async function slowRead<T>(
  state: TagsState<T>,
  load: Load<T>,
  grace: number,
  signal: () => AbortSignal,
  prefetch: Prefetch | undefined,
  first: Unwrapped | undefined,
): Promise<T> {
  const { key } = load
  const r = await judgeStored(state, key, prefetch, { w: first })
  if (r === undefined) return loadAndStore(state, load, signal(), undefined)
  const { w, v } = r
  if (v.kind === 'fresh') return w.value as T
  if (v.kind === 'stale' && withinGrace(v.since, grace)) {
    void refresh(state, load, v.state, w.value as T)
    return w.value as T
  }
  if (v.kind === 'unknown') state.emit({ type: 'error', operation: 'get', key, error: v.error })
  return loadAndStore(state, load, signal(), v.kind === 'stale' ? (w.value as T) : undefined)
}

function getOrLoad<T>(
  state: TagsState<T>,
  key: string,
  loader: (ctx: TagsLoaderContext<T>) => T | Promise<T>,
  o: TagLoadOptions,
): Promise<T> {
  const where = 'tags.getOrLoad'
  let tags: readonly string[]
  let opts: TagLoadOptions
  try {
    checkString(where, 'key', key)
    checkFunction(where, 'loader', loader)
    opts = checkCallOptions(o, where)
    tags = checkTags(state, opts.tags, where, 'options.tags')
  } catch (e) {
    return Promise.reject(e)
  }
  const signal = opts.signal
  if (signal?.aborted) return Promise.reject(new AbortedError(where, signal.reason, key))
  // the L1-hit path (a cache with peekLocal): the cache's copy read synchronously, its wrapper read back once
  // (a WeakMap), its versions compared with the map; one promise, as an untagged hit
  const peeked = state.peek ? unwrap(state.cache.peekLocal!(key)) : undefined
  if (peeked !== undefined && peeked.expiredAt === 0 && state.local.freshFor(peeked)) {
    return Promise.resolve(peeked.value as T)
  }
  const grace = opts.grace ?? state.grace
  const load: Load<T> = { key, loader, tags, ttl: opts.ttl }
  // the loader's signal is made only when the loader runs (an AbortController costs more than an L1 hit)
  if (signal === undefined) return readThrough(state, load, grace, () => new AbortController().signal, peeked)
  const controller = new AbortController()
  const run = (): Promise<T> => readThrough(state, load, grace, () => controller.signal, peeked)
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

/** Tells the other instances (the bus, when there is one); a failure is a `PublishError`. */
async function tell<T>(state: TagsState<T>, message: InvalidationMessage): Promise<void> {
  if (state.bus === undefined) return
  try {
    await state.bus.publish(message)
  } catch (e) {
    throw e instanceof PublishError ? e : new PublishError(undefined, e)
  }
}

async function byTag<T>(
  state: TagsState<T>,
  tags: readonly string[],
  operation: 'deleteByTag' | 'expireByTag' | 'invalidateTags',
): Promise<TagInvalidation> {
  const list = checkTags(state, tags, `tags.${operation}`, 'tags')
  const t0 = performance.now()
  const st: TagState =
    operation === 'expireByTag'
      ? await state.versions.soften(list)
      : await state.versions.bump(list, operation)
  const mode = operation === 'expireByTag' ? 'soft' : 'hard'
  const redis = { ms: performance.now() - t0 }
  state.local.announced(list, st) // this instance: at once
  let busError: unknown
  try {
    await tell(state, { tags: list, tagVersions: { hard: st.hard as number[], soft: st.soft } })
  } catch (e) {
    busError = e
  }
  const bus = state.bus === undefined ? undefined : { ms: performance.now() - t0 }
  // the CDN last: what it fetches again must already be the new value; purged even when the bus failed
  if (state.cdn !== undefined && bus !== undefined && state.cdnDelay > 0) await sleep(state.cdnDelay)
  const cdn = state.cdn === undefined ? undefined : await purgeCdn(state.cdn, list, mode, t0)
  const result: TagInvalidation = { tags: list, mode, redis, bus, cdn }
  if (busError !== undefined) {
    if (busError instanceof PublishError) busError.invalidation = result
    throw busError
  }
  return result
}

async function deleteKey<T>(state: TagsState<T>, key: string): Promise<void> {
  checkString('tags.delete', 'key', key)
  await state.cache.delete(key)
  await tell(state, { keys: [key] })
}

async function expireKey<T>(state: TagsState<T>, key: string): Promise<boolean> {
  checkString('tags.expire', 'key', key)
  await state.cache.evictLocal(key) // the copy in L2 is the one rewritten
  const w = await readStored(state, key)
  if (w === undefined) return false
  const vs: TagState = { hard: w.versions, soft: w.stamps }
  await store(state, 'tags.expire', key, w.value as T, w.tags, vs, undefined, Date.now())
  await tell(state, { keys: [key] })
  return true
}
