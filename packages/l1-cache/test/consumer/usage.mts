// Type-checked against the packed package by the publish-and-consume check (imports the main entry by name).
import {
  AbortedError,
  ClosedError,
  type CloseOptions,
  EntryTooLargeError,
  type EvictionReason,
  errors,
  type GetOrLoadOptions,
  InvalidSizeError,
  L1Cache,
  L1CacheError,
  type L1CacheErrorCode,
  type L1CacheEvent,
  type L1CacheOptions,
  type L1CacheStats,
  type Loader,
  type LoaderContext,
  type Policy,
  TierkitError,
  TierkitTypeError,
} from '@tierkit/l1-cache'

interface User {
  id: number
  name: string
}

const policy: Policy = 'tinylfu'
const reasons: EvictionReason[] = []
const options: L1CacheOptions<string, User | null> = {
  max: 1000,
  ttl: 60_000,
  grace: 30_000,
  policy,
  onEvent: (event: L1CacheEvent<string, User | null>) => {
    if (event.type === 'evict') reasons.push(event.reason)
    else void event.error
  },
}
const cache = new L1Cache<string, User | null>(options)
cache.set('u:1', { id: 1, name: 'Ada' }, { ttl: 1000 })
const user: User | null | undefined = cache.get('u:1')
const loader: Loader<string, User | null> = async (ctx: LoaderContext<string, User | null>) =>
  ctx.signal.aborted ? null : { id: 2, name: ctx.key }
const loadOptions: GetOrLoadOptions = { signal: AbortSignal.timeout(1000), ttl: 5000 }
const loaded: Promise<User | null | undefined> = cache.getOrLoad('u:2', loader, loadOptions)
const stats: L1CacheStats = cache.stats()
const stale: number = stats.stale
const remaining: number = cache.remainingTtl('u:1')
const closeOptions: CloseOptions = { timeout: 1000 }
const closed: Promise<void> = cache.close(closeOptions)

function describeError(err: unknown): string {
  if (err instanceof InvalidSizeError) return `${err.code}: bad size ${String(err.size)}`
  if (err instanceof EntryTooLargeError) return `${err.code}: ${err.size} > ${err.maxSize}`
  if (err instanceof AbortedError) return `${err.code}: ${String(err.key)}`
  if (err instanceof ClosedError) return `${err.code}: ${err.resource}`
  if (err instanceof TierkitTypeError) return `${err.code}: ${err.message}`
  if (err instanceof L1CacheError) return err.code
  if (err instanceof TierkitError) return err.code
  return 'unknown'
}
const code: L1CacheErrorCode = 'E_ENTRY_TOO_LARGE'
const cls: typeof EntryTooLargeError = errors[code]

// internals are not part of the published types
// @ts-expect-error nowValue is @internal
void cache.nowValue

export { closed, cls, describeError, loaded, remaining, stale, stats, user }
