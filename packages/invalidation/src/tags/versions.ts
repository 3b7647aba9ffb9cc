/**
 * The versions of the tags in Redis (`tk:{namespace}:<tag>`): read them, create them, move them on (Lua
 * scripts on the server clock), every call bounded by `timeout` and any failure a `TagsUnavailableError`.
 */
import type { Cluster, Redis } from 'ioredis'
import { TagsUnavailableError } from '../errors.js'
import { Script } from '../scripts.js'

const VERSION_RE = /^[1-9][0-9]{0,15}$/

/** A tag version as stored in Redis (a positive safe integer in decimal), else `undefined` (missing or garbage). */
function parseVersion(s: unknown): number | undefined {
  if (typeof s !== 'string' || !VERSION_RE.test(s)) return undefined
  const n = Number(s)
  return Number.isSafeInteger(n) ? n : undefined
}

/*
 * Tag versions are positive integers: the server clock in ms when a tag is first used or invalidated, and
 * never lower than the previous version + 1. So they never repeat, even when Redis lost them (a restart
 * without persistence, FLUSHALL): a value is valid only while every version it was stored with is still
 * exactly the current one, and a missing or garbage version is invalid.
 */
const NOW_MS = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function current(k)
  if redis.call('TYPE', k)['ok'] ~= 'string' then return nil end
  local s = redis.call('GET', k)
  if string.len(s) > 16 or not string.match(s, '^[1-9][0-9]*$') then return nil end
  local n = tonumber(s)
  if n > 9007199254740991 then return nil end
  return n
end
`

/** The current versions of KEYS; a missing or garbage one is (re)created from the clock. Returns strings. */
const READ_OR_CREATE = new Script(`${NOW_MS}local out = {}
for i, k in ipairs(KEYS) do
  local v = current(k)
  if v == nil then
    v = now
    redis.call('SET', k, string.format('%d', v))
  end
  out[i] = string.format('%d', v)
end
return out
`)

/** Moves every version of KEYS to max(clock, version + 1), replacing a missing or garbage one. */
const BUMP = new Script(`${NOW_MS}for _, k in ipairs(KEYS) do
  local v = current(k)
  if v == nil or v < now then v = now else v = v + 1 end
  redis.call('SET', k, string.format('%d', v))
end
return #KEYS
`)

class TimeoutError extends Error {
  constructor(ms: number) {
    super(`timed out after ${ms} ms`)
    this.name = 'TimeoutError'
  }
}

function bounded<R>(p: Promise<R>, ms: number): Promise<R> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(ms)), ms)
  })
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer))
}

/** The tag versions of one namespace. */
export class TagVersions {
  private readonly redis: Redis | Cluster
  private readonly prefix: string
  private readonly timeout: number

  constructor(redis: Redis | Cluster, namespace: string, timeout: number) {
    this.redis = redis
    this.prefix = `tk:{${namespace}}:`
    this.timeout = timeout
  }

  /** Versions to store a value under (created when missing or garbage). */
  async forStore(operation: 'set' | 'getOrLoad', tags: readonly string[]): Promise<number[]> {
    const r = await this.tagCall(operation, tags, () =>
      READ_OR_CREATE.run(
        this.redis,
        tags.map((t) => this.prefix + t),
        [],
      ),
    )
    const vs = Array.isArray(r) ? r.map(parseVersion) : []
    if (vs.length !== tags.length || vs.some((v) => v === undefined)) {
      throw new TagsUnavailableError(operation, tags, new Error('unexpected reply to the versions script'))
    }
    return vs as number[]
  }

  /** Current versions, read only (`undefined`: missing or garbage, so invalid). */
  async current(tags: readonly string[]): Promise<Array<number | undefined>> {
    const r = await this.tagCall('get', tags, () =>
      (this.redis as Redis).mget(...tags.map((t) => this.prefix + t)),
    )
    return (r as unknown[]).map(parseVersion)
  }

  /** Moves the versions of `tags` on: every value stored with one of them is invalid from now on. */
  async bump(tags: readonly string[]): Promise<void> {
    await this.tagCall('invalidateTags', tags, () =>
      BUMP.run(
        this.redis,
        tags.map((t) => this.prefix + t),
        [],
      ),
    )
  }

  /** Runs one Redis call on the tag versions, bounded by `timeout`; any failure is TagsUnavailableError. */
  private async tagCall<R>(
    operation: TagsUnavailableError['operation'],
    tags: readonly string[],
    call: () => Promise<R>,
  ): Promise<R> {
    try {
      return await bounded(Promise.resolve().then(call), this.timeout)
    } catch (e) {
      throw new TagsUnavailableError(operation, tags, e)
    }
  }
}
