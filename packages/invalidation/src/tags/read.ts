/**
 * The read side of the tags: judging a stored value against the versions of its tags (from this process's
 * map when it is trusted and fresh, else from Redis, else the last known ones), serving it fresh, stale
 * within grace (then one refresh), or loading; and storing a value with its versions.
 */
import type { LoaderContext } from '@tierkit/contracts'
import { resolveTtl } from '../ttl.js'
import type { InvalidationPublisher, ReadableCache, TtlOption } from '../types.js'
import type { CdnPurger } from './cdn.js'
import type { LocalVersions } from './local.js'
import type { Refresher } from './refresh.js'
import { type Unwrapped, unwrap, wrap } from './stored.js'
import type { TagState, TagVersions } from './versions.js'

/** What `createTags` reports through `onEvent`: errors it swallowed so that a read could still answer. */
export type TagsEvent =
  /**
   * A read could not check the tag versions in Redis (`error.cause` says why) and degraded: `get` missed,
   * `getOrLoad` answered from the loader without caching; or a `getOrLoad` could not cache what it loaded;
   * or (`refresh`) the background refresh of a stale value failed (its loader threw).
   */
  { type: 'error'; operation: 'get' | 'getOrLoad' | 'refresh'; key: string; error: unknown }

/** What the calls of one `createTags` share. */
export interface TagsState<T> {
  readonly cache: ReadableCache
  /** The CDN purged by the invalidations by tag. */
  readonly cdn: CdnPurger | undefined
  /** How long the CDN purge waits after the bus publish (ms). */
  readonly cdnDelay: number
  /** Whether the cache has `peekLocal` (the synchronous L1-hit path). */
  readonly peek: boolean
  readonly bus: InvalidationPublisher | undefined
  readonly ttl: TtlOption<T> | undefined
  readonly jitter: number | undefined
  readonly known: ReadonlySet<string> | undefined
  readonly versions: TagVersions
  readonly local: LocalVersions
  readonly refresher: Refresher
  /** Default grace of reads (ms). */
  readonly grace: number
  emit(event: TagsEvent): void
}

/** How a stored value stands against the versions of its tags. */
export type Verdict =
  | { kind: 'fresh' }
  | { kind: 'gone' }
  /** `since`: when it went stale (epoch ms); `state`: names the versions that made it stale (the refresh claim). */
  | { kind: 'stale'; since: number; state: string }
  /** The versions could not be read, and nothing known says it is stale or gone. */
  | { kind: 'unknown'; error: unknown }

/** Versions read from Redis (one `MGET`), learned by this process's map. */
export async function readVersions<T>(state: TagsState<T>, tags: readonly string[]): Promise<TagState> {
  const mark = state.local.mark()
  const st = await state.versions.current(tags)
  state.local.learn(tags, st, mark)
  return st
}

/** `ahead`: the value was stored under versions newer than `cur` (which is then outdated). */
function judge(w: Unwrapped, cur: TagState): Verdict | { kind: 'ahead' } {
  let since = w.expiredAt
  for (let i = 0; i < w.tags.length; i++) {
    const h = cur.hard[i]
    const v = w.versions[i] as number
    if (h === undefined) return { kind: 'gone' }
    if (h !== v) return h < v ? { kind: 'ahead' } : { kind: 'gone' }
    const s = cur.soft[i] ?? 0
    const ws = w.stamps[i] ?? 0
    if (ws > s) return { kind: 'ahead' }
    if (s > ws && s > since) since = s
  }
  if (since === 0) return { kind: 'fresh' }
  return { kind: 'stale', since, state: `${w.versions.join(',')}|${cur.soft.join(',')}|${w.expiredAt}` }
}

/** Versions of some tags being read already (`getOrLoad` reads them beside the value: one round trip). */
export interface Prefetch {
  readonly tags: readonly string[]
  readonly promise: Promise<TagState>
}

function sameTags(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((t, i) => t === b[i])
}

/** Judges `w`: from the trusted map (no round trip), else Redis, else what was last known. */
export async function check<T>(state: TagsState<T>, w: Unwrapped, prefetch?: Prefetch): Promise<Verdict> {
  const local = state.local.fresh(w.tags)
  if (local !== undefined) {
    const j = judge(w, local)
    if (j.kind !== 'ahead') return j // ahead: the map missed a newer version, Redis says
  }
  let cur: TagState
  try {
    cur =
      local === undefined && prefetch !== undefined && sameTags(prefetch.tags, w.tags)
        ? await prefetch.promise
        : await readVersions(state, w.tags)
  } catch (error) {
    // Redis cannot say: what was last known may still show the value stale or gone, never fresh
    const known = state.local.lastKnown(w.tags)
    const j = known === undefined ? undefined : judge(w, known)
    return j?.kind === 'stale' || j?.kind === 'gone' ? j : { kind: 'unknown', error }
  }
  const j = judge(w, cur)
  return j.kind === 'ahead' ? { kind: 'gone' } : j
}

/** Starts reading the versions of `tags` (its failure is awaited by whoever uses it, never unhandled). */
export function prefetchVersions<T>(state: TagsState<T>, tags: readonly string[]): Prefetch {
  const promise = readVersions(state, tags)
  promise.catch(() => {})
  return { tags, promise }
}

/** Whether a value stale since `since` may still be served with `grace`. */
export function withinGrace(since: number, grace: number): boolean {
  return grace > 0 && Date.now() - since <= grace
}

/** A gone value is deleted (L2 and own L1), at least evicted from this process. */
export async function dropKey<T>(state: TagsState<T>, key: string): Promise<void> {
  try {
    await state.cache.delete(key)
  } catch {
    try {
      await state.cache.evictLocal(key)
    } catch {
      // a miss either way
    }
  }
}

/** Stores `value` wrapped with its tags' versions, with its TTL. */
export async function store<T>(
  state: TagsState<T>,
  where: string,
  key: string,
  value: T,
  tags: readonly string[],
  vs: TagState,
  perCall: number | undefined,
  expiredAt = 0,
): Promise<void> {
  const ms = resolveTtl(where, state.ttl, state.jitter, key, value, perCall)
  const w = wrap(value, tags, vs.hard as number[], vs.soft, expiredAt)
  await state.cache.set(key, w, ms === undefined ? undefined : { ttl: ms })
}

/** The stored value of `key` read back, or `undefined` when it is not a tagged value. */
export async function readStored<T>(state: TagsState<T>, key: string): Promise<Unwrapped | undefined> {
  return unwrap(await state.cache.get(key))
}

/**
 * The stored value of `key` and how it stands, or `undefined` when there is none (or it is gone: then it is
 * deleted). A gone copy may be only this process's L1 one while L2 holds a newer value (stored by another
 * instance): it is evicted and L2 read once more before anything is deleted.
 */
export async function judgeStored<T>(
  state: TagsState<T>,
  key: string,
  prefetch?: Prefetch,
  read: { w: Unwrapped | undefined } | undefined = undefined,
): Promise<{ w: Unwrapped; v: Verdict } | undefined> {
  let w = read === undefined ? await readStored(state, key) : read.w
  if (w === undefined) return undefined // absent, or not stored through tags
  let v = await check(state, w, prefetch)
  if (v.kind !== 'gone') return { w, v }
  try {
    await state.cache.evictLocal(key)
  } catch {
    // read again anyway
  }
  w = await readStored(state, key)
  if (w === undefined) return undefined
  v = await check(state, w, prefetch)
  if (v.kind !== 'gone') return { w, v }
  await dropKey(state, key)
  return undefined
}

/** A loader call of `getOrLoad` (or of a refresh) and what it needs. */
export interface Load<T> {
  readonly key: string
  readonly loader: (ctx: LoaderContext<string, T>) => T | Promise<T>
  readonly tags: readonly string[]
  readonly ttl: number | undefined
}

/**
 * Loads and stores under the versions read BEFORE loading (an invalidation during the load makes the value
 * stale or gone, as it should). Without the versions it returns the loader's value uncached.
 */
export async function loadAndStore<T>(
  state: TagsState<T>,
  load: Load<T>,
  signal: AbortSignal,
  stale: T | undefined,
): Promise<T> {
  const { key, tags } = load
  let vs: TagState | undefined
  try {
    const mark = state.local.mark()
    vs = await state.versions.forStore('getOrLoad', tags)
    state.local.learn(tags, vs, mark)
  } catch (error) {
    state.emit({ type: 'error', operation: 'getOrLoad', key, error })
  }
  const value = await load.loader({ key, signal, stale })
  if (value !== undefined && vs !== undefined && !signal.aborted) {
    try {
      await store(state, 'tags.getOrLoad', key, value, tags, vs, load.ttl)
    } catch (error) {
      state.emit({ type: 'error', operation: 'getOrLoad', key, error })
    }
  }
  return value
}

/**
 * The refresh of a value served stale: by one instance (the claim), the others drop their L1 copy so that
 * their next read gets the refreshed one from L2. Never rejects.
 */
export async function refresh<T>(state: TagsState<T>, load: Load<T>, stale: string, old: T): Promise<void> {
  const { key } = load
  const turn = await state.refresher.turn(key, stale)
  if (turn === 'mine') return
  if (turn === 'theirs') {
    try {
      await state.cache.evictLocal(key)
    } catch {
      // served stale again, still within grace
    }
    return
  }
  try {
    await loadAndStore(state, load, new AbortController().signal, old)
  } catch (error) {
    state.refresher.failed(key, stale)
    state.emit({ type: 'error', operation: 'refresh', key, error })
    return
  }
  // the other instances drop their stale L1 copy (best effort: theirs is stale within grace anyway)
  state.bus?.publish({ keys: [key] }).catch(() => {})
}
