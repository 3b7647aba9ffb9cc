/**
 * Request-target normalisation for route matching: the path as a router sees it, and every other reading a router
 * or proxy may give it, or the reason it cannot be read unambiguously.
 *
 * What the routers do (read in their sources): find-my-way (Fastify 5) cuts the target at `?` or `#` (also at `;`
 * with `useSemicolonDelimiter`), routes the absolute form by its path, `decodeURI`s the path (so every escape but
 * those of `# $ & + , / : ; = ? @` is decoded, `%25` stays `%25`, and a malformed or non-UTF-8 escape is a 400), and
 * optionally merges duplicate slashes, ignores one trailing slash and folds case with `toLowerCase()`; it resolves no
 * dot segment. Express' router (4 and 5) matches the raw, undecoded pathname from `parseurl`, case-insensitively
 * by default and with an optional trailing slash (non-strict), decoding only the parameters. Proxies and servers in
 * front (Tomcat's `;jsessionid`, URL normalisers) may further strip `;` parameters or resolve dot segments.
 *
 * @module
 */
import { checkInteger, checkObject, invalidArgument } from '@tierkit/contracts'

/**
 * Why a request path cannot be normalised unambiguously. A response to such a request fails closed
 * (`Cache-Control: private, no-store`).
 * - `not-origin-form`: the target does not start with `/` (absolute form, `*`, empty)
 * - `too-long`: the path is longer than the table's `maxPathLength`
 * - `invalid-character`: a raw character outside RFC 3986 `pchar` and `/` (backslash, quote, control, non-ASCII…)
 * - `malformed-escape`: `%` not followed by two hex digits, or escapes that are not UTF-8 (truncated, overlong,
 *   surrogates)
 * - `control-character`: an escape that decodes to a control character (NUL, CR, LF, DEL, C1)
 * - `encoded-slash`: `%2F` or `%5C`, a separator that some routers and proxies decode and others do not
 * - `double-encoding`: `%25` followed by two hex digits, an escape of an escape
 * - `dot-segment`: a `.` or `..` segment (also encoded, or followed by `;` parameters)
 * - `ambiguous`: the readings of the path (decoded or raw, with or without the trailing slash, duplicate slashes,
 *   `;` parameters, case) match different rules, none of them private
 */
export type PathIssue =
  | 'not-origin-form'
  | 'too-long'
  | 'invalid-character'
  | 'malformed-escape'
  | 'control-character'
  | 'encoded-slash'
  | 'double-encoding'
  | 'dot-segment'
  | 'ambiguous'

/** Result of {@link normalizePath}. */
export type NormalizedPath =
  | {
      readonly ok: true
      /** The path as find-my-way routes it: query and fragment cut, escapes decoded except reserved characters (whose hex is upper-cased). */
      readonly path: string
      /**
       * Every distinct reading a router may give the path, `path` first: the raw (undecoded) path, duplicate slashes
       * merged, one trailing slash removed, cut at the first `;`, `;` parameters removed from every segment, and
       * their combinations. Case folding is the matcher's business (it folds both sides).
       */
      readonly readings: readonly string[]
    }
  | { readonly ok: false; readonly issue: PathIssue }

/** Default longest path (without the query) that is normalised; longer ones fail closed. */
export const DEFAULT_MAX_PATH_LENGTH = 8192
/** The largest `maxLength` / `maxPathLength` accepted. */
export const MAX_PATH_LIMIT = 1_048_576

// character classes of the raw target
const INVALID = 0
const PLAIN = 1 // unreserved (but A-Z), sub-delims but ';', ':' and '@'
const UPPER = 2
const PERCENT = 3
const SLASH = 4
const SEMI = 5
const DOT = 6
const END = 7 // '?' and '#'
const CLASS = new Uint8Array(128)
for (const c of "abcdefghijklmnopqrstuvwxyz0123456789-_~!$&'()*+,=:@") CLASS[c.charCodeAt(0)] = PLAIN
for (let c = 65; c <= 90; c++) CLASS[c] = UPPER
CLASS[37] = PERCENT
CLASS[47] = SLASH
CLASS[59] = SEMI
CLASS[46] = DOT
CLASS[63] = END
CLASS[35] = END

/** Escapes find-my-way leaves encoded (decodeURI keeps them): `# $ & + , : ; = ? @` (`/` fails closed). */
const KEEP_ENCODED = new Uint8Array(128)
for (const c of '#$&+,:;=?@') KEEP_ENCODED[c.charCodeAt(0)] = 1

const HEX = '0123456789ABCDEF'

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48
  if (c >= 65 && c <= 70) return c - 55
  if (c >= 97 && c <= 102) return c - 87
  return -1
}

/** Flags of the last scan (reused: the scan is synchronous and never re-entered). */
export const FLAG_DOUBLE_SLASH = 1
export const FLAG_SEMICOLON = 2
export const FLAG_ESCAPES = 4
export const FLAG_FOLD = 8 // an upper-case or non-ASCII character: case folding may change it
export const FLAG_TRAILING_SLASH = 16

/** Output of {@link scanPath}: reused across calls. @internal */
export interface PathScan {
  path: string
  raw: string
  flags: number
  issue: PathIssue | undefined
}

/**
 * Scans and decodes one request target into `out` (no allocation on the common path). Returns `false` with
 * `out.issue` set when the target cannot be normalised unambiguously.
 * One loop over the target's characters; only a run of non-ASCII escapes (rare, and decoded with an allocation
 * anyway) calls out, once per run.
 * @internal
 */
export function scanPath(target: string, maxLength: number, out: PathScan): boolean {
  out.issue = undefined
  out.flags = 0
  const n = target.length
  if (n === 0 || target.charCodeAt(0) !== 47) return fail(out, 'not-origin-form')
  let flags = 0
  let canon = ''
  let from = 0
  let prevSlash = true
  let dot = false
  let i = 1
  for (; i < n; i++) {
    const c = target.charCodeAt(i)
    const k = c < 128 ? CLASS[c]! : INVALID
    if (k === PLAIN) {
      prevSlash = false
      continue
    }
    if (k === SLASH) {
      if (prevSlash) flags |= FLAG_DOUBLE_SLASH
      prevSlash = true
      continue
    }
    if (k === END) break
    prevSlash = false
    if (k === UPPER) flags |= FLAG_FOLD
    else if (k === DOT) dot = true
    else if (k === SEMI) flags |= FLAG_SEMICOLON
    else if (k === PERCENT) {
      const hi = hexValue(target.charCodeAt(i + 1))
      const lo = hexValue(target.charCodeAt(i + 2))
      if (hi < 0 || lo < 0) return fail(out, 'malformed-escape')
      const b = hi * 16 + lo
      flags |= FLAG_ESCAPES
      if (b < 0x80) {
        if (b < 0x20 || b === 0x7f) return fail(out, 'control-character')
        if (b === 0x2f || b === 0x5c) return fail(out, 'encoded-slash')
        let text: string
        if (b === 0x25) {
          if (hexValue(target.charCodeAt(i + 3)) >= 0 && hexValue(target.charCodeAt(i + 4)) >= 0)
            return fail(out, 'double-encoding')
          text = '%25'
        } else if (KEEP_ENCODED[b] === 1) {
          text = `%${HEX[hi]}${HEX[lo]}`
        } else {
          text = String.fromCharCode(b)
          if (b >= 65 && b <= 90) flags |= FLAG_FOLD
          else if (b === 46) dot = true
        }
        canon += target.slice(from, i) + text
        i += 2
        from = i + 1
      } else {
        // a run of escapes of non-ASCII bytes: one strict UTF-8 decode
        const j = escapeRunEnd(target, i, n)
        const text = decodeUtf8Run(target.slice(i, j))
        if (text === undefined) return fail(out, 'malformed-escape')
        if (hasC1Control(text)) return fail(out, 'control-character')
        // find-my-way folds with toLowerCase(), which maps some non-ASCII letters (K, the Kelvin sign, to k)
        if (text.toLowerCase() !== text) flags |= FLAG_FOLD
        canon += target.slice(from, i) + text
        i = j - 1
        from = j
      }
    } else return fail(out, 'invalid-character')
  }
  if (i > maxLength) return fail(out, 'too-long')
  const raw = i === n ? target : target.slice(0, i)
  const path = from === 0 ? raw : canon + target.slice(from, i)
  if (dot && hasDotSegment(path)) return fail(out, 'dot-segment')
  if (path.length > 1 && path.charCodeAt(path.length - 1) === 47) flags |= FLAG_TRAILING_SLASH
  out.path = path
  out.raw = raw
  out.flags = flags
  return true
}

/** Where the run of escapes of non-ASCII bytes (`%80` to `%FF`) starting at `i` ends. */
function escapeRunEnd(target: string, i: number, n: number): number {
  let j = i
  while (
    j < n &&
    target.charCodeAt(j) === 37 &&
    hexValue(target.charCodeAt(j + 1)) >= 8 &&
    hexValue(target.charCodeAt(j + 2)) >= 0
  )
    j += 3
  return j
}

/**
 * A run of escapes decoded as strict UTF-8, or `undefined` when it is not (truncated, overlong and surrogate
 * sequences throw, as they do in find-my-way's decodeURI).
 */
function decodeUtf8Run(escapes: string): string | undefined {
  try {
    return decodeURIComponent(escapes)
  } catch {
    return undefined
  }
}

/** Whether decoded text holds a C1 control character (U+0080 to U+009F). */
function hasC1Control(text: string): boolean {
  for (let m = 0; m < text.length; m++) {
    const u = text.charCodeAt(m)
    if (u >= 0x80 && u <= 0x9f) return true
  }
  return false
}

function fail(out: PathScan, issue: PathIssue): false {
  out.issue = issue
  return false
}

function hasDotSegment(path: string): boolean {
  let start = 1
  for (let i = 1; i <= path.length; i++) {
    if (i === path.length || path.charCodeAt(i) === 47) {
      let seg = path.slice(start, i)
      const semi = seg.indexOf(';')
      if (semi !== -1) seg = seg.slice(0, semi)
      if (seg === '.' || seg === '..') return true
      start = i + 1
    }
  }
  return false
}

const collapse = (p: string): string => p.replace(/\/{2,}/g, '/')
const trimSlash = (p: string): string =>
  p.length > 1 && p.charCodeAt(p.length - 1) === 47 ? p.slice(0, -1) : p
const cutSemicolon = (p: string): string => {
  const s = p.indexOf(';')
  return s === -1 ? p : p.slice(0, s) || '/'
}
const stripParams = (p: string): string => (p.includes(';') ? p.replace(/;[^/]*/g, '') || '/' : p)

/**
 * Every reading of a scanned path (see {@link NormalizedPath}), `scan.path` first.
 * @internal
 */
export function readingsOf(scan: PathScan): string[] {
  // at most 2 x 2^4 readings, usually 2: an array with `includes` beats a Set at these sizes (and no closures:
  // they are allocated per call)
  const out = [scan.path]
  const flags = scan.flags
  if ((flags & FLAG_ESCAPES) !== 0 && scan.raw !== scan.path) out.push(scan.raw)
  if ((flags & FLAG_DOUBLE_SLASH) !== 0) applyTo(out, collapse)
  if ((flags & FLAG_SEMICOLON) !== 0) {
    applyTo(out, cutSemicolon)
    applyTo(out, stripParams)
  }
  // after the others: cutting `;x` or merging slashes may leave a trailing slash
  applyTo(out, trimSlash)
  return out
}

/** Adds `f(p)` for every reading `p` already in `out` (once each). */
function applyTo(out: string[], f: (p: string) => string): void {
  for (let i = 0, n = out.length; i < n; i++) {
    const q = f(out[i]!)
    if (!out.includes(q)) out.push(q)
  }
}

/**
 * Normalises a request target (`req.url`) the way the router sees its path, or says why it cannot be normalised
 * unambiguously. Rule matching uses this; exported for adapters of other frameworks.
 *
 * @param target - the request target as received, query string included
 * @param options - `maxLength`: longest path (without the query) accepted, an integer from 1 to 1048576,
 *   default 8192
 * @returns the {@link NormalizedPath}
 * @throws TierkitTypeError (`E_INVALID_ARGUMENT`) when `target` is not a string or `options.maxLength` is not
 *   an integer from 1 to 1048576 (`normalizePath: target must be a string, got 1`)
 * @example
 * ```ts
 * normalizePath('/api/%75sers/1?x=1') // { ok: true, path: '/api/users/1', readings: ['/api/users/1', '/api/%75sers/1'] }
 * normalizePath('/api/users%2F1')     // { ok: false, issue: 'encoded-slash' }
 * ```
 */
export function normalizePath(target: string, options: { maxLength?: number } = {}): NormalizedPath {
  if (typeof target !== 'string') throw invalidArgument('normalizePath', 'target', 'a string', target)
  checkObject('normalizePath', 'options', options)
  const max =
    options.maxLength === undefined
      ? DEFAULT_MAX_PATH_LENGTH
      : checkInteger('normalizePath', 'options.maxLength', options.maxLength, 1, MAX_PATH_LIMIT)
  const scan: PathScan = { path: '', raw: '', flags: 0, issue: undefined }
  if (!scanPath(target, max, scan)) return Object.freeze({ ok: false, issue: scan.issue! })
  return Object.freeze({ ok: true, path: scan.path, readings: Object.freeze(readingsOf(scan)) })
}
