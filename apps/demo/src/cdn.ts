/**
 * The demo's CDN (L3): Debian's nginx, unprivileged in a temp folder, as a caching reverse proxy on loopback.
 * nginx honours the origin's Cache-Control (the policy gives the same TTL in CDN-Cache-Control), never stores
 * `private`/`no-store` answers and bypasses requests with `Authorization`. Its access log feeds the `cdn` layer
 * of the metrics and an index tag → URLs that makes tag purges possible. nginx has no purge-by-tag (nor any purge
 * outside nginx Plus), so a purge:
 * - re-fetches the URLs for which the tag is their only specific tag (`/api/public/products/<id>` for
 *   `product:<id>`) with `X-Tierkit-Purge: 1` (`proxy_cache_bypass`), which replaces the entry: the edge stays warm
 *   for the hot single-product URL;
 * - drops every other URL carrying the tag (batches `?ids=…`, one per combination of ids) by deleting its cache
 *   file (`<cache>/<md5 of the key, levels 1:2>`); nginx treats a missing file as a miss and fetches it again on
 *   the next request. Re-fetching those was the CDN mode's bottleneck: a hot product sits in hundreds of distinct
 *   batch URLs, and each PUT re-fetched all of them (10 products each) through nginx and the origin.
 *
 * Late stores. A miss already on its way to the origin when the write commits can reach nginx, and be stored,
 * after the purge. The origin answers such a read `no-store` when it knows (its fence: a write of the product
 * started or a bus message arrived while the read was in flight, or the read took longer than 500 ms), but an
 * answer sent just before the write, or by an instance whose bus message had not arrived yet, can still land after
 * the purge's re-fetch. So each purge remembers when it happened, per tag, and every access-log line of a response
 * nginx may have stored (MISS, EXPIRED, REVALIDATED, BYPASS) that carries a purged tag and started before that
 * purge is purged again as soon as it is read (the log is unbuffered and read every 50 ms). The same check covers
 * a URL whose line had not been read yet when the purge ran, so the tag index did not know it. With several
 * origins, every purge is repeated once 200 ms later (not awaited by the write): another instance may serve the old
 * row from its L1 until the bus message reaches it (within 50 ms of the write, assumed), and what it answered
 * meanwhile is in the index by then, or logged later as having started before that bound.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  chmodSync,
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs'
import { Agent, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { CacheMetrics } from '@tierkit/metrics'
import type { TagPurger } from './app.js'
import { freePort } from './redis-server.js'

/** A running CDN. */
export interface Cdn extends TagPurger {
  /** `http://127.0.0.1:PORT` */
  readonly url: string
  /** Responses found stored after a purge that they predate (each purged again): the late-store check's count. */
  readonly lateStores: number
  /** Stops nginx and removes its folder. */
  close(): Promise<void>
}

/** Options of {@link startCdn}. */
export interface CdnOptions {
  /** Origin URLs (`http://127.0.0.1:PORT`), load-balanced round robin. */
  upstreams: readonly string[]
  /** Receives `cdn` hits and misses from the access log. */
  metrics?: CacheMetrics
  /**
   * Also receives each `cdn` lookup read from the access log (the multi-process supervisor forwards them to an
   * instance over IPC). @default none
   */
  onLookup?: (outcome: 'hit' | 'miss' | 'stale', ms: number) => void
  /** nginx binary. @default $NGINX_BIN, /usr/sbin/nginx, or nginx on the PATH */
  bin?: string
  /**
   * Delay of the second purge of every tag purge (`0`: none). It covers what another instance answered from its
   * L1 before the bus message of the write reached it, so it only matters with several instances.
   * @default 200 with several upstreams, else 0
   */
  confirmPurgeMs?: number
}

const PURGE_HEADER = 'x-tierkit-purge'
/** Delay of the second purge of every tag purge when nginx has several origins (see the module comment). */
const CONFIRM_PURGE_MS = 200
/** How long after a write the bus message may still be on its way to another instance (what the second purge covers). */
const BUS_LAG_MS = 50
/** How often the access log is read (it also drives the late-store check). */
const LOG_POLL_MS = 50
/** How long a purge is remembered for the late-store check (longer than any upstream answer: nginx's 60 s read timeout). */
const PURGE_MEMORY_MS = 120_000
/** Cache statuses of a response nginx may have stored (from the origin, or refreshed by a 304). */
const STORING: ReadonlySet<string> = new Set(['MISS', 'EXPIRED', 'REVALIDATED', 'BYPASS'])
/** Tags shared by many URLs (collections), not used to tell a URL's own product. */
const GENERIC_TAGS: ReadonlySet<string> = new Set(['public', 'products'])

/** The nginx binary, or `undefined` when there is none. */
export function findNginx(): string | undefined {
  for (const bin of [process.env.NGINX_BIN, '/usr/sbin/nginx', 'nginx']) {
    if (bin && spawnSync(bin, ['-v'], { stdio: 'ignore' }).status === 0) return bin
  }
  return undefined
}

/** The nginx.conf of the CDN. */
export function cdnConfig(dir: string, port: number, upstreams: readonly string[]): string {
  const servers = upstreams.map((u) => `    server ${new URL(u).host};`).join('\n')
  const temps = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((t) => `  ${t}_temp_path ${dir}/tmp/${t};`)
    .join('\n')
  return `worker_processes 2;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
${temps}
  log_format tk '$upstream_cache_status\\t$request_time\\t$status\\t$request_uri\\t$upstream_http_cache_tag\\t$msec';
  # unbuffered: a response's line is in the file once nginx is done with it, so a purge finds every URL stored
  # before it, and the late-store check sees a stale store within one poll of the log
  access_log ${dir}/access.log tk;
  proxy_cache_path ${dir}/cache levels=1:2 keys_zone=tk:10m max_size=256m inactive=1h use_temp_path=off;
  # never store a refusal, whatever its headers say: a 401/403 answers one client's credentials
  map $upstream_status $tk_refusal { ~(^|\\s)40[13]$ 1; default ""; }
  upstream tk_origin {
${servers}
    keepalive 32;
  }
  # nginx closes a client connection after 1,000 requests by default: under load a client racing that close
  # sees ECONNRESET (autocannon counted it as a failed request)
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://tk_origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header ${PURGE_HEADER} "";
      proxy_cache tk;
      proxy_cache_methods GET HEAD;
      proxy_cache_key $request_uri;
      proxy_cache_lock off; # its waiters poll every 500 ms; the origin collapses concurrent misses itself (single flight)
      proxy_cache_revalidate on;
      proxy_cache_bypass $http_authorization $http_${PURGE_HEADER.replace(/-/g, '_')};
      proxy_no_cache $http_authorization $tk_refusal;
      add_header X-Cache-Status $upstream_cache_status always;
    }
  }
}
`
}

/**
 * Starts nginx in front of `upstreams` on a free loopback port.
 * @throws Error when nginx is not installed or does not start; TypeError `confirmPurgeMs must be a non-negative
 *   number of milliseconds`.
 */
export async function startCdn(options: CdnOptions): Promise<Cdn> {
  const bin = options.bin ?? findNginx()
  if (bin === undefined) throw new Error('CDN mode needs nginx (Debian: apt-get install -y nginx)')
  const confirmMs = options.confirmPurgeMs ?? (options.upstreams.length > 1 ? CONFIRM_PURGE_MS : 0)
  if (typeof confirmMs !== 'number' || !Number.isFinite(confirmMs) || confirmMs < 0) {
    throw new TypeError('confirmPurgeMs must be a non-negative number of milliseconds')
  }
  const dir = mkdtempSync(join(tmpdir(), 'tierkit-demo-cdn-'))
  // when run as root, nginx's workers run as nobody: they must be able to write the cache and temp folders
  chmodSync(dir, 0o755)
  const writable = [
    'tmp',
    'cache',
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => join('tmp', t)),
  ]
  for (const d of writable) {
    mkdirSync(join(dir, d), { recursive: true })
    chmodSync(join(dir, d), 0o777)
  }
  const port = await freePort()
  writeFileSync(join(dir, 'nginx.conf'), cdnConfig(dir, port, options.upstreams))
  writeFileSync(join(dir, 'access.log'), '')
  const child: ChildProcess = spawn(
    bin,
    ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log'), '-g', 'daemon off;'],
    {
      stdio: 'ignore',
    },
  )
  const kill = (): void => {
    child.kill('SIGKILL')
  }
  process.on('exit', kill)
  const url = `http://127.0.0.1:${port}`

  // ---- access log → metrics + tag index + late-store check
  const tagIndex = new Map<string, Set<string>>()
  /** tag → when it was last purged (epoch ms): a stored response carrying it that started earlier is stale. */
  const purgedAt = new Map<string, number>()
  /** URIs found stored too late, purged again after the pass over the log (set by readLog). */
  let late: Set<string> | undefined
  // URI → its tags, to drop a URI from every tag set once its entry is deleted
  const uriTags = new Map<string, string[]>()
  const forget = (uri: string): void => {
    for (const t of uriTags.get(uri) ?? []) tagIndex.get(t)?.delete(uri)
    uriTags.delete(uri)
  }
  /** The cache file of a key (`proxy_cache_key $request_uri`, `levels=1:2`). */
  const cacheFile = (uri: string): string => {
    const h = createHash('md5').update(uri).digest('hex')
    return join(dir, 'cache', h.slice(-1), h.slice(-3, -1), h)
  }
  let offset = 0
  let rest = ''
  const readLog = (): void => {
    let size: number
    try {
      size = statSync(join(dir, 'access.log')).size
    } catch {
      return
    }
    if (size <= offset) return
    const fd = openSync(join(dir, 'access.log'), 'r')
    const buf = Buffer.alloc(size - offset)
    readSync(fd, buf, 0, buf.length, offset)
    closeSync(fd)
    offset = size
    const lines = (rest + buf.toString('utf8')).split('\n')
    rest = lines.pop() ?? ''
    for (const line of lines) {
      const [cache = '-', time = '0', , uri = '', tags = '-', msec = '0'] = line.split('\t')
      const ms = Number(time) * 1000
      const outcome =
        cache === 'HIT' || cache === 'REVALIDATED'
          ? 'hit'
          : cache === 'STALE' || cache === 'UPDATING'
            ? 'stale'
            : cache === 'MISS' || cache === 'EXPIRED'
              ? 'miss'
              : undefined
      // only the cacheable routes count as CDN lookups (nginx also says MISS for answers it may not store)
      if (outcome && uri.startsWith('/api/public/')) {
        options.metrics?.observer.record('cdn', outcome, ms)
        options.onLookup?.(outcome, ms)
      }
      if (tags !== '-' && tags !== '') {
        const list = tags
          .split(',')
          .map((t) => t.trim())
          .filter((t) => t !== '')
        uriTags.set(uri, list)
        // when nginx read the request, by its own clock in whole ms. That clock is cached per event-loop turn, so
        // it is never late: a request that really started before the purge has started <= purgedAt (equal
        // within the same ms), and `<=` misses none (one extra purge at worst)
        const started = Math.round(Number(msec) * 1000) - Math.round(ms)
        for (const tag of list) {
          let set = tagIndex.get(tag)
          if (!set) tagIndex.set(tag, (set = new Set()))
          set.add(uri)
          const p = purgedAt.get(tag)
          if (p !== undefined && STORING.has(cache) && started <= p) (late ??= new Set()).add(uri)
        }
      }
    }
    const now = Date.now()
    if (now - prunedAt > 1000) {
      prunedAt = now
      for (const [tag, at] of purgedAt) if (now - at > PURGE_MEMORY_MS) purgedAt.delete(tag)
    }
    if (late !== undefined) {
      const uris = late
      late = undefined
      lateStores += uris.size
      purgeUris(uris).catch(() => {
        // nginx going away: nothing left to purge
      })
    }
  }
  let lateStores = 0
  let prunedAt = 0
  const timer = setInterval(readLog, LOG_POLL_MS)
  timer.unref()

  // re-fetches reuse their connections to nginx
  const agent = new Agent({ keepAlive: true, maxSockets: 8 })
  const fetchThrough = (path: string, headers: Record<string, string>): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = request(`${url}${path}`, { headers, agent }, (res) => {
        res.resume()
        res.on('end', () => resolve(res.statusCode ?? 0))
      })
      req.on('error', reject)
      req.end()
    })

  /** Replaces (re-fetches) the URIs whose only specific tag is one product's, deletes the others' cache files. */
  const purgeUris = async (uris: Iterable<string>): Promise<void> => {
    const refetch: string[] = []
    for (const u of uris) {
      const specific = (uriTags.get(u) ?? []).filter((t) => !GENERIC_TAGS.has(t))
      if (specific.length === 1) refetch.push(u)
      else {
        try {
          unlinkSync(cacheFile(u))
        } catch {
          // not stored (any more): nothing to drop
        }
        forget(u)
      }
    }
    await Promise.all(refetch.map((u) => fetchThrough(u, { [PURGE_HEADER]: '1' })))
  }

  // wait until nginx answers
  const deadline = Date.now() + 10_000
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`nginx exited with code ${child.exitCode}; see ${dir}/error.log`)
    try {
      await fetchThrough('/api/stats', {})
      break
    } catch {
      if (Date.now() > deadline) throw new Error('nginx did not answer within 10 s')
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  /** Purges what the index knows of `tags`; a response that started before `staleBefore` and is logged later is stale. */
  const purgeNow = async (tags: readonly string[], staleBefore: number): Promise<void> => {
    // the log first: what is in it now is in the index, and purged below (not again by the late-store check)
    readLog()
    for (const t of tags) if ((purgedAt.get(t) ?? 0) < staleBefore) purgedAt.set(t, staleBefore)
    const uris = new Set<string>()
    for (const t of tags) for (const u of tagIndex.get(t) ?? []) uris.add(u)
    await purgeUris(uris)
  }
  const confirms = new Set<ReturnType<typeof setTimeout>>()

  return {
    url,
    get lateStores() {
      return lateStores
    },
    async purgeTags(tags) {
      // the write has committed before this call: anything that started before now may hold the old row
      const at = Date.now()
      await purgeNow(tags, at)
      if (confirmMs <= 0) return
      // the second purge, not awaited: what another instance answered from its L1 before the bus message reached
      // it started within BUS_LAG_MS of the first purge; stored since, it is in the index now, or logged later
      const t = setTimeout(() => {
        confirms.delete(t)
        purgeNow(tags, at + BUS_LAG_MS).catch(() => {
          // nginx going away: nothing left to purge
        })
      }, confirmMs)
      t.unref()
      confirms.add(t)
    },
    async close() {
      clearInterval(timer)
      for (const t of confirms) clearTimeout(t)
      agent.destroy()
      if (child.exitCode === null && child.signalCode === null) {
        const done = new Promise<void>((r) => child.once('exit', () => r()))
        child.kill('SIGQUIT')
        const t = setTimeout(() => child.kill('SIGKILL'), 3000)
        await done
        clearTimeout(t)
      }
      process.off('exit', kill)
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
