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
