import { createHash } from 'node:crypto'
import { classifyRedisError } from '@tierkit/contracts/redis'
import type { Cluster, Redis } from 'ioredis'

/**
 * A Lua script run with EVALSHA, falling back to EVAL when the server does not know it (after a restart). A
 * command the Redis ACL denies (EVALSHA, EVAL, or one the script runs) rejects with contracts'
 * `PermissionError`, whose `scriptCommands` are the commands the script runs (Redis does not say which one).
 */
export class Script {
  readonly sha: string
  /** The commands the script runs, lower-case (`redis.call('XADD', ...)` → `xadd`). */
  readonly commands: readonly string[]
  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex')
    const named = [...source.matchAll(/redis\.p?call\(\s*'([A-Za-z]+)'/g)].map((m) => m[1]!.toLowerCase())
    this.commands = [...new Set(named)]
  }

  async run(
    redis: Redis | Cluster,
    keys: readonly string[],
    args: ReadonlyArray<string | number>,
  ): Promise<unknown> {
    const r = redis as Redis
    try {
      try {
        return await r.evalsha(this.sha, keys.length, ...keys, ...args)
      } catch (e) {
        if (!String((e as Error)?.message ?? e).includes('NOSCRIPT')) throw e
        return await r.eval(this.source, keys.length, ...keys, ...args)
      }
    } catch (e) {
      throw classifyRedisError(e, undefined, this.commands)
    }
  }
}

/**
 * Raises a counter (write-behind's version counter, the recorded shard count) to at least ARGV[1], never
 * lowers it. KEYS: the counter.
 */
export const RAISE: Script = new Script(`
local cur = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if tonumber(ARGV[1]) > cur then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
`)
