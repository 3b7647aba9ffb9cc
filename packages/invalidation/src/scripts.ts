import { createHash } from 'node:crypto'
import type { Cluster, Redis } from 'ioredis'

/** A Lua script run with EVALSHA, falling back to EVAL when the server does not know it (after a restart). */
export class Script {
  readonly sha: string
  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex')
  }

  async run(
    redis: Redis | Cluster,
    keys: readonly string[],
    args: ReadonlyArray<string | number>,
  ): Promise<unknown> {
    const r = redis as Redis
    try {
      return await r.evalsha(this.sha, keys.length, ...keys, ...args)
    } catch (e) {
      if (!String((e as Error)?.message ?? e).includes('NOSCRIPT')) throw e
      return await r.eval(this.source, keys.length, ...keys, ...args)
    }
  }
}

/**
 * Moves one entry to the dead-letter stream and removes it (and the entries it superseded) from the queue,
 * atomically. KEYS: stream, dead. ARGV: group, key, op, payload, version, original id, attempts, error, code, ids...
 */
export const DEAD_LETTER: Script = new Script(`
redis.call('XADD', KEYS[2], '*', 'k', ARGV[2], 'o', ARGV[3], 'v', ARGV[4], 'n', ARGV[5], 'id', ARGV[6],
  'attempts', ARGV[7], 'error', ARGV[8], 'code', ARGV[9])
local ids = {}
for i = 10, #ARGV do ids[#ids + 1] = ARGV[i] end
if #ids > 0 then
  redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
  redis.call('XDEL', KEYS[1], unpack(ids))
end
return #ids
`)

/**
 * Moves dead letters back to the queue, keeping their version (so a key written since keeps its newer
 * value: the guard and the Store compare versions). KEYS: dead, stream. ARGV: ids... Returns the number requeued.
 */
export const REQUEUE: Script = new Script(`
local n = 0
for i = 1, #ARGV do
  local e = redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i])
  if #e == 1 then
    local f = e[1][2]
    local m = {}
    for j = 1, #f, 2 do m[f[j]] = f[j + 1] end
    redis.call('XADD', KEYS[2], '*', 'k', m['k'] or '', 'o', m['o'] or '', 'v', m['v'] or '', 'n', m['n'] or '0')
    redis.call('XDEL', KEYS[1], ARGV[i])
    n = n + 1
  end
end
return n
`)
