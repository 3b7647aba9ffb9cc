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
 * The Redis value keys of a namespace (`prefix + key`), memoised. A concatenation builds a new string on
 * every call, which each Map it meets (the L1's, the flights', the read batch's) must flatten and hash again:
 * on an L1 hit that was most of the cost of `getOrLoad`. A memoised key is one string whose hash V8 keeps.
 * Bounded: two generations of at most 4,096 keys of at most 256 characters; a key found in the old
 * generation moves to the young one, and the old one is dropped when the young one is full.
 * @internal
 */
export class ValueKeys {
  private young = new Map<string, string>()
  private old = new Map<string, string>()

  constructor(readonly prefix: string) {}

  /** The Redis value key of `key`. */
  of(key: string): string {
    let redisKey = this.young.get(key)
    if (redisKey !== undefined) return redisKey
    if (key.length > MEMO_MAX_LENGTH) return this.prefix + key
    redisKey = this.old.get(key) ?? this.prefix + key
    this.young.set(key, redisKey)
    if (this.young.size >= MEMO_GENERATION) {
      this.old = this.young
      this.young = new Map()
    }
    return redisKey
  }
}
