/**
 * Entry encoding: the `Entry` the cache holds in memory (and shares by reference with the L1), and the text a
 * value key holds in Redis. The wire format:
 * - an entry `2<token>,<freshUntil>,<refreshAt>,<staleUntil>,<payload>`, times in base 36 (epoch ms), the
 *   payload the serializer's text;
 * - a legacy entry (0.1.0) `1<freshUntil>,<refreshAt>,<staleUntil>,<payload>`, identified by its whole text;
 * - a tombstone `0<token>` (left by `delete`), a lease `3<token>` (put by a miss before its loader runs).
 * The FILL script (scripts.ts) reads the same tokens.
 */
import { randomBytes } from 'node:crypto'
import { CorruptPayloadError, type Serializer, UnserializableValueError } from '@tierkit/contracts'
import { ValueTooLargeError } from './errors.js'

/** A cached value and its times. */
export interface Entry {
  readonly value: unknown
  /** served as fresh until then (epoch ms) */
  readonly freshUntil: number
  /** a hit from then on reloads the value in the background (epoch ms, 0 = never) */
  readonly refreshAt: number
  /** served stale (when the loader fails or is slow) until then (epoch ms) */
  readonly staleUntil: number
  /** the token Redis holds for this entry ('' when unknown): a fill that started from it expects it still there */
  readonly token: string
}

/** A tombstone (`0<token>`) or a lease (`3<token>`) found in a value key: a miss. */
export interface Marker {
  readonly marker: true
  /** a tombstone (the value was deleted), else a lease */
  readonly tombstone: boolean
  readonly token: string
}

export function isMarker(decoded: Entry | Marker | undefined): decoded is Marker {
  return decoded !== undefined && (decoded as Marker).marker === true
}

/** An entry ready for Redis: its text and its `PX` (time to live in Redis: `ttl + grace`). */
export interface EncodedEntry {
  entry: Entry
  payload: string
  px: number
}

let tokenPrefix: string | undefined
let tokenSeq = 0
/** A token that no other write, in any process, ever used: 72 random bits per process, then a counter. */
export function newToken(): string {
  if (tokenPrefix === undefined) tokenPrefix = randomBytes(9).toString('base64url')
  tokenSeq++
  return tokenPrefix + tokenSeq.toString(36)
}

/** The text of a tombstone, which `delete` writes over a value. */
export function tombstoneText(token: string): string {
  return `0${token}`
}

/** The text of a lease, which a miss puts in an empty key before its loader runs. */
export function leaseText(token: string): string {
  return `3${token}`
}

const TOMBSTONE = 48 // '0'
const LEGACY = 49 // '1'
const ENTRY = 50 // '2'
const LEASE = 51 // '3'

/** Builds entries (times, jitter, eager refresh, a new token) and turns Redis text back into them. */
export class EntryCodec {
  constructor(
    private readonly serializer: Serializer,
    private readonly maxValueBytes: number,
    /** fraction by which a TTL is randomly shortened */
    private readonly jitter: number,
    /** fraction of the TTL after which a hit refreshes (0 = off) */
    private readonly eagerRefresh: number,
  ) {}

  /**
   * An entry with a new token, living `ttl` (jittered) then `grace`.
   * @throws UnserializableValueError (naming `key`), ValueTooLargeError.
   */
  encode(key: string, value: unknown, ttl: number, grace: number): EncodedEntry {
    const now = Date.now()
    const lifetime = this.jitter > 0 ? Math.max(1, Math.round(ttl * (1 - this.jitter * Math.random()))) : ttl
    const freshUntil = now + lifetime
    const refreshAt = this.eagerRefresh > 0 ? now + Math.round(lifetime * this.eagerRefresh) : 0
    const staleUntil = freshUntil + grace
    const token = newToken()
    let payload: string
    try {
      payload = `2${token},${freshUntil.toString(36)},${refreshAt.toString(36)},${staleUntil.toString(36)},${this.serializer.encode(value)}`
      if (payload.length > this.maxValueBytes / 3) {
        const bytes = Buffer.byteLength(payload)
        if (bytes > this.maxValueBytes) throw new ValueTooLargeError(key, bytes, this.maxValueBytes)
      }
    } catch (err) {
      throw err instanceof UnserializableValueError && err.key === undefined
        ? new UnserializableValueError(err.path, err.reason, key, { cause: err })
        : err
    }
    return { entry: { value, freshUntil, refreshAt, staleUntil, token }, payload, px: staleUntil - now }
  }

  /**
   * What a value key holds: an entry or a marker.
   * @throws CorruptPayloadError when the text is not one this package writes, or its payload does not decode.
   */
  decode(raw: string): Entry | Marker {
    const version = raw.charCodeAt(0)
    if (version === TOMBSTONE || version === LEASE) {
      return { marker: true, tombstone: version === TOMBSTONE, token: raw.slice(1) }
    }
    let headerStart: number
    let token: string
    if (version === ENTRY) {
      const comma = raw.indexOf(',', 1)
      if (comma < 0) throw new CorruptPayloadError('truncated envelope')
      token = raw.slice(1, comma)
      headerStart = comma + 1
    } else if (version === LEGACY) {
      token = raw
      headerStart = 1
    } else {
      throw new CorruptPayloadError('unknown envelope version')
    }
    const c1 = raw.indexOf(',', headerStart)
    const c2 = c1 < 0 ? -1 : raw.indexOf(',', c1 + 1)
    const c3 = c2 < 0 ? -1 : raw.indexOf(',', c2 + 1)
    if (c3 < 0) throw new CorruptPayloadError('truncated envelope')
    const freshUntil = Number.parseInt(raw.slice(headerStart, c1), 36)
    const refreshAt = Number.parseInt(raw.slice(c1 + 1, c2), 36)
    const staleUntil = Number.parseInt(raw.slice(c2 + 1, c3), 36)
    if (
      !Number.isFinite(freshUntil) ||
      !Number.isFinite(refreshAt) ||
      !Number.isFinite(staleUntil) ||
      staleUntil < freshUntil
    ) {
      throw new CorruptPayloadError('bad envelope header')
    }
    let value: unknown
    try {
      value = this.serializer.decode(raw.slice(c3 + 1))
    } catch (err) {
      throw err instanceof CorruptPayloadError
        ? err
        : new CorruptPayloadError('value does not decode', { cause: err })
    }
    return { value, freshUntil, refreshAt, staleUntil, token }
  }
}
