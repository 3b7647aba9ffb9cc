/**
 * `@tierkit/cdn-headers/nginx`: tag purges for nginx open source, which has no purge module (`proxy_cache_purge`
 * is nginx Plus). nginx logs each answer's `Cache-Tag` in its access log ({@link nginxPurgeConfig} gives the
 * directives); the purger reads that log into an index tag → cache keys, and purges a tag:
 * - hard: removes each tagged URL's cache file (`<proxy_cache_path>/<levels>/<md5 of proxy_cache_key>`); nginx
 *   treats a missing file as a miss and fetches the URL again on the next request;
 * - soft: re-fetches each tagged URL through nginx with a header that `proxy_cache_bypass` honours, so nginx asks
 *   the origin and replaces the entry: the next user gets a HIT with the new content, nobody waits on a miss. An
 *   answer that nginx may not have stored (a 5xx or no answer, `no-store`/`no-cache`/`private`, `Set-Cookie`)
 *   leaves the old entry in place, so its file is removed instead and the tag is listed in `hardened`.
 * No runtime dependency: `node:http`, `node:fs`, `node:crypto`.
 *
 * @module
 */
import { closeSync, openSync, readSync, statSync, unlinkSync } from 'node:fs'
import * as http from 'node:http'
import { checkDuration, checkInteger, checkObject, checkString, invalidArgument } from '@tierkit/contracts'
import { PurgeFailedError } from './errors.js'
import {
  cacheFile,
  type IndexedEntry,
  logFormat,
  NGINX_PURGE_LOG_FIELDS,
  NGINX_PURGE_LOG_FORMAT,
  parseLogLine,
  TagIndex,
} from './nginx-log.js'
import { describeBatch } from './purge-request.js'
import {
  checkPurgeMode,
  checkPurgeTags,
  type PurgeFailure,
  type PurgeReport,
  type PurgeTagsOptions,
  type TagPurger,
} from './tag-purger.js'

export type { PurgeReport, PurgeTagsOptions, TagPurger } from './tag-purger.js'
export { NGINX_PURGE_LOG_FIELDS, NGINX_PURGE_LOG_FORMAT }

/** How long a purge is remembered for the late-store check, in ms (longer than nginx's 60 s proxy_read_timeout). */
const PURGE_MEMORY = 120_000

/** The header of a soft purge's re-fetch. */
export const NGINX_PURGE_HEADER = 'x-tierkit-purge'

/** Options of {@link nginxPurgeConfig}. */
export interface NginxPurgeConfigOptions {
  /** Path of the access log the purger reads. */
  accessLog: string
  /** Name of the `log_format`. @default 'tierkit_purge' */
  formatName?: string
  /** Header of the soft purge's re-fetch. @default 'x-tierkit-purge' */
  header?: string
}

/** The directives the purger needs: `http` for the `http` block, `location` for the caching location. */
export interface NginxPurgeConfig {
  /** `log_format` (allowed in the `http` block only). */
  http: string
  /** `access_log` in that format and `proxy_cache_bypass` on the re-fetch header. */
  location: string
}

/**
 * The nginx directives the purger needs.
 * @throws TierkitTypeError for a path, name or header nginx would read otherwise
 * @example
 * ```ts
 * const conf = nginxPurgeConfig({ accessLog: '/var/log/nginx/tags.log' })
 * // conf.http: log_format tierkit_purge '$msec\t$upstream_cache_status\t...';
 * // conf.location: access_log /var/log/nginx/tags.log tierkit_purge; proxy_cache_bypass $http_x_tierkit_purge;
 * ```
 */
export function nginxPurgeConfig(options: NginxPurgeConfigOptions): NginxPurgeConfig {
  const where = 'nginxPurgeConfig'
  checkObject(where, 'options', options)
  const path = checkString(where, 'options.accessLog', options.accessLog, 4096)
  if (!/^\/[A-Za-z0-9._\-/]+$/.test(path)) {
    throw invalidArgument(where, 'options.accessLog', 'an absolute path of letters, digits, . _ - /', path)
  }
  const name = options.formatName ?? 'tierkit_purge'
  if (typeof name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(name)) {
    throw invalidArgument(where, 'options.formatName', 'an nginx name ([A-Za-z_][A-Za-z0-9_]*)', name)
  }
  const header = checkHeader(where, options.header)
  return {
    http: `log_format ${name} '${logFormat(header)}';`,
    location: `access_log ${path} ${name};\nproxy_cache_bypass $http_${header.replace(/-/g, '_')};`,
  }
}

/** Options of {@link createNginxPurger}. */
export interface NginxPurgerOptions {
  /** nginx, for the soft purge's re-fetches: `http://HOST:PORT`. */
  url: string
  /** The `proxy_cache_path` folder. */
  cacheDir: string
  /** The access log written in {@link NGINX_PURGE_LOG_FORMAT}; read before each purge and by `read()`. */
  accessLog?: string
  /** `levels` of `proxy_cache_path`. @default '1:2' */
  levels?: string
  /**
   * `proxy_cache_key`, with the variables `$scheme`, `$host`, `$http_host` (the same: the logged `$host`),
   * `$request_uri` and `$proxy_host` (from `proxyHost`). @default '$scheme$proxy_host$request_uri' (nginx's)
   */
  cacheKey?: string
  /** `$proxy_host` of the caching location (the `proxy_pass` host), when `cacheKey` uses it. */
  proxyHost?: string
  /** The hosts (`$host`, lower case) whose lines are indexed; any other line is ignored. @default the host of `url` */
  hosts?: readonly string[]
  /** Header of the soft purge's re-fetch (see {@link nginxPurgeConfig}). @default 'x-tierkit-purge' */
  header?: string
  /** How long a re-fetch may take, in ms, before its file is removed instead. @default 10000 */
  timeout?: number
  /** Re-fetches in flight at once. @default 8 */
  concurrency?: number
  /** Most cache keys indexed; beyond, the oldest is dropped and its file removed (it stays purgeable). @default 100000 */
  maxEntries?: number
}

/** An nginx tag purger (a {@link TagPurger}). It owns no timer and nothing to close. */
export interface NginxPurger extends TagPurger {
  /**
   * Purges the cached responses of `tags`, hard (files removed) or soft (re-fetched with the bypass header).
   * The access log is read first. A tag the index does not know is purged (nothing of it is cached).
   * @throws TierkitTypeError (`E_INVALID_ARGUMENT`) for tags that are not cache tags or an unknown mode
   */
  purgeTags(tags: readonly string[], options?: PurgeTagsOptions): Promise<PurgeReport>
  /** Indexes one log line; false when it was ignored (not the format, another host, a bad target). */
  ingest(line: string): boolean
  /** Reads what nginx appended to `accessLog` since the last read; returns how many lines were indexed. */
  read(): number
  /**
   * Cache keys indexed, log lines ignored so far, and late stores: answers stored after a purge of one of their
   * tags by a request that started before it (each file removed as its line is read).
   */
  stats(): { entries: number; ignored: number; lateStores: number }
}

/** The checked settings of a purger. */
interface NginxSettings {
  base: URL
  cacheDir: string
  accessLog: string | undefined
  levels: number[]
  key: (line: { scheme: string; host: string; uri: string }) => string
  hosts: Set<string>
  header: string
  timeout: number
  concurrency: number
  maxEntries: number
}

function checkHeader(where: string, header: unknown): string {
  const h = header ?? NGINX_PURGE_HEADER
  if (typeof h !== 'string' || !/^[a-z0-9][a-z0-9-]{0,63}$/.test(h)) {
    throw invalidArgument(where, 'options.header', 'a lower-case header name (a-z, 0-9, -)', h)
  }
  return h
}

/** `proxy_cache_key` as a function of a log line. */
function compileKey(where: string, template: unknown, proxyHost: unknown): NginxSettings['key'] {
  const t = checkString(where, 'options.cacheKey', template, 1024)
  const names = [...t.matchAll(/\$\{?([A-Za-z_]+)\}?/g)].map((m) => m[1])
  const known = ['scheme', 'host', 'http_host', 'request_uri', 'proxy_host']
  const unknown = names.find((n) => !known.includes(n ?? ''))
  if (unknown !== undefined || names.length === 0) {
    throw invalidArgument(where, 'options.cacheKey', `a key of ${known.map((k) => `$${k}`).join(', ')}`, t)
  }
  if (names.includes('proxy_host') && typeof proxyHost !== 'string') {
    throw invalidArgument(
      where,
      'options.proxyHost',
      'the proxy_pass host (the key uses $proxy_host)',
      proxyHost,
    )
  }
  return (l) =>
    t.replace(/\$\{?([A-Za-z_]+)\}?/g, (_, n: string) =>
      n === 'scheme'
        ? l.scheme
        : n === 'request_uri'
          ? l.uri
          : n === 'proxy_host'
            ? String(proxyHost)
            : l.host,
    )
}

function checkNginxOptions(options: NginxPurgerOptions): NginxSettings {
  const where = 'createNginxPurger'
  checkObject(where, 'options', options)
  const url = options.url
  if (typeof url !== 'string' || !URL.canParse(url) || new URL(url).protocol !== 'http:') {
    throw invalidArgument(where, 'options.url', 'an http: URL of nginx', url)
  }
  const base = new URL(url)
  const cacheDir = checkString(where, 'options.cacheDir', options.cacheDir, 4096)
  const accessLog =
    options.accessLog === undefined
      ? undefined
      : checkString(where, 'options.accessLog', options.accessLog, 4096)
  const levels = options.levels ?? '1:2'
  if (typeof levels !== 'string' || !/^[12](:[12]){0,2}$/.test(levels)) {
    throw invalidArgument(where, 'options.levels', 'nginx levels (1 to 3 of 1 or 2, like "1:2")', levels)
  }
  const hosts = options.hosts ?? [base.hostname]
  if (!Array.isArray(hosts) || hosts.some((h) => typeof h !== 'string' || h === '')) {
    throw invalidArgument(where, 'options.hosts', 'an array of host names', hosts)
  }
  return {
    base,
    cacheDir,
    accessLog,
    levels: levels.split(':').map(Number),
    key: compileKey(where, options.cacheKey ?? '$scheme$proxy_host$request_uri', options.proxyHost),
    hosts: new Set(hosts.map((h) => h.toLowerCase())),
    header: checkHeader(where, options.header),
    timeout:
      options.timeout === undefined ? 10_000 : checkDuration(where, 'options.timeout', options.timeout, 1),
    concurrency: checkInteger(where, 'options.concurrency', options.concurrency ?? 8, 1, 1024),
    maxEntries: checkInteger(where, 'options.maxEntries', options.maxEntries ?? 100_000, 1, 100_000_000),
  }
}

/** Removes a cache file; "not there" is fine (purged already, or never stored). */
function removeFile(path: string): Error | undefined {
  try {
    unlinkSync(path)
    return undefined
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : (e as Error)
  }
}

/** Whether nginx may have stored the re-fetched answer (else the old entry is still there). */
function mayBeStored(res: http.IncomingMessage): boolean {
  const cc = String(res.headers['cache-control'] ?? '').toLowerCase()
  const status = res.statusCode ?? 0
  return (
    status > 0 &&
    status < 500 &&
    !/no-store|no-cache|private/.test(cc) &&
    res.headers['set-cookie'] === undefined
  )
}

/** GETs `entry.uri` through nginx with the bypass header; resolves whether the answer may have replaced the entry. */
function refetch(s: NginxSettings, entry: IndexedEntry): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(
      {
        host: s.base.hostname,
        port: s.base.port || 80,
        path: entry.uri,
        headers: { host: entry.host, [s.header]: '1' },
        agent: false,
        timeout: s.timeout,
      },
      (res) => {
        res.resume()
        res.on('end', () => resolve(mayBeStored(res)))
        res.on('error', () => resolve(false))
      },
    )
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', () => resolve(false))
  })
}

/** Runs `fn` over `items`, `limit` at a time. */
async function each<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const run = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++] as T)
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run))
}

/**
 * Creates an nginx tag purger.
 * @throws TierkitTypeError for a missing or bad option (`createNginxPurger: options.levels must be nginx levels
 *   (1 to 3 of 1 or 2, like "1:2"), got "3"`)
 * @example
 * ```ts
 * const purger = createNginxPurger({
 *   url: 'http://127.0.0.1:8080',
 *   cacheDir: '/var/cache/nginx',
 *   accessLog: '/var/log/nginx/tags.log',
 *   cacheKey: '$request_uri',
 * })
 * const report = await purger.purgeTags(['product:42'], { mode: 'soft' })
 * ```
 */
export function createNginxPurger(options: NginxPurgerOptions): NginxPurger {
  const s = checkNginxOptions(options)
  const index = new TagIndex(s.maxEntries)
  const log = { offset: 0, rest: '' }
  /** tag → when it was last purged (epoch ms), for the late-store check */
  const purgedAt = new Map<string, number>()
  let ignored = 0
  let lateStores = 0

  const ingest = (line: string): boolean => {
    const l = parseLogLine(line, s.hosts)
    if (l === undefined) {
      if (line !== '') ignored++
      return false
    }
    const key = s.key(l)
    // stored after a purge of one of its tags by a request that started before it: it may hold the old content.
    // nginx's clock is cached per event-loop turn (never late), so `<=` misses none (one extra removal at worst)
    if (l.storing && l.tags.some((t) => l.started <= (purgedAt.get(t) ?? Number.NEGATIVE_INFINITY))) {
      lateStores++
      removeFile(cacheFile(s.cacheDir, s.levels, key))
    }
    // an entry dropped from the index can no longer be found by tag: its file goes now
    for (const [k] of index.add(key, { uri: l.uri, host: l.host, tags: l.tags }))
      removeFile(cacheFile(s.cacheDir, s.levels, k))
    return true
  }
  const read = (): number => {
    if (s.accessLog === undefined) return 0
    const lines = readNewLines(s.accessLog, log)
    let n = 0
    for (const line of lines) if (ingest(line)) n++
    return n
  }

  return {
    ingest: (line) => ingest(String(line)),
    read,
    stats: () => ({ entries: index.size, ignored, lateStores }),
    async purgeTags(tags, purgeOptions) {
      const where = 'NginxPurger.purgeTags'
      const unique = checkPurgeTags(where, tags)
      const soft = checkPurgeMode(where, purgeOptions) === 'soft'
      // the write committed before this call: a request that started before now may carry the old content
      const at = Date.now()
      // the log first: what is in it now is in the index and purged below; what is read later is checked
      read()
      for (const [t, when] of purgedAt) if (at - when > PURGE_MEMORY) purgedAt.delete(t)
      for (const t of unique) purgedAt.set(t, at)
      const report: PurgeReport = { purged: [], hardened: [], failed: [] }
      await each(unique, 1, async (tag) => {
        const outcome = await purgeTag(s, index, tag, soft)
        if (outcome.failure !== undefined) report.failed.push(outcome.failure)
        else {
          report.purged.push(tag)
          if (outcome.hardened) report.hardened.push(tag)
        }
      })
      return report
    },
  }
}

/** Purges the entries of one tag. */
async function purgeTag(
  s: NginxSettings,
  index: TagIndex,
  tag: string,
  soft: boolean,
): Promise<{ failure?: PurgeFailure; hardened: boolean }> {
  let hardened = false
  let failedOn: Error | undefined
  await each(index.keysOf(tag), s.concurrency, async ([key, entry]) => {
    if (soft && (await refetch(s, entry))) return
    if (soft) hardened = true
    const error = removeFile(cacheFile(s.cacheDir, s.levels, key))
    if (error !== undefined) failedOn = error
    else index.forget(key)
  })
  if (failedOn === undefined) return { hardened }
  const error = new PurgeFailedError(
    0,
    [tag],
    `${describeBatch([tag])}: could not remove a cache file: ${failedOn.message}`,
    { cause: failedOn, reason: 'io' },
  )
  return { failure: { tag, reason: 'io', error }, hardened }
}

/** The complete lines appended to `path` since `state.offset` (a partial last line waits for the next read). */
function readNewLines(path: string, state: { offset: number; rest: string }): string[] {
  let size: number
  try {
    size = statSync(path).size
  } catch {
    return []
  }
  if (size < state.offset) state.offset = 0 // rotated or truncated: start over
  if (size === state.offset) return []
  const fd = openSync(path, 'r')
  try {
    const buf = Buffer.alloc(size - state.offset)
    readSync(fd, buf, 0, buf.length, state.offset)
    state.offset = size
    const lines = (state.rest + buf.toString('latin1')).split('\n')
    state.rest = lines.pop() ?? ''
    if (state.rest.length > 65_536) state.rest = ''
    return lines
  } finally {
    closeSync(fd)
  }
}
