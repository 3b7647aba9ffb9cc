/**
 * Redis key layout. A key is `ra:<N>:<namespace>:<kind>:<key>` where `N` is the namespace's length in UTF-16
 * code units and `kind` is `v` (value) or `l` (lock). Reading `N` first fixes where the namespace ends, so
 * the mapping (namespace, kind, key) → string is injective: no namespace/key choice can address another
 * namespace's entry or a lock.
 */

/** Builds the function that maps a user key to its Redis value key for `namespace`. */
export function keyPrefix(namespace: string): string {
  return `ra:${namespace.length}:${namespace}:`
}

/**
 * Decodes a Redis key built by this package (`ra:<length>:<namespace>:<kind>:<key>`, `kind` `v` for a value,
 * `l` for a lock); `undefined` when it is not one. What a Redis client-side-caching invalidator needs to turn
 * an invalidated Redis key back into the cache key (`@tierkit/invalidation`'s tracking `toKey`).
 * @example parseRedisKey('ra:5:users:v:user:1') // { namespace: 'users', kind: 'v', key: 'user:1' }
 */
export function parseRedisKey(
  redisKey: string,
): { namespace: string; kind: string; key: string } | undefined {
  const m = /^ra:(\d+):/.exec(redisKey)
  if (!m) return undefined
  const n = Number(m[1])
  const start = m[0].length
  const namespace = redisKey.slice(start, start + n)
  if (namespace.length !== n || redisKey[start + n] !== ':') return undefined
  const kind = redisKey[start + n + 1]
  if ((kind !== 'v' && kind !== 'l') || redisKey[start + n + 2] !== ':') return undefined
  return { namespace, kind, key: redisKey.slice(start + n + 3) }
}

/** Keys of at most this many characters are memoised by {@link ValueKeys} (longer ones cost their hashing anyway). */
const MEMO_MAX_LENGTH = 256
/** At most this many keys in the memo of {@link ValueKeys} (then it starts afresh). */
const MEMO_SIZE = 4096
/** A key that hits the L1 and is not memoised is remembered on one such hit in this many. */
const MEMO_SAMPLE = 8

/**
 * The Redis value keys of a namespace (`prefix + key`), memoised for hot keys. A concatenation builds a new
 * string on every call, which the L1's Map must flatten and hash again: on an L1 hit that was most of the
 * cost of `getOrLoad`. A memoised key is one string whose hash V8 keeps. Only keys that hit the L1 are
 * remembered, and only on one such hit in 8 ({@link hit}): a hot key is in within a few calls, while the
 * long tail of a large key set (whose calls cost a Redis round trip or a big L1 anyway) does not churn the
 * memo, which then costs a lookup per call. Bounded: at most 4,096 keys of at most 256 characters; when full
 * it starts afresh (the hot keys come back within a few calls).
 * @internal
 */
export class ValueKeys {
  private memo = new Map<string, string>()
  /** the key {@link of} just built (not memoised), and its Redis key: what {@link hit} may remember */
  private builtKey: string | undefined
  private built = ''
  private sample = 0

  constructor(readonly prefix: string) {}

  /** The Redis value key of `key`. */
  of(key: string): string {
    const redisKey = this.memo.get(key)
    if (redisKey !== undefined) {
      this.builtKey = undefined
      return redisKey
    }
    const built = this.prefix + key
    this.builtKey = key.length <= MEMO_MAX_LENGTH ? key : undefined
    this.built = built
    return built
  }

  /** The key last passed to {@link of} was found in the L1: remember it (one time in 8) if it is not yet. */
  hit(): void {
    const key = this.builtKey
    if (key === undefined) return
    this.builtKey = undefined
    if (++this.sample < MEMO_SAMPLE) return
    this.sample = 0
    if (this.memo.size >= MEMO_SIZE) this.memo = new Map()
    this.memo.set(key, this.built)
  }
}
