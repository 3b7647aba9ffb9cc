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
/** At most this many keys in each of the two generations of {@link ValueKeys}. */
const MEMO_GENERATION = 4096

/**
 * The Redis value keys of a namespace (`prefix + key`), memoised for the keys that hit the L1. A
 * concatenation builds a new string on every call, which each Map it meets (the L1's first) must flatten and
 * hash again: on an L1 hit that was most of the cost of `getOrLoad`. A memoised key is one string whose hash
 * V8 keeps. Only keys the L1 held when they were read are remembered ({@link hit}), so that a stream of cold
 * keys (misses, which cost a Redis round trip anyway) does not churn the memo. Bounded: two generations of at
 * most 4,096 keys of at most 256 characters; a key found in the old generation moves to the young one, and
 * the old one is dropped when the young one is full.
 * @internal
 */
export class ValueKeys {
  private young = new Map<string, string>()
  private old = new Map<string, string>()
  /** the key {@link of} just built (not memoised), and its Redis key: what {@link hit} remembers */
  private builtKey: string | undefined
  private built = ''

  constructor(readonly prefix: string) {}

  /** The Redis value key of `key`. */
  of(key: string): string {
    const redisKey = this.young.get(key)
    if (redisKey !== undefined) {
      this.builtKey = undefined
      return redisKey
    }
    const older = this.old.get(key)
    if (older !== undefined) {
      this.builtKey = undefined
      this.remember(key, older)
      return older
    }
    const built = this.prefix + key
    this.builtKey = key.length <= MEMO_MAX_LENGTH ? key : undefined
    this.built = built
    return built
  }

  /** The key last passed to {@link of} was found in the L1: remember it if it is not yet. */
  hit(): void {
    const key = this.builtKey
    if (key === undefined) return
    this.builtKey = undefined
    this.remember(key, this.built)
  }

  private remember(key: string, redisKey: string): void {
    this.young.set(key, redisKey)
    if (this.young.size >= MEMO_GENERATION) {
      this.old = this.young
      this.young = new Map()
    }
  }
}
