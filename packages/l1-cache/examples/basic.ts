/**
 * A tour of @tierkit/l1-cache: hits and misses, TTL expiry, getOrLoad's single flight, eviction reasons and
 * the counters. Run it with `pnpm --filter @tierkit/l1-cache example` (from the repository root).
 */
import { L1Cache, type LoaderContext } from '../src/index.js'

interface User {
  id: number
  name: string
}

const log = (...args: unknown[]): void => console.log(...args)

// An injected clock lets the example show expiry without sleeping.
let now = 0
const evicted: string[] = []
const cache = new L1Cache<string, User>({
  max: 3,
  ttl: 60_000,
  clock: () => now,
  onEvent: (e) => {
    if (e.type === 'evict') evicted.push(`${e.key} (${e.reason})`)
  },
})

log('# hits and misses')
cache.set('user:1', { id: 1, name: 'Ada' })
log('get user:1 ->', cache.get('user:1'))
log('get user:2 ->', cache.get('user:2'))

log('\n# TTL: user:1 lives 60 s by default, user:9 only 5 s')
cache.set('user:9', { id: 9, name: 'Short-lived' }, { ttl: 5_000 })
log('remainingTtl(user:9) =', cache.remainingTtl('user:9'), 'ms')
now += 5_000
log('after 5 s, get user:9 ->', cache.get('user:9'), '(expired entries are never returned)')
log('user:1 still there ->', cache.get('user:1')?.name)

log('\n# getOrLoad: 5 concurrent callers, one load')
let loads = 0
const loadUser = async ({ key, signal }: LoaderContext<string, User>): Promise<User> => {
  loads++
  await new Promise((r) => setTimeout(r, 20))
  signal.throwIfAborted() // aborted only when every caller waiting for this load has gone away
  return { id: Number(key.split(':')[1]), name: `Loaded ${key}` }
}
const results = await Promise.all(Array.from({ length: 5 }, () => cache.getOrLoad('user:42', loadUser)))
log(`${results.length} callers got "${results[0]?.name}" from ${loads} loader call(s)`)
log('now cached ->', cache.get('user:42')?.name)

log('\n# bounded: max 3 entries, the policy picks who leaves')
for (const id of [100, 101, 102]) cache.set(`user:${id}`, { id, name: `User ${id}` })
log('size =', cache.size, '(max 3)')
cache.delete('user:1')
log('left the cache:', evicted.join(', '))

log('\n# counters (plain numbers, cheap to read at scrape time)')
const { hits, misses, sets, evictions, expirations, loads: loaderCalls, hitRatio } = cache.stats()
log({ hits, misses, sets, evictions, expirations, loads: loaderCalls, hitRatio: Number(hitRatio.toFixed(2)) })

await cache.close()

if (loads !== 1 || cache.size !== 0) {
  console.error('unexpected behaviour')
  process.exit(1)
}
