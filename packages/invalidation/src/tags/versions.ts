/**
 * The versions of the tags in Redis: a hard version `tk:{namespace}:<tag>` (moved on by `deleteByTag`) and a
 * soft stamp `tks:{namespace}:<tag>` (moved on by `expireByTag`, absent until then). Read them, create them,
 * move them on (Lua scripts on the server clock), claim a refresh; every call bounded by `timeout` and any
 * failure a `TagsUnavailableError`.
 */

import { classifyRedisError } from '@tierkit/contracts/redis'
import type { Cluster, Redis } from 'ioredis'
import { TagsUnavailableError } from '../errors.js'
import { Script } from '../scripts.js'

const VERSION_RE = /^[1-9][0-9]{0,15}$/

/** A tag version as stored in Redis (a positive safe integer in decimal), else `undefined` (missing or garbage). */
export function parseVersion(s: unknown): number | undefined {
  if (typeof s !== 'string' || !VERSION_RE.test(s)) return undefined
  const n = Number(s)
  return Number.isSafeInteger(n) ? n : undefined
}

/** The versions of some tags, index for index: `hard[i]` undefined = missing or garbage (invalid); `soft[i]` 0 = never expired. */
export interface TagState {
  readonly hard: Array<number | undefined>
  readonly soft: number[]
}

/*
 * Versions and stamps are positive integers: the server clock in ms when a tag is first used or invalidated,
 * and never lower than the previous one + 1. So they never repeat, even when Redis lost them (a restart
 * without persistence, FLUSHALL): a value is valid only while every version it was stored with is still
 * exactly the current one, and a missing or garbage version is invalid. A soft stamp is the time of the last
 * `expireByTag`: a value stored under an older stamp is stale.
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
local function moved(k)
  local v = current(k)
  if v == nil or v < now then v = now else v = v + 1 end
  redis.call('SET', k, string.format('%d', v))
  return v
end
local n = #KEYS / 2
local out = {}
`

/** KEYS: n hard keys then n soft keys. Returns the 2n versions (a missing hard one created; a soft one '0' when absent). */
const READ_OR_CREATE = new Script(`${NOW_MS}for i = 1, n do
  local v = current(KEYS[i])
  if v == nil then
    v = now
    redis.call('SET', KEYS[i], string.format('%d', v))
  end
  out[i] = string.format('%d', v)
  out[n + i] = string.format('%d', current(KEYS[n + i]) or 0)
end
return out
`)

/** Hard: every hard version moved to max(clock, version + 1). Returns the 2n versions after. */
const BUMP = new Script(`${NOW_MS}for i = 1, n do
  out[i] = string.format('%d', moved(KEYS[i]))
  out[n + i] = string.format('%d', current(KEYS[n + i]) or 0)
end
return out
`)

/** Soft: every soft stamp moved to max(clock, stamp + 1); a missing hard version created. Returns the 2n versions after. */
const SOFTEN = new Script(`${NOW_MS}for i = 1, n do
  local v = current(KEYS[i])
  if v == nil then
    v = now
    redis.call('SET', KEYS[i], string.format('%d', v))
  end
  out[i] = string.format('%d', v)
  out[n + i] = string.format('%d', moved(KEYS[n + i]))
end
return out
`)

/** The refresh of one stale state: KEYS[1] the claim, ARGV[1] the state, ARGV[2] its PX. 1 = claimed, 0 = already claimed. */
const CLAIM = new Script(`if redis.call('GET', KEYS[1]) == ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`)

/** Gives a claim back (the refresh failed): deleted only while it is still the same state. */
const RELEASE = new Script(`if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
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

/** The reply of a script or MGET on 2n keys as a state, or `undefined` when it is not one. */
function parseState(r: unknown, n: number): TagState | undefined {
  if (!Array.isArray(r) || r.length !== 2 * n) return undefined
  const hard = r.slice(0, n).map(parseVersion)
  const soft = r.slice(n).map((s) => parseVersion(s) ?? 0)
  return { hard, soft }
}

/** The most tags one batched `MGET` of versions asks for (then another batch starts). */
const MAX_BATCH = 512

/** Version reads asked for in one turn, sent as one `MGET`: `index` gives each tag's place in `tags`. */
interface Batch {
  readonly tags: string[]
  readonly index: Map<string, number>
  promise: Promise<TagState>
}

/** The tag versions of one namespace. */
export class TagVersions {
  private batch: Batch | undefined
  private readonly redis: Redis | Cluster
  private readonly hardPrefix: string
  private readonly softPrefix: string
  private readonly claimPrefix: string
  private readonly timeout: number

  constructor(redis: Redis | Cluster, namespace: string, timeout: number) {
    this.redis = redis
    this.hardPrefix = `tk:{${namespace}}:`
    this.softPrefix = `tks:{${namespace}}:`
    this.claimPrefix = `tkr:{${namespace}}:`
    this.timeout = timeout
  }

  private keys(tags: readonly string[]): string[] {
    return [...tags.map((t) => this.hardPrefix + t), ...tags.map((t) => this.softPrefix + t)]
  }

  /** Versions to store a value under (a missing or garbage hard one created). */
  forStore(operation: TagsUnavailableError['operation'], tags: readonly string[]): Promise<TagState> {
    return this.script(operation, tags, READ_OR_CREATE)
  }

  /**
   * Current versions, read only. The reads asked for in one turn of the event loop share one `MGET` of the
   * union of their tags, sent in a microtask after the last of them was asked for: every read that joins it
   * was asked for before the command left, so each still sees every invalidation that completed before it
   * was asked (a burst of 1,000 reads after the map's `versionTtl` is one command, not 1,000). At most
   * {@link MAX_BATCH} tags per command; a failure is each caller's own `TagsUnavailableError`.
   */
  current(tags: readonly string[]): Promise<TagState> {
    let b = this.batch
    if (b === undefined || b.tags.length + tags.length > MAX_BATCH) b = this.openBatch()
    const at: number[] = []
    for (const tag of tags) {
      let i = b.index.get(tag)
      if (i === undefined) {
        i = b.tags.length
        b.tags.push(tag)
        b.index.set(tag, i)
      }
      at.push(i)
    }
    return b.promise.then(
      (all) => ({ hard: at.map((i) => all.hard[i]), soft: at.map((i) => all.soft[i] ?? 0) }),
      (e: unknown) => {
        throw new TagsUnavailableError('get', tags, e instanceof TagsUnavailableError ? e.cause : e)
      },
    )
  }

  /** A new batch of version reads, sent in a microtask (after the reads asked for in this turn joined it). */
  private openBatch(): Batch {
    const b: Batch = { tags: [], index: new Map(), promise: undefined as unknown as Promise<TagState> }
    b.promise = Promise.resolve().then(() => {
      if (this.batch === b) this.batch = undefined
      return this.readNow(b.tags)
    })
    b.promise.catch(() => {}) // each caller gets its own rejection
    this.batch = b
    return b
  }

  private async readNow(tags: readonly string[]): Promise<TagState> {
    const r = await this.tagCall('get', tags, () => (this.redis as Redis).mget(...this.keys(tags)))
    return parseState(r, tags.length) ?? { hard: tags.map(() => undefined), soft: tags.map(() => 0) }
  }

  /** Hard: every value stored with one of `tags` is gone from now on. */
  bump(
    tags: readonly string[],
    operation: 'deleteByTag' | 'invalidateTags' = 'deleteByTag',
  ): Promise<TagState> {
    return this.script(operation, tags, BUMP)
  }

  /** Soft: every value stored with one of `tags` is stale from now on. */
  soften(tags: readonly string[]): Promise<TagState> {
    return this.script('expireByTag', tags, SOFTEN)
  }

  /** Claims the refresh of `key` in `state` across instances (1 = this caller refreshes). */
  async claim(key: string, state: string, px: number): Promise<boolean> {
    const r = await this.tagCall('getOrLoad', [], () =>
      CLAIM.run(this.redis, [this.claimPrefix + key], [state, px]),
    )
    return r === 1
  }

  /** Gives a claim back after a failed refresh (another read may claim it again). */
  async release(key: string, state: string): Promise<void> {
    await this.tagCall('getOrLoad', [], () => RELEASE.run(this.redis, [this.claimPrefix + key], [state]))
  }

  private async script(
    operation: TagsUnavailableError['operation'],
    tags: readonly string[],
    script: Script,
  ): Promise<TagState> {
    const r = await this.tagCall(operation, tags, () => script.run(this.redis, this.keys(tags), []))
    const state = parseState(r, tags.length)
    if (state === undefined || state.hard.some((v) => v === undefined)) {
      throw new TagsUnavailableError(operation, tags, new Error('unexpected reply to the versions script'))
    }
    return state
  }

  /**
   * Runs one Redis call on the tag versions, bounded by `timeout`; any failure is TagsUnavailableError, whose
   * `cause` is an ACL denial as contracts' `PermissionError` naming the command (the scripts classify their
   * own; the `MGET` of {@link current} is classified here), never a bare reply.
   */
  private async tagCall<R>(
    operation: TagsUnavailableError['operation'],
    tags: readonly string[],
    call: () => Promise<R>,
  ): Promise<R> {
    try {
      return await bounded(Promise.resolve().then(call), this.timeout)
    } catch (e) {
      throw new TagsUnavailableError(operation, tags, classifyRedisError(e, 'mget'))
    }
  }
}
