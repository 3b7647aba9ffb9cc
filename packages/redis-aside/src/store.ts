/**
 * The entry store: entries in and out of the L1 and Redis (through the L2 facade). A read says what Redis held
 * (an entry, a tombstone, a lease, nothing) and its token; a fill stores a load's result only if Redis still
 * holds that token (FILL); a write puts a new token there. Reads in flight are fenced, so that an eviction of
 * their key in this process stops them from copying what they got into the L1.
 */
import { CorruptPayloadError, coarseNow } from '@tierkit/contracts'
import {
  type EncodedEntry,
  type Entry,
  EntryCodec,
  isMarker,
  leaseText,
  type Marker,
  newToken,
  tombstoneText,
} from './entry.js'
import { RedisReplyError } from './errors.js'
import { isReplyError, type L2, type ReadSink } from './l2.js'
import { FILL, LEASE, RELEASE } from './scripts.js'
import type { Shared } from './shared.js'

/** What one read of a Redis key saw. A fill made from it expects Redis to still hold exactly that. */
export interface L2Read {
  /** the entry, when one is servable (fresh or in grace) */
  entry: Entry | undefined
  /**
   * the token of what Redis held (an entry's, a tombstone's or a lease's); '' when the key was empty or
   * corrupt, or the read got no answer: a fill needs a token to expect (see `leaseIfEmpty`)
   */
  token: string
  /** the read was answered (so '' means "empty", not "unknown") */
  answered: boolean
  /** Redis held a tombstone: the value was deleted, there is nothing stale to serve */
  tombstone: boolean
  /** an eviction of the key arrived while the read was in flight: do not copy its result to the L1 */
  evicted: boolean
}

/** A read of Redis (or L1) in flight; an eviction of its key in the meantime marks it invalid. */
export interface Fence {
  invalid: boolean
}

/** Who gets the result of {@link EntryStore.readTo}. `readDone` must not throw. */
export interface ReadDone {
  readDone(read: L2Read): void
}

/**
 * One Redis read of {@link EntryStore.readTo} in flight: its own fence, and the sink its answer goes to, in
 * one object (the read of every L1 miss: no promise, no closure).
 */
class PendingRead implements Fence, ReadSink {
  invalid = false

  constructor(
    private readonly store: EntryStore,
    readonly redisKey: string,
    readonly key: string,
    readonly report: boolean,
    readonly t0: number,
    readonly done: ReadDone,
  ) {}

  l2Answered(raw: string | null): void {
    this.done.readDone(this.store.answered(this, raw))
  }

  l2Failed(): void {
    this.done.readDone(this.store.answered(this, undefined))
  }
}

export class EntryStore {
  private readonly codec: EntryCodec
  /** Redis reads in flight per key, so that an eviction can stop them from filling the L1. */
  private readonly fences = new Map<string, Fence | Fence[]>()

  constructor(
    private readonly shared: Shared,
    private readonly l2: L2,
  ) {
    const s = shared.settings
    this.codec = new EntryCodec(s.serializer, s.maxValueBytes, s.jitter, s.eagerRefresh)
  }

  // ---------------------------------------------------------------- fences

  fence(redisKey: string): Fence {
    const fence: Fence = { invalid: false }
    this.addFence(redisKey, fence)
    return fence
  }

  private addFence(redisKey: string, fence: Fence): void {
    const list = this.fences.get(redisKey)
    if (list === undefined) this.fences.set(redisKey, fence)
    else if (Array.isArray(list)) list.push(fence)
    else this.fences.set(redisKey, [list, fence])
  }

  unfence(redisKey: string, fence: Fence): void {
    const list = this.fences.get(redisKey)
    if (list === fence) {
      this.fences.delete(redisKey)
      return
    }
    if (!Array.isArray(list)) return
    const at = list.indexOf(fence)
    if (at >= 0) list.splice(at, 1)
    if (list.length === 1) this.fences.set(redisKey, list[0]!)
  }

  /** An eviction of `redisKey`: the reads in flight must not fill the L1. */
  invalidateReads(redisKey: string): void {
    const fences = this.fences.get(redisKey)
    if (fences === undefined) return
    if (Array.isArray(fences)) for (const fence of fences) fence.invalid = true
    else fences.invalid = true
  }

  invalidateAllReads(): void {
    for (const list of this.fences.values()) {
      if (Array.isArray(list)) for (const fence of list) fence.invalid = true
      else list.invalid = true
    }
  }

  // ---------------------------------------------------------------- reads

  /** One Redis read of `redisKey` (coalesced with the others of this tick), and what it saw. */
  read(redisKey: string, key: string, report: boolean): Promise<L2Read> {
    return new Promise((resolve) => {
      this.readTo(redisKey, key, report, { readDone: resolve })
    })
  }

  /** {@link read} with its answer to `done` (the read of an L1 miss: no promise). */
  readTo(redisKey: string, key: string, report: boolean, done: ReadDone): void {
    const pending = new PendingRead(this, redisKey, key, report, this.shared.t0(), done)
    this.addFence(redisKey, pending)
    this.l2.readTo(redisKey, pending)
  }

  /** What a read saw: Redis answered `raw`, or did not answer (`undefined`). @internal of PendingRead */
  answered(read: PendingRead, raw: string | null | undefined): L2Read {
    const { redisKey, key, report, t0 } = read
    try {
      if (raw === undefined) {
        if (report) this.shared.record('l2', 'error', t0)
        return { entry: undefined, token: '', answered: false, tombstone: false, evicted: read.invalid }
      }
      if (raw === null) {
        if (report) this.shared.record('l2', 'miss', t0)
        return { entry: undefined, token: '', answered: true, tombstone: false, evicted: read.invalid }
      }
      // still fenced while it decodes: an eviction meanwhile keeps the result out of the L1
      return this.interpret(redisKey, key, raw, t0, report, read)
    } finally {
      this.unfence(redisKey, read)
    }
  }

  /** What the raw value of a value key means for a reader (an entry past its grace, a marker: a miss). */
  private interpret(
    redisKey: string,
    key: string,
    raw: string,
    t0: number,
    report: boolean,
    fence: Fence,
  ): L2Read {
    const decoded = this.decode(redisKey, key, raw, t0)
    const read: L2Read = {
      entry: undefined,
      token: '',
      answered: true,
      tombstone: false,
      evicted: fence.invalid,
    }
    if (isMarker(decoded)) {
      if (report) this.shared.record('l2', 'miss', t0)
      read.token = decoded.token
      read.tombstone = decoded.tombstone
      return read
    }
    if (decoded === undefined) return read
    read.token = decoded.token
    const now = coarseNow()
    if (now >= decoded.staleUntil) {
      if (report) this.shared.record('l2', 'miss', t0)
      return read
    }
    if (report) this.shared.record('l2', now < decoded.freshUntil ? 'hit' : 'stale', t0)
    read.entry = decoded
    return read
  }

  /**
   * What Redis holds under a value key (see entry.ts). A payload that does not decode is reported, deleted
   * with a compare-and-delete (so that a value written meanwhile survives) and returned as `undefined`.
   */
  decode(redisKey: string, key: string, raw: string, t0: number): Entry | Marker | undefined {
    try {
      return this.codec.decode(raw)
    } catch (err) {
      const error =
        err instanceof CorruptPayloadError ? err : new CorruptPayloadError('undecodable', { cause: err })
      this.shared.record('l2', 'error', t0)
      this.shared.emit({ type: 'corrupt', key, error })
      // delete it, unless it was replaced meanwhile
      this.l2.script(RELEASE, redisKey, [raw], 'del-corrupt').catch(() => {})
      return undefined
    }
  }

  /**
   * Before a load from a read that found the key empty: put a lease there (LEASE), or learn what somebody
   * wrote since. The fill then expects that token; without an answer it has nothing to expect and the
   * result is not stored in Redis (only in the L1).
   */
  async leaseIfEmpty(redisKey: string, key: string, read: L2Read): Promise<L2Read> {
    if (!read.answered || read.token !== '') return read
    const fence = this.fence(redisKey)
    try {
      const t0 = this.shared.t0()
      const token = newToken()
      let raw: unknown
      try {
        raw = await this.l2.script(
          LEASE,
          redisKey,
          [leaseText(token), this.shared.settings.tombstoneTtl],
          'lease',
        )
      } catch {
        return {
          entry: undefined,
          token: '',
          answered: false,
          tombstone: false,
          evicted: read.evicted || fence.invalid,
        }
      }
      if (raw === null || raw === undefined) {
        return {
          entry: undefined,
          token,
          answered: true,
          tombstone: false,
          evicted: read.evicted || fence.invalid,
        }
      }
      const current = this.interpret(redisKey, key, String(raw), t0, false, fence)
      if (read.evicted) current.evicted = true
      return current
    } finally {
      this.unfence(redisKey, fence)
    }
  }

  // ---------------------------------------------------------------- writes

  /**
   * `set` of an entry encoded by {@link encode}: the L1 at once, then Redis. A refusal by Redis removes the L1
   * copy and throws `RedisReplyError`.
   */
  async set(redisKey: string, key: string, encoded: EncodedEntry): Promise<void> {
    this.setL1(redisKey, encoded.entry)
    try {
      await this.l2.write(redisKey, encoded.payload, encoded.px, 'set')
    } catch (err) {
      if (isReplyError(err)) {
        // Redis is up and refused the write (OOM, READONLY...): the L1 must not serve what Redis does not hold
        const l1 = this.shared.settings.l1
        if (l1?.get(redisKey) === encoded.entry) l1.delete(redisKey)
        throw new RedisReplyError('set', key, err)
      }
      throw err
    }
  }

  /**
   * A tombstone with a new token in each key, rather than a DEL: a load that read the key before this delete
   * expects what it saw there, so its fill is refused, in every process (see FILL). Plain SETs, not a script:
   * a script can be re-sent as EVAL after a NOSCRIPT reply and so land after a later write of this client.
   */
  async tombstone(operation: string, redisKeys: string[], keys: string[]): Promise<void> {
    const tombstone = tombstoneText(newToken())
    const ttl = this.shared.settings.tombstoneTtl
    await Promise.all(
      redisKeys.map((redisKey, i) =>
        this.l2.write(redisKey, tombstone, ttl, operation).catch((e: unknown) => {
          throw isReplyError(e) ? new RedisReplyError(operation, keys[i], e) : e
        }),
      ),
    )
  }

  /**
   * Stores a load's result: in Redis with the FILL compare-and-set against `token` (what Redis held before
   * the loader ran), then in the L1 unless the fill was refused (the value may predate a write) or the key
   * was invalidated in this process meanwhile (`load.invalidated`). When Redis could not be asked (no token)
   * or did not answer, the outcome is unknown: the L1 still gets the value, so that reads keep being served
   * during an outage. Returns whether Redis stored it (`undefined`: unknown).
   */
  async fill(
    redisKey: string,
    key: string,
    value: unknown,
    ttl: number,
    grace: number,
    token: string,
    load: { readonly invalidated: boolean },
  ): Promise<boolean | undefined> {
    if (ttl === 0) return false // nullTtl: 0
    const encoded = this.encode(key, value, ttl, grace, false)
    if (encoded === undefined) return false
    let stored: boolean | undefined
    if (token !== '') {
      try {
        const res = await this.l2.script(FILL, redisKey, [token, encoded.payload, encoded.px], 'fill')
        stored = res === 1
      } catch (err) {
        this.shared.emit({ type: 'store-error', key, error: err })
      }
    }
    if (load.invalidated) return stored
    if (stored === false) {
      // what this process holds for the key is older than what Redis holds now
      this.shared.settings.l1?.delete(redisKey)
      return false
    }
    this.setL1(redisKey, encoded.entry)
    return stored
  }

  /**
   * A load that stored nothing (skipCache, `undefined`, an error, a refused value) removes the lease it may
   * have put in the key (compare-and-delete: only its own lease, never what replaced it).
   */
  dropLease(redisKey: string, token: string): void {
    if (token === '') return
    this.l2.script(RELEASE, redisKey, [leaseText(token)], 'lease-drop').catch(() => {})
  }

  setL1(redisKey: string, entry: Entry): void {
    const l1 = this.shared.settings.l1
    if (l1 === undefined) return
    const ttl = entry.staleUntil - coarseNow()
    if (ttl > 0) l1.set(redisKey, entry, { ttl })
  }

  /**
   * Encodes an entry. An unserializable or oversized value throws when `strict`, else is reported and gives
   * `undefined`.
   */
  encode(key: string, value: unknown, ttl: number, grace: number, strict: boolean): EncodedEntry | undefined {
    try {
      return this.codec.encode(key, value, ttl, grace)
    } catch (error) {
      if (strict) throw error
      this.shared.emit({ type: 'store-error', key, error })
      return undefined
    }
  }
}
