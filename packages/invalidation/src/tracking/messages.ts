/**
 * The invalidation messages Redis sends on `__redis__:invalidate` (RESP2 pub/sub): an array of the Redis keys
 * that changed, or a null payload when the whole database was flushed. Decoding maps each Redis key to the
 * cache key to evict with the user's `toKey`.
 */

/** The channel Redis reports invalidations on. */
export const CHANNEL = '__redis__:invalidate'

/**
 * The cache keys named by `payload` (empty strings and keys `toKey` maps to `undefined` are dropped; a
 * `toKey` that throws is reported), or `'flush'` when the payload is not a list of keys (a flushed database).
 */
export function decodeInvalidation(
  payload: unknown,
  toKey: (redisKey: string) => string | undefined,
  onError: (error: unknown) => void,
): string[] | 'flush' {
  if (!Array.isArray(payload)) return 'flush'
  const keys: string[] = []
  for (const raw of payload) {
    let k: string | undefined
    try {
      k = toKey(String(raw))
    } catch (error) {
      onError(error)
    }
    if (typeof k === 'string' && k.length > 0) keys.push(k)
  }
  return keys
}
