// Type-checked against the packed package by the publish-and-consume check (imports the main entry by name).
import {
  type CacheLike,
  EntryTooLargeError,
  type EvictionReason,
  InvalidSizeError,
  L1Cache,
  L1CacheError,
  type L1CacheOptions,
  type L1CacheStats,
  LoadAbortedError,
  type Policy,
} from '@tierkit/l1-cache'

interface User {
  id: number
  name: string
}

const policy: Policy = 'tinylfu'
const options: L1CacheOptions<string, User> = {
  max: 1000,
  ttl: 60_000,
  policy,
  onEvict: (key: string, value: User, reason: EvictionReason) => {
    void key
    void value
    void reason
  },
}
const cache = new L1Cache<string, User>(options)
cache.set('u:1', { id: 1, name: 'Ada' }, { ttl: 1000 })
const user: User | undefined = cache.get('u:1')
const loaded: Promise<User | undefined> = cache.getOrLoad('u:2', async (key) => ({ id: 2, name: key }), {
  signal: AbortSignal.timeout(1000),
})
const stats: L1CacheStats = cache.stats()
const l1: CacheLike<string, User> = cache
function describeError(err: unknown): string {
  if (err instanceof InvalidSizeError) return `${err.code}: bad size ${String(err.size)}`
  if (err instanceof EntryTooLargeError) return `${err.code}: ${err.size} > ${err.maxSize}`
  if (err instanceof LoadAbortedError) return `${err.code}: ${String(err.key)}`
  if (err instanceof L1CacheError) return err.code
  return 'unknown'
}

// internals are not part of the published types
// @ts-expect-error nowValue is @internal
void cache.nowValue

export { describeError, l1, loaded, stats, user }
