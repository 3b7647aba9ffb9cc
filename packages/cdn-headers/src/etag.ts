import { hash } from 'node:crypto'
import { invalidArgument } from '@tierkit/contracts'

/** Options of {@link computeETag}. */
export interface ETagOptions {
  /**
   * Produce a weak validator (`W/"..."`): use it when equal bodies may differ byte-wise (e.g. compressed variants)
   * or when the body is semantically equivalent rather than byte-identical.
   * @default false
   */
  weak?: boolean
}

/**
 * Computes an entity tag from a response body: a strong validator by default (`"<22 base64url chars>"`, the first
 * 132 bits of SHA-256, computed in one native call), or a weak one with `{ weak: true }`.
 *
 * @param body - the exact bytes (or UTF-8 string) that will be sent
 * @param options - {@link ETagOptions}
 * @returns the quoted entity tag, ready for the `ETag` header
 * @throws TierkitTypeError (`E_INVALID_ARGUMENT`) for any other body
 *   (`computeETag: body must be a string, a Buffer or a Uint8Array, got 42`) or options that are not an object
 * @example
 * ```ts
 * computeETag('hello') // '"LPJNul-wow4m6DsqxbninhsWHlw"'.length === 24
 * computeETag('hello', { weak: true }) // 'W/"..."'
 * ```
 */
export function computeETag(body: string | Uint8Array, options?: ETagOptions): string {
  if (typeof body !== 'string' && !(body instanceof Uint8Array)) {
    throw invalidArgument('computeETag', 'body', 'a string, a Buffer or a Uint8Array', body)
  }
  if (options !== undefined && (options === null || typeof options !== 'object'))
    throw invalidArgument('computeETag', 'options', 'an object { weak? }', options)
  const digest = hash('sha256', body, 'base64url').slice(0, 22)
  return options?.weak === true ? `W/"${digest}"` : `"${digest}"`
}

/**
 * Whether `value` is exactly one entity tag (`"..."` or `W/"..."`, RFC 9110 §8.8.3) with no surrounding space.
 * A cheap check without allocation (the hot path of conditional GETs).
 *
 * @param value - a header value
 * @returns whether it is a single valid entity tag
 */
export function isSingleETag(value: string): boolean {
  const n = value.length
  let i = 0
  if (value.charCodeAt(0) === 0x57 /* W */) {
    if (value.charCodeAt(1) !== 0x2f /* / */) return false
    i = 2
  }
  if (n - i < 2 || value.charCodeAt(i) !== 0x22 || value.charCodeAt(n - 1) !== 0x22) return false
  for (let j = i + 1; j < n - 1; j++) if (!isEtagc(value.charCodeAt(j))) return false
  return true
}

/** One parsed member of an entity-tag list. */
export interface EntityTag {
  /** Whether the tag carries the `W/` weakness indicator. */
  weak: boolean
  /** The opaque tag without quotes. */
  opaque: string
}

const isEtagc = (c: number): boolean => c === 0x21 || (c >= 0x23 && c <= 0x7e) || c >= 0x80

/**
 * Parses one entity tag (`"abc"` or `W/"abc"`, RFC 9110 §8.8.3).
 *
 * @param value - a header value holding exactly one entity tag (surrounding spaces allowed)
 * @returns the parsed tag, or `undefined` when the value is not a valid entity tag
 * @throws TierkitTypeError (`E_INVALID_ARGUMENT`) when `value` is not a string
 */
export function parseETag(value: string): EntityTag | undefined {
  if (typeof value !== 'string') throw invalidArgument('parseETag', 'value', 'a string', value)
  const list = parseList(value)
  return list !== '*' && list.length === 1 && list.invalid === 0 ? list[0] : undefined
}

/** Result of {@link parseETagList}: the valid members, and how many invalid members were skipped. */
export type EntityTagList = EntityTag[] & { invalid: number }

/**
 * Parses an `If-Match` / `If-None-Match` field value: `*` or a comma-separated list of entity tags. Commas inside
 * a quoted tag are part of the tag (they are valid `etagc`); invalid members are skipped and counted.
 *
 * @param value - field value (several field lines may be joined with `, `)
 * @returns `'*'` or the list of valid members (with an `invalid` count)
 * @throws TierkitTypeError (`E_INVALID_ARGUMENT`) when `value` is not a string
 */
export function parseETagList(value: string): '*' | EntityTagList {
  if (typeof value !== 'string') throw invalidArgument('parseETagList', 'value', 'a string', value)
  return parseList(value)
}

/** {@link parseETagList} without the argument check (the conditional evaluation hands it strings). */
export function parseList(value: string): '*' | EntityTagList {
  const out = [] as unknown as EntityTagList
  out.invalid = 0
  const s = value
  const n = s.length
  let i = 0
  const skipOws = (): void => {
    while (i < n && (s.charCodeAt(i) === 0x20 || s.charCodeAt(i) === 0x09)) i++
  }
  skipOws()
  if (s.charCodeAt(i) === 0x2a /* * */) {
    let j = i + 1
    while (j < n && (s.charCodeAt(j) === 0x20 || s.charCodeAt(j) === 0x09)) j++
    if (j === n) return '*'
  }
  while (i < n) {
    skipOws()
    if (i >= n) break
    if (s.charCodeAt(i) === 0x2c) {
      i++
      continue
    }
    const start = i
    let weak = false
    if (s.charCodeAt(i) === 0x57 /* W */ && s.charCodeAt(i + 1) === 0x2f /* / */) {
      weak = true
      i += 2
    }
    let ok = false
    let opaque = ''
    if (s.charCodeAt(i) === 0x22) {
      const open = ++i
      while (i < n && isEtagc(s.charCodeAt(i))) i++
      if (s.charCodeAt(i) === 0x22) {
        opaque = s.slice(open, i)
        i++
        const after = i
        skipOws()
        ok = i >= n || s.charCodeAt(i) === 0x2c
        if (!ok) i = after
      }
    }
    if (ok) {
      out.push({ weak, opaque })
    } else {
      out.invalid++
      // skip to the next comma that is outside quotes
      i = start
      let inQuote = false
      while (i < n) {
        const c = s.charCodeAt(i)
        if (c === 0x22) inQuote = !inQuote
        else if (c === 0x2c && !inQuote) break
        i++
      }
    }
  }
  return out
}

/**
 * Strong comparison (RFC 9110 §8.8.3.2): both tags strong and their opaque parts identical.
 *
 * @param a - first tag
 * @param b - second tag
 * @returns whether they match strongly
 * @throws TierkitTypeError (`E_INVALID_ARGUMENT`) when `a` or `b` is not an object `{ weak, opaque }`
 */
export function strongMatch(a: EntityTag, b: EntityTag): boolean {
  checkTags('strongMatch', a, b)
  return !a.weak && !b.weak && a.opaque === b.opaque
}

/**
 * Weak comparison (RFC 9110 §8.8.3.2): opaque parts identical, weakness ignored.
 *
 * @param a - first tag
 * @param b - second tag
 * @returns whether they match weakly
 * @throws TierkitTypeError (`E_INVALID_ARGUMENT`) when `a` or `b` is not an object `{ weak, opaque }`
 */
export function weakMatch(a: EntityTag, b: EntityTag): boolean {
  checkTags('weakMatch', a, b)
  return a.opaque === b.opaque
}

function checkTags(where: string, a: unknown, b: unknown): void {
  if (!isTag(a)) throw invalidArgument(where, 'a', 'an entity tag { weak, opaque }', a)
  if (!isTag(b)) throw invalidArgument(where, 'b', 'an entity tag { weak, opaque }', b)
}

const isTag = (t: unknown): boolean =>
  t !== null && typeof t === 'object' && typeof (t as EntityTag).opaque === 'string'
