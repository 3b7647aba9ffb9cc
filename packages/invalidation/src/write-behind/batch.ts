/**
 * One batch of queue entries applied to the Store: coalesced by key (the highest version wins, the older
 * entries are removed with it), skipped where the applied-version guard shows a newer version, decoded,
 * written with `saveMany` when there is one (else, or when it fails, one by one so that a failing entry
 * does not hold back the others), and acknowledged only once the Store applied it, atomically with the
 * guards. A failed entry is retried after a backoff, then dead-lettered; a malformed or undecodable entry
 * is dead-lettered at once.
 */
import type { StoreWrite } from '@tierkit/contracts'
import type { Redis } from 'ioredis'
import { corruptEntry, MalformedEntryError } from '../errors.js'
import { Script } from '../scripts.js'
import { callStore } from '../store.js'
import { retryDelay, type ShardState } from './config.js'
import { deadLetter } from './dead-letters.js'
import type { Entry, RawEntry } from './stream.js'

/**
 * Acknowledges applied entries: raises each key's applied-version guard (never lowers it; a guard that is
 * not a number is overwritten), then XACK and XDEL the entry ids.
 * KEYS: stream, guard keys... ARGV: group, guard TTL ms, versions (one per guard key), ids...
 */
const ACK: Script = new Script(`
local n = #KEYS - 1
for i = 1, n do
  local cur = tonumber(redis.call('GET', KEYS[i + 1]) or '0') or 0
  if tonumber(ARGV[2 + i]) > cur then redis.call('SET', KEYS[i + 1], ARGV[2 + i], 'PX', ARGV[2]) end
end
local ids = {}
for i = 3 + n, #ARGV do ids[#ids + 1] = ARGV[i] end
if #ids > 0 then
  redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
  redis.call('XDEL', KEYS[1], unpack(ids))
end
return #ids
`)

/** The entries of one key in a batch: the winner (highest version) and every id it stands for. */
interface KeyGroup {
  win: Entry
  ids: string[]
}

/** What became of the groups of a batch. */
interface Outcome {
  /** Applied or skipped: acknowledged. */
  readonly done: KeyGroup[]
  /** Skipped as superseded (the guard holds a newer version): acknowledged, the guard not raised. */
  readonly skipped: Set<Entry>
  /** The Store failed them: retried, or dead-lettered after `maxAttempts`. */
  readonly failed: Array<{ g: KeyGroup; error: unknown }>
}

/**
 * Applies `raw` (entries read from the shard's stream) to the Store, acknowledges what was applied and
 * schedules the retries of what failed (see the module's comment).
 */
export async function processBatch(state: ShardState, raw: RawEntry[]): Promise<void> {
  if (raw.length === 0) return
  noteDelivered(state, raw)
  const groups = await groupByKey(state, raw)
  if (groups.length === 0) return
  const out: Outcome = { done: [], skipped: new Set(), failed: [] }
  const todo = await skipSuperseded(state, groups, out)
  const { saves, removes } = await decode(state, todo)
  if (saves.length > 0 || removes.length > 0) state.flusher.stats.batches++
  await applyToStore(state, saves, removes, out)
  if (out.done.length > 0) await acknowledge(state, out)
  for (const { g, error } of out.failed) await retryOrDeadLetter(state, g, error)
}

/** The entries are delivered now: no longer waiting for a retry; the highest version seen grows. */
function noteDelivered(state: ShardState, raw: RawEntry[]): void {
  for (const [id] of raw) state.retryAt.delete(id)
  for (const [, f] of raw) {
    const n = Number(f?.get('n'))
    if (Number.isSafeInteger(n) && n > state.flusher.highest) state.flusher.highest = n
  }
}

/** Parses the entries and groups them by key; malformed entries are poison: dead-lettered at once. */
async function groupByKey(state: ShardState, raw: RawEntry[]): Promise<KeyGroup[]> {
  const byKey = new Map<string, KeyGroup>()
  for (const [id, f] of raw) {
    const key = f?.get('k')
    const op = f?.get('o')
    const payload = f?.get('v')
    const version = Number(f?.get('n'))
    if (!key || (op !== 's' && op !== 'd') || payload === undefined || !Number.isSafeInteger(version)) {
      await deadLetter(
        state,
        key ? { key, op: op === 'd' ? 'd' : 's', payload: payload ?? '', version: 0, id } : undefined,
        id,
        [id],
        1,
        new MalformedEntryError(id),
      )
      continue
    }
    const e: Entry = { id, key, op, payload, version }
    const g = byKey.get(key)
    if (g === undefined) byKey.set(key, { win: e, ids: [id] })
    else {
      g.ids.push(id)
      if (e.version > g.win.version) g.win = e
    }
  }
  return [...byKey.values()]
}

/** The guard: keys whose applied version is already as new are done (skipped); returns the others. */
async function skipSuperseded(state: ShardState, groups: KeyGroup[], out: Outcome): Promise<KeyGroup[]> {
  const { flusher, keys } = state
  const redis = flusher.config.redis as Redis
  const guards = (await redis.mget(...groups.map((g) => keys.guard + g.win.key))) as Array<string | null>
  const todo: KeyGroup[] = []
  groups.forEach((g, i) => {
    if (Number(guards[i] ?? 0) >= g.win.version) {
      flusher.stats.skipped += g.ids.length
      out.skipped.add(g.win)
      out.done.push(g)
    } else todo.push(g)
  })
  return todo
}

/** Decodes the values to save; a value that cannot be decoded is poison: dead-lettered at once. */
async function decode(
  state: ShardState,
  todo: KeyGroup[],
): Promise<{ saves: Array<KeyGroup & { value: unknown }>; removes: KeyGroup[] }> {
  const saves: Array<KeyGroup & { value: unknown }> = []
  const removes: KeyGroup[] = []
  for (const g of todo) {
    if (g.win.op === 'd') {
      removes.push(g)
      continue
    }
    try {
      saves.push({ ...g, value: state.flusher.config.serializer.decode(g.win.payload) })
    } catch (error) {
      await deadLetter(state, g.win, g.win.id, g.ids, 1, corruptEntry(g.win.key, g.win.id, error))
    }
  }
  return { saves, removes }
}

/** Writes the batch: `saveMany` for two saves or more when the Store has it, else (or when it fails) one by one. */
async function applyToStore(
  state: ShardState,
  saves: Array<KeyGroup & { value: unknown }>,
  removes: KeyGroup[],
  out: Outcome,
): Promise<void> {
  const { store, observer } = state.flusher.config
  let batched = false
  if (saves.length > 1 && typeof store.saveMany === 'function') {
    const writes: StoreWrite<unknown>[] = saves.map((s) => ({
      key: s.win.key,
      value: s.value,
      version: s.win.version,
    }))
    try {
      await callStore('saveMany', saves[0]!.win.key, () => store.saveMany!(writes), observer)
      batched = true
      out.done.push(...saves)
    } catch {
      // fall back to one by one, so that a poison entry does not hold back the others
    }
  }
  const single = async (g: KeyGroup, call: () => unknown, op: 'save' | 'remove'): Promise<void> => {
    try {
      await callStore(op, g.win.key, call, observer)
      out.done.push(g)
    } catch (error) {
      out.failed.push({ g, error })
    }
  }
  await Promise.all([
    ...(batched
      ? []
      : saves.map((s) =>
          single(s, () => store.save(s.win.key, s.value, { version: s.win.version }), 'save'),
        )),
    ...removes.map((r) => single(r, () => store.remove(r.win.key, { version: r.win.version }), 'remove')),
  ])
}

/** Acknowledges what is done, raising the guards of the applied keys, atomically. */
async function acknowledge(state: ShardState, out: Outcome): Promise<void> {
  const { flusher, keys } = state
  const applied = out.done.filter((g) => !out.skipped.has(g.win))
  const ids = out.done.flatMap((g) => g.ids)
  await ACK.run(
    flusher.config.redis,
    [keys.stream, ...applied.map((g) => keys.guard + g.win.key)],
    [flusher.config.group, flusher.config.guardTtl, ...applied.map((g) => g.win.version), ...ids],
  )
  flusher.stats.saved += applied.length
  flusher.stats.coalesced += out.done.reduce((n, g) => n + (out.skipped.has(g.win) ? 0 : g.ids.length - 1), 0)
  flusher.emit({
    type: 'applied',
    entries: ids.length,
    keys: out.done.length,
    versions: applied.map((g) => g.win.version),
  })
}

/** How often the entry was delivered (its attempts so far). */
async function deliveries(state: ShardState, id: string): Promise<number> {
  const { redis, group } = state.flusher.config
  const r = (await (redis as Redis).call('XPENDING', state.keys.stream, group, id, id, 1)) as unknown[]
  const row = r[0] as unknown[] | undefined
  return row === undefined ? 0 : Number(row[3])
}

/** A failed group: dead-lettered after `maxAttempts` deliveries, else retried after the backoff. */
async function retryOrDeadLetter(state: ShardState, g: KeyGroup, error: unknown): Promise<void> {
  const { flusher } = state
  const attempts = await deliveries(state, g.win.id)
  if (attempts >= flusher.config.maxAttempts) {
    await deadLetter(state, g.win, g.win.id, g.ids, attempts, error)
    return
  }
  const delay = retryDelay(flusher.config.backoff, attempts)
  const at = Date.now() + delay
  for (const id of g.ids) state.retryAt.set(id, at)
  flusher.stats.retries++
  flusher.emit({ type: 'retry', key: g.win.key, id: g.win.id, attempt: attempts, delay, error })
}
