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
import { PublishError, TagsUnavailableError, UnknownTagError } from './errors.js'
import { Script } from './scripts.js'
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

const MARK = '__tierkitTagged'

/**
 * The stored form of a tagged value: `{ __tierkitTagged: 1, v: value, t: { [tag]: version } }`. The tag
 * names are own data properties (defined, never assigned, so `__proto__` is a key like any other), read
 * back with `Object.keys` + own descriptors.
 */
interface Tagged {
  [MARK]: 1
  v: unknown
  t: Record<string, number>
}

const VERSION_RE = /^[1-9][0-9]{0,15}$/

/** A tag version as stored in Redis (a positive safe integer in decimal), else `undefined` (missing or garbage). */
function parseVersion(s: unknown): number | undefined {
  if (typeof s !== 'string' || !VERSION_RE.test(s)) return undefined
  const n = Number(s)
  return Number.isSafeInteger(n) ? n : undefined
}

/** The tags and versions of a stored wrapper, or `undefined` when `x` is not one (any other value is not tagged). */
function unwrap(x: unknown): { value: unknown; tags: string[]; versions: number[] } | undefined {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return undefined
  const w = x as Record<string, unknown>
  if (!Object.hasOwn(w, MARK) || w[MARK] !== 1 || !Object.hasOwn(w, 'v') || !Object.hasOwn(w, 't')) {
    return undefined
  }
  const t = Object.getOwnPropertyDescriptor(w, 't')?.value as unknown
  if (typeof t !== 'object' || t === null || Array.isArray(t)) return undefined
  const tags = Object.keys(t)
  if (tags.length === 0) return undefined
  const versions: number[] = []
  for (const tag of tags) {
    const v = Object.getOwnPropertyDescriptor(t, tag)?.value as unknown
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) return undefined
    versions.push(v)
  }
  return { value: Object.getOwnPropertyDescriptor(w, 'v')?.value, tags, versions }
}

function wrap(value: unknown, tags: readonly string[], versions: readonly number[]): Tagged {
  const t: Record<string, number> = {}
  tags.forEach((tag, i) => {
    // defined, not assigned: `t['__proto__'] = n` would set nothing
    Object.defineProperty(t, tag, {
      value: versions[i],
      enumerable: true,
      writable: true,
      configurable: true,
    })
  })
  return { [MARK]: 1, v: value, t }
}

/*
 * Tag versions are positive integers: the server clock in ms when a tag is first used or invalidated, and
 * never lower than the previous version + 1. So they never repeat, even when Redis lost them (a restart
 * without persistence, FLUSHALL): a value is valid only while every version it was stored with is still
 * exactly the current one, and a missing or garbage version is invalid.
 */
const NOW_MS = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function current(k)
  if redis.call('TYPE', k)['ok'] ~= 'string' then return nil end
  local s = redis.call('GET', k)
  if string.len(s) > 16 or not string.match(s, '^[1-9][0-9]*$') then return nil end
  local n = tonumber(s)
  if n > 9007199254740991 then return nil end
  return n
end
`

/** The current versions of KEYS; a missing or garbage one is (re)created from the clock. Returns strings. */
const READ_OR_CREATE = new Script(`${NOW_MS}local out = {}
for i, k in ipairs(KEYS) do
  local v = current(k)
  if v == nil then
    v = now
    redis.call('SET', k, string.format('%d', v))
  end
  out[i] = string.format('%d', v)
end
return out
`)

/** Moves every version of KEYS to max(clock, version + 1), replacing a missing or garbage one. */
const BUMP = new Script(`${NOW_MS}for _, k in ipairs(KEYS) do
  local v = current(k)
  if v == nil or v < now then v = now else v = v + 1 end
  redis.call('SET', k, string.format('%d', v))
end
return #KEYS
`)

class TimeoutError extends Error {
  constructor(ms: number) {
    super(`timed out after ${ms} ms`)
    this.name = 'TimeoutError'
  }
}

function bounded<R>(p: Promise<R>, ms: number): Promise<R> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(ms)), ms)
  })
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer))
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
  const prefix = `tk:{${namespace}}:`
  const emit = (event: TagsEvent): void => {
    try {
      onEvent?.(event)
    } catch {
      // a listener must not break a read
    }
  }

  const check = (tags: unknown, where: string, what: string): string[] => {
    const list = checkStrings(where, what, tags, true)
    if (known) for (const t of list) if (!known.has(t)) throw new UnknownTagError(where, t)
    return [...new Set(list)]
  }

  /** Runs one Redis call on the tag versions, bounded by `timeout`; any failure is TagsUnavailableError. */
  const tagCall = async <R>(
    operation: TagsUnavailableError['operation'],
    tags: readonly string[],
    call: () => Promise<R>,
  ): Promise<R> => {
    try {
      return await bounded(Promise.resolve().then(call), timeout)
    } catch (e) {
      throw new TagsUnavailableError(operation, tags, e)
    }
  }

  /** Versions to store a value under (created when missing or garbage). */
  const versionsForStore = async (
    operation: 'set' | 'getOrLoad',
    tags: readonly string[],
  ): Promise<number[]> => {
    const r = await tagCall(operation, tags, () =>
      READ_OR_CREATE.run(
        redis,
        tags.map((t) => prefix + t),
        [],
      ),
    )
    const vs = Array.isArray(r) ? r.map(parseVersion) : []
    if (vs.length !== tags.length || vs.some((v) => v === undefined)) {
      throw new TagsUnavailableError(operation, tags, new Error('unexpected reply to the versions script'))
    }
    return vs as number[]
  }

  /** Current versions, read only (`undefined`: missing or garbage, so invalid). */
  const currentVersions = async (tags: readonly string[]): Promise<Array<number | undefined>> => {
    const r = await tagCall('get', tags, () => (redis as Redis).mget(...tags.map((t) => prefix + t)))
    return (r as unknown[]).map(parseVersion)
  }

  const checkOpts = (o: unknown, where: string): TagLoadOptions => {
    checkObject(where, 'options', o)
    const { ttl: ttlValue, signal } = o as { ttl?: unknown; signal?: unknown }
    if (ttlValue !== undefined) checkTtl(where, 'options.ttl', ttlValue)
    checkSignal(where, 'options.signal', signal)
    return o as unknown as TagLoadOptions
  }

  const store = async (
    where: string,
    key: string,
    value: T,
    tags: string[],
    vs: number[],
    perCall: number | undefined,
  ) => {
    const ms = resolveTtl(where, ttl, jitter, key, value, perCall)
    await cache.set(key, wrap(value, tags, vs), ms === undefined ? undefined : { ttl: ms })
  }

  const api: Tags<T> = {
    async set(key, value, o) {
      checkString('tags.set', 'key', key)
      if (value === undefined) throw invalidArgument('tags.set', 'value', 'defined', value)
      const opts = checkOpts(o, 'tags.set')
      const tags = check(opts.tags, 'tags.set', 'options.tags')
      resolveTtl('tags.set', ttl, jitter, key, value, opts.ttl) // a bad TTL from the ttl function: nothing touched
      await store('tags.set', key, value, tags, await versionsForStore('set', tags), opts.ttl)
    },
    async get(key) {
      checkString('tags.get', 'key', key)
      const raw = await cache.get(key)
      const w = unwrap(raw)
      if (w === undefined) return undefined // absent, or not stored through tags
      let current: Array<number | undefined>
      try {
        current = await currentVersions(w.tags)
      } catch (error) {
        emit({ type: 'error', operation: 'get', key, error })
        return undefined // cannot be checked: not served
      }
      if (current.some((v, i) => v === undefined || v !== w.versions[i])) {
        try {
          await cache.delete(key)
        } catch {
          try {
            await cache.evictLocal(key)
          } catch {
            // a miss either way
          }
        }
        return undefined
      }
      return w.value as T
    },
    async getOrLoad(key, loader, o) {
      const where = 'tags.getOrLoad'
      checkString(where, 'key', key)
      checkFunction(where, 'loader', loader)
      const opts = checkOpts(o, where)
      const tags = check(opts.tags, where, 'options.tags')
      const signal = opts.signal
      if (signal?.aborted) throw new AbortedError(where, signal.reason, key)
      const controller = new AbortController()
      const run = async (): Promise<T> => {
        const hit = await api.get(key)
        if (hit !== undefined) return hit
        // versions BEFORE loading: an invalidation during the load makes this value stale, as it should
        let vs: number[] | undefined
        try {
          vs = await versionsForStore('getOrLoad', tags)
        } catch (error) {
          emit({ type: 'error', operation: 'getOrLoad', key, error })
        }
        const value = await loader({ key, signal: controller.signal, stale: undefined })
        if (value !== undefined && vs !== undefined && !controller.signal.aborted) {
          try {
            await store(where, key, value, tags, vs, opts.ttl)
          } catch (error) {
            emit({ type: 'error', operation: 'getOrLoad', key, error })
          }
        }
        return value
      }
      if (signal === undefined) return run()
      return new Promise<T>((resolve, reject) => {
        const onAbort = (): void => {
          controller.abort(signal.reason)
          reject(new AbortedError(where, signal.reason, key))
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
    },
    async invalidateTags(tags) {
      const list = check(tags, 'tags.invalidateTags', 'tags')
      await tagCall('invalidateTags', list, () =>
        BUMP.run(
          redis,
          list.map((t) => prefix + t),
          [],
        ),
      )
      if (bus !== undefined) {
        try {
          await bus.publish({ tags: list })
        } catch (e) {
          throw e instanceof PublishError ? e : new PublishError(undefined, e)
        }
      }
    },
  }
  return api
}
