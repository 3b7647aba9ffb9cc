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
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { CacheMetrics } from '@tierkit/metrics'
import { freePort, isRunning, trackChild, trackDir } from '@tierkit/testkit/core'
import { CdnLog, type CdnPurgeResult, type RefetchAnswer } from './cdn-log.js'
import { PURGE_HEADER } from './invalidate.js'
import type { TagPurger } from './routes/product-writes.js'

/** A running CDN. */
export interface Cdn extends TagPurger {
  /** `http://127.0.0.1:PORT` */
  readonly url: string
  /** nginx's cache folder (`proxy_cache_path`, levels 1:2, keyed by the request URI). */
  readonly cacheDir: string
  /** Responses found stored after a purge that they predate (each purged again): the late-store check's count. */
  readonly lateStores: number
  /** Purges by tag (see the module comment): every tag purged or failed, and the URLs re-fetched and removed. */
  purgeTags(tags: readonly string[], options?: { mode?: 'hard' | 'soft' }): Promise<CdnPurgeResult>
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

export { PURGE_HEADER } from './invalidate.js'

/** Delay of the second purge of every tag purge when nginx has several origins (see the module comment). */
const CONFIRM_PURGE_MS = 200
/** How long after a write the bus message may still be on its way to another instance (what the second purge covers). */
const BUS_LAG_MS = 50
/** How often the access log is read (it also drives the late-store check). */
const LOG_POLL_MS = 50

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
      # a purge's re-fetch tells the origin to answer fresh (no stale value within grace)
      proxy_set_header ${PURGE_HEADER} $http_${PURGE_HEADER.replace(/-/g, '_')};
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

/** Makes the folder nginx runs in (the cache and temp folders writable by its workers) and writes its config. */
function prepareDir(port: number, upstreams: readonly string[]): string {
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
  writeFileSync(join(dir, 'nginx.conf'), cdnConfig(dir, port, upstreams))
  writeFileSync(join(dir, 'access.log'), '')
  return dir
}

/** One GET through nginx; resolves with the status and Cache-Control once the body is read. */
type FetchThrough = (path: string, headers: Record<string, string>) => Promise<RefetchAnswer>

function fetcher(url: string, agent: Agent): FetchThrough {
  return (path, headers) =>
    new Promise((resolve, reject) => {
      const req = request(`${url}${path}`, { headers, agent }, (res) => {
        res.resume()
        const cacheControl = String(res.headers['cache-control'] ?? '')
        res.on('end', () => resolve({ status: res.statusCode ?? 0, cacheControl }))
        res.on('error', reject)
      })
      req.on('error', reject)
      req.end()
    })
}

/** Waits until nginx answers (at most 10 s). */
async function waitForNginx(child: ChildProcess, dir: string, fetchThrough: FetchThrough): Promise<void> {
  const deadline = Date.now() + 10_000
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`nginx exited with code ${child.exitCode}; see ${dir}/error.log`)
    try {
      await fetchThrough('/api/stats', {})
      return
    } catch {
      if (Date.now() > deadline) throw new Error('nginx did not answer within 10 s')
      await sleep(50)
    }
  }
}

/**
 * Starts nginx in front of `upstreams` on a free loopback port. nginx is stopped by `close()`, and killed (its
 * folder removed) when this process exits or dies, by the test kit's process registry and watchdog.
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
  const port = await freePort()
  const dir = prepareDir(port, options.upstreams)
  // the demo's own SIGINT/SIGTERM handling closes the CDN; exit and the watchdog cover the rest
  const removeDir = trackDir(dir, { reapOnSignal: false })
  const child: ChildProcess = spawn(
    bin,
    ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log'), '-g', 'daemon off;'],
    { stdio: 'ignore' },
  )
  child.once('exit', trackChild(child, { reapOnSignal: false }))
  const url = `http://127.0.0.1:${port}`
  // re-fetches reuse their connections to nginx
  const agent = new Agent({ keepAlive: true, maxSockets: 8 })
  const fetchThrough = fetcher(url, agent)
  const log = new CdnLog(join(dir, 'access.log'), join(dir, 'cache'), {
    onLookup: (outcome, ms) => {
      options.metrics?.observer.record('cdn', outcome, ms)
      options.onLookup?.(outcome, ms)
    },
    refetch: (uri) => fetchThrough(uri, { [PURGE_HEADER]: '1' }),
  })
  const timer = setInterval(() => log.read(), LOG_POLL_MS)
  timer.unref()
  try {
    await waitForNginx(child, dir, fetchThrough)
  } catch (e) {
    clearInterval(timer)
    agent.destroy()
    throw e
  }
  const confirms = new Set<ReturnType<typeof setTimeout>>()
  return {
    url,
    cacheDir: join(dir, 'cache'),
    get lateStores() {
      return log.lateStores
    },
    async purgeTags(tags, options): Promise<CdnPurgeResult> {
      const mode = options?.mode ?? 'soft'
      // the write has committed before this call: anything that started before now may hold the old row
      const at = Date.now()
      const result = await log.purge(tags, at, mode)
      if (confirmMs <= 0) return result
      // the second purge, not awaited: what another instance answered from its L1 before the bus message reached
      // it started within BUS_LAG_MS of the first purge; stored since, it is in the index now, or logged later
      const t = setTimeout(() => {
        confirms.delete(t)
        log.purge(tags, at + BUS_LAG_MS, mode).catch(() => {
          // nginx going away: nothing left to purge
        })
      }, confirmMs)
      t.unref()
      confirms.add(t)
      return result
    },
    async close() {
      clearInterval(timer)
      for (const t of confirms) clearTimeout(t)
      agent.destroy()
      if (isRunning(child)) await terminateWith(child, 'SIGQUIT')
      removeDir()
    },
  }
}

/** Sends `signal` (nginx's graceful stop is SIGQUIT), SIGKILL after 3 s, and resolves once the child exited. */
async function terminateWith(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  const done = new Promise<void>((r) => child.once('exit', () => r()))
  child.kill(signal)
  const t = setTimeout(() => child.kill('SIGKILL'), 3000)
  await done
  clearTimeout(t)
}
