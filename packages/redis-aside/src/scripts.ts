/**
 * The Lua scripts of @tierkit/redis-aside. Each touches one key (so each works on a Redis Cluster) and
 * compares before it writes, so a script re-sent as EVAL after a NOSCRIPT reply cannot undo a later write.
 * Internal: not exported from the package entry (the benchmark drives them directly).
 * @internal
 */
import { createHash } from 'node:crypto'

/** A Lua script and its SHA1 (for EVALSHA). */
export interface Script {
  src: string
  sha: string
}

function script(src: string): Script {
  return { src, sha: createHash('sha1').update(src).digest('hex') }
}

/** Compare-and-delete: deletes KEYS[1] only if it holds exactly ARGV[1] (a lock token, a lease, a corrupt payload). */
export const RELEASE: Script = script(
  "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end",
)
/**
 * The lease: taken when free, kept when it is already ours (ARGV[1], the token: an acquisition whose reply
 * was lost is retried with the same token), and taken over when its holder stopped renewing it: a live holder
 * renews every `renewEvery` ms, so a remaining life under ARGV[3] (`lease - 2 × renewEvery`), or no expiry at
 * all, means nobody holds it. Returns 1 acquired, 2 taken over, 0 held by someone alive.
 */
export const ACQUIRE: Script = script(`local c = redis.call('get', KEYS[1])
if (not c) or c == ARGV[1] then
  redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if redis.call('pttl', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 2
end
return 0`)
/** Compare-and-renew: extends the lock KEYS[1] by ARGV[2] ms only if it still holds our token ARGV[1]. */
export const RENEW: Script = script(
  "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end",
)

/**
 * The fill of a load: a compare-and-set on one key (so it works on a Cluster). It stores the entry only if
 * the key still holds what the load saw before its loader ran (ARGV[1], a token): its own lease (see
 * LEASE), a tombstone, or the stale entry it refreshes. Every write (`set`, `delete`, a fill, a lease)
 * puts a new unique token there, and nothing ever brings an old token back, so a load that started before
 * a write can never store its value after it, in any process, even after Redis lost the write (FLUSHALL,
 * a restart without persistence, an eviction: the lease is gone too) or the tombstone expired.
 * Entries are `2<token>,...`, tombstones `0<token>`, leases `3<token>`; a legacy `1...` entry (0.1.0) is
 * identified by its whole text. Returns 1 stored, 0 refused.
 */
export const FILL: Script = script(`local cur = redis.call('get', KEYS[1])
if not cur then return 0 end
local b = string.byte(cur, 1)
local tok = cur
if b == 50 then tok = string.match(cur, '^2([^,]*),') elseif b == 48 or b == 51 then tok = string.sub(cur, 2) end
if tok ~= ARGV[1] then return 0 end
redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1`)

/**
 * A miss about to load, memcache-style: when the key is still empty, put a lease there (ARGV[1] =
 * `3<token>`, for ARGV[2] ms) that the fill will expect; otherwise return what is there now (somebody wrote
 * it since the read), which the load then expects instead.
 */
export const LEASE: Script = script(`local cur = redis.call('get', KEYS[1])
if cur then return cur end
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false`)
