/**
 * The nginx purger's index: access-log lines in the {@link NGINX_PURGE_LOG_FORMAT} format parsed (nginx's
 * `escape=default` undone), checked (a host outside the origin's, a target that is not origin-form, a bad tag:
 * ignored), and kept as tag → cache keys, with each key's request, bounded in size. Also the cache file of a key
 * as nginx names it (`md5(key)` in hex, `levels` directories taken from its end).
 *
 * @module
 * @internal
 */
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { isValidTag } from './rule.js'

/** The fields of one log line, tab-separated, in this order. */
export const NGINX_PURGE_LOG_FIELDS: readonly string[] = Object.freeze([
  '$msec',
  '$request_time',
  '$upstream_cache_status',
  '$scheme',
  '$host',
  '$request_uri',
  '$http_x_tierkit_purge',
  '$upstream_http_cache_tag',
])

/** The `log_format` body (nginx syntax, `\t` between fields) for the re-fetch header `header`. */
export function logFormat(header: string): string {
  return NGINX_PURGE_LOG_FIELDS.map((f) =>
    f === '$http_x_tierkit_purge' ? `$http_${header.replace(/-/g, '_')}` : f,
  ).join('\\t')
}

/** The `log_format` body for the default re-fetch header, `x-tierkit-purge`. */
export const NGINX_PURGE_LOG_FORMAT: string = logFormat('x-tierkit-purge')

/** Cache statuses of an answer nginx may have stored (from the origin, or refreshed by a 304). */
const STORING: ReadonlySet<string> = new Set(['MISS', 'EXPIRED', 'REVALIDATED', 'BYPASS'])

/** Longest log line read; a longer one is ignored. */
const MAX_LINE = 65_536
/** Longest request target kept. */
const MAX_URI = 8192

/** What the index knows of one cached response. */
export interface IndexedEntry {
  /** The request target (`$request_uri`), to re-fetch it. */
  uri: string
  /** The `Host` it was requested with. */
  host: string
  /** Its cache tags. */
  tags: string[]
}

/** A parsed, accepted log line. */
export interface LogLine {
  /** When nginx read the request (epoch ms, its `$msec` less `$request_time`). */
  started: number
  /** Whether nginx may have stored the answer, and it is not a purge's own re-fetch. */
  storing: boolean
  scheme: string
  host: string
  uri: string
  tags: string[]
}

/**
 * Undoes nginx's `escape=default` (`"`, `\` and bytes outside 0x20-0x7E written as `\xHH`): the bytes as UTF-8,
 * `\uFFFD` where they are not (refused by the checks of {@link parseLogLine}: hosts and targets are printable ASCII).
 */
function unescapeField(field: string): string {
  if (!field.includes('\\x')) return field
  const parts = field.split(/\\x([0-9A-Fa-f]{2})/)
  const bytes = parts.map((p, i) =>
    i % 2 === 1 ? Buffer.from([Number.parseInt(p, 16)]) : Buffer.from(p, 'latin1'),
  )
  return Buffer.concat(bytes).toString('utf8')
}

/**
 * One log line, or `undefined` when it is not one to index: not in the format, too long, no cache involved
 * (`-`), a host not in `hosts`, a target that is not origin-form or holds anything but printable ASCII.
 */
export function parseLogLine(line: string, hosts: ReadonlySet<string>): LogLine | undefined {
  if (line.length > MAX_LINE) return undefined
  const f = line.split('\t')
  if (f.length !== NGINX_PURGE_LOG_FIELDS.length) return undefined
  const [
    msec = '',
    time = '',
    cache = '-',
    scheme = '',
    rawHost = '',
    rawUri = '',
    refetch = '',
    rawTags = '-',
  ] = f
  if (cache === '-' || (scheme !== 'http' && scheme !== 'https')) return undefined
  const host = unescapeField(rawHost).toLowerCase()
  const uri = unescapeField(rawUri)
  if (!hosts.has(host) || !uri.startsWith('/') || uri.startsWith('//') || uri.length > MAX_URI)
    return undefined
  // printable ASCII only (nginx logs other bytes escaped): a target a re-fetch can send as it was received
  if (/[^\u0021-\u007e]/.test(uri)) return undefined
  const tags =
    rawTags === '-'
      ? []
      : unescapeField(rawTags)
          .split(',')
          .map((t) => t.trim())
          .filter((t) => isValidTag(t))
  const started = Math.round(Number(msec) * 1000) - Math.round(Number(time) * 1000)
  if (!Number.isFinite(started)) return undefined
  return {
    started,
    storing: STORING.has(cache) && (refetch === '-' || refetch === ''),
    scheme,
    host,
    uri,
    tags,
  }
}

/** The file nginx keeps the response of `key` in: `<dir>/<last level chars>/<next level chars>/<md5>`. */
export function cacheFile(dir: string, levels: readonly number[], key: string): string {
  const h = createHash('md5').update(key).digest('hex')
  const parts: string[] = []
  let end = h.length
  for (const n of levels) {
    parts.push(h.slice(end - n, end))
    end -= n
  }
  return join(dir, ...parts, h)
}

/** Tag → cache keys, and key → entry (oldest first), bounded: the oldest entry is dropped beyond `max`. */
export class TagIndex {
  readonly #byTag = new Map<string, Set<string>>()
  readonly #entries = new Map<string, IndexedEntry>()
  readonly #max: number

  constructor(max: number) {
    this.#max = max
  }

  /** Entries indexed. */
  get size(): number {
    return this.#entries.size
  }

  /** Adds (or refreshes) `key`; returns the entries dropped to stay within the bound. */
  add(key: string, entry: IndexedEntry): Array<[string, IndexedEntry]> {
    this.forget(key)
    this.#entries.set(key, entry)
    for (const t of entry.tags) {
      let keys = this.#byTag.get(t)
      if (keys === undefined) this.#byTag.set(t, (keys = new Set()))
      keys.add(key)
    }
    const dropped: Array<[string, IndexedEntry]> = []
    for (const [k, e] of this.#entries) {
      if (this.#entries.size <= this.#max) break
      this.forget(k)
      dropped.push([k, e])
    }
    return dropped
  }

  /** The keys carrying `tag`, with their entries. */
  keysOf(tag: string): Array<[string, IndexedEntry]> {
    const out: Array<[string, IndexedEntry]> = []
    for (const k of this.#byTag.get(tag) ?? []) {
      const e = this.#entries.get(k)
      if (e !== undefined) out.push([k, e])
    }
    return out
  }

  /** Removes `key` from the index. */
  forget(key: string): void {
    const e = this.#entries.get(key)
    if (e === undefined) return
    this.#entries.delete(key)
    for (const t of e.tags) {
      const keys = this.#byTag.get(t)
      keys?.delete(key)
      if (keys?.size === 0) this.#byTag.delete(t)
    }
  }
}
