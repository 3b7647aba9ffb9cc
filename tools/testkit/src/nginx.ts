/**
 * `startNginx`: Debian's nginx, unprivileged, in a temporary folder, as a CDN-like caching reverse proxy on a
 * free loopback port. Every temp path, the pid file and the cache live under the folder; nginx runs in the
 * foreground (`daemon off`) as a tracked child, stopped when the test file ends, also when a test fails.
 *
 * The cache model (documented in docs/cdn-headers.md):
 * - `proxy_cache` with freshness from the origin only (no `proxy_cache_valid`: nothing is cached heuristically);
 *   nginx honours `no-store`, `no-cache`, `private`, `max-age`, `s-maxage` (preferred), `Expires`,
 *   `stale-while-revalidate` and `stale-if-error` (1.11.10+), and `Vary` (one variant per key; `Vary: *` never stored);
 * - `honour: 'cdn-cache-control'` (default) puts a translating server in front of the origin (a unix socket in the
 *   folder) that replaces `Cache-Control` by `CDN-Cache-Control` when the origin sends one (RFC 9213 precedence);
 *   the client still receives the origin's own `Cache-Control` (kept as `X-Origin-Cache-Control` inside);
 * - `proxy_cache_revalidate on` (expired entries are revalidated with If-None-Match / If-Modified-Since) and
 *   background update; stale answers only as the response's stale-while-revalidate / stale-if-error allow
 *   (unless `useStale`);
 * - responses that set a cookie are not stored unless `cacheSetCookie`; requests with `Authorization` bypass
 *   the cache unless `bypassAuthorization: false`;
 * - GET and HEAD only; HEAD is fetched from the origin as GET (`proxy_cache_convert_head`);
 * - `X-Cache-Status: $upstream_cache_status` on every answer (HIT, MISS, EXPIRED, STALE, UPDATING,
 *   REVALIDATED, BYPASS).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs'
import * as http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort } from './ports.js'
import { exited, isRunning, terminate, trackChild, trackDir } from './processes.js'

/** How the nginx cache behaves; see the module comment. */
export interface NginxCacheConfig {
  /** Which field gives the cache its directives. @default 'cdn-cache-control' */
  honour?: 'cache-control' | 'cdn-cache-control'
  /** Requests with `Authorization` skip the cache (read and write). @default true */
  bypassAuthorization?: boolean
  /** Store responses that carry `Set-Cookie` (`proxy_ignore_headers Set-Cookie`). @default false */
  cacheSetCookie?: boolean
  /**
   * `false`: serve stale only where the cached response's own `stale-while-revalidate` / `stale-if-error` allow
   * it (RFC 5861; nginx reads both directives). `true`: also nginx's aggressive
   * `proxy_cache_use_stale updating error timeout http_500 http_502 http_503 http_504` (stale without limit).
   * @default false
   */
  useStale?: boolean
  /** Extra directives appended to the caching `location` block. @default '' */
  extra?: string
}

/** Options of {@link startNginx}. */
export interface StartNginxOptions {
  /** The origin: `http://127.0.0.1:PORT` (loopback only) or a port number on 127.0.0.1. */
  upstream: string | number
  /** Cache behaviour. */
  config?: NginxCacheConfig
  /** How long to wait for nginx to answer. @default 10000 */
  startTimeoutMs?: number
}

/** A running nginx started by {@link startNginx}. */
export interface NginxServer {
  /** `http://127.0.0.1:PORT` */
  readonly url: string
  /** The listening port. */
  readonly port: number
  /** The temp folder (config, cache, logs). */
  readonly dir: string
  /** Stops nginx (SIGQUIT, SIGKILL after 3 s) and waits for it. Idempotent. */
  stop(): Promise<void>
  /**
   * Rewrites the config (optionally changed), reloads it with SIGHUP and waits until new workers answer; the
   * cache is kept. Keep-alive connections opened before may still reach an old worker for one request.
   */
  reload(config?: NginxCacheConfig): Promise<void>
  /** What nginx wrote on stderr (for diagnostics). */
  log(): string
}

/** Path of the nginx binary: `$NGINX_BIN`, else /usr/sbin/nginx, else `nginx` on the PATH. */
export function nginxBin(): string {
  const env = process.env.NGINX_BIN
  if (env) return env
  return existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx'
}

function parseUpstream(u: string | number): string {
  if (typeof u === 'number') {
    if (!Number.isInteger(u) || u <= 0 || u > 65535) throw new TypeError(`upstream port out of range: ${u}`)
    return `127.0.0.1:${u}`
  }
  const url = new URL(u)
  if (url.protocol !== 'http:' || !['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
    throw new TypeError(`upstream must be an http URL on loopback, got ${u}`)
  }
  const host = url.hostname === 'localhost' ? '127.0.0.1' : url.hostname
  return `${host}:${url.port || '80'}`
}

/** Builds the nginx.conf text (exported for tests and docs). */
export function nginxConfig(
  dir: string,
  port: number,
  upstream: string,
  config: NginxCacheConfig = {},
  generation = 0,
): string {
  const honour = config.honour ?? 'cdn-cache-control'
  const bypassAuth = config.bypassAuthorization ?? true
  const useStale = config.useStale ?? false
  const targeted = honour === 'cdn-cache-control'
  const pass = targeted ? `http://unix:${dir}/translate.sock:` : 'http://tk_origin'
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((t) => `  ${t}_temp_path ${dir}/tmp/${t};`)
    .join('\n')
  return `worker_processes 1;
pid ${dir}/nginx.pid;
error_log stderr warn;
events { worker_connections 512; }
http {
  access_log off;
${temp}
  proxy_cache_path ${dir}/cache levels=1:2 keys_zone=tk_edge:4m max_size=128m inactive=1h use_temp_path=off;
  upstream tk_origin { server ${upstream}; keepalive 16; }
  # proxy_cache replaces the client's conditional headers by the cache's own validators: use those when the cache
  # holds an entry (revalidation), else pass the client's own (uncacheable answers, unsafe methods)
  map $upstream_cache_etag $tk_cache_or_client_inm { "" $http_if_none_match; default $upstream_cache_etag; }
  map $upstream_cache_last_modified $tk_cache_or_client_ims { "" $http_if_modified_since; default $upstream_cache_last_modified; }
  map $request_method $tk_if_none_match { ~^(GET|HEAD)$ $tk_cache_or_client_inm; default $http_if_none_match; }
  map $request_method $tk_if_modified_since { ~^(GET|HEAD)$ $tk_cache_or_client_ims; default ""; }
  map $request_method $tk_if_match { ~^(GET|HEAD)$ ""; default $http_if_match; }
  map $request_method $tk_if_unmodified_since { ~^(GET|HEAD)$ ""; default $http_if_unmodified_since; }
  map $upstream_http_cdn_cache_control $tk_effective_cc {
    "" $upstream_http_cache_control;
    default $upstream_http_cdn_cache_control;
  }
${
  targeted
    ? `  server {
    listen unix:${dir}/translate.sock;
    location / {
      proxy_pass http://tk_origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_hide_header Cache-Control;
      add_header Cache-Control $tk_effective_cc always;
      add_header X-Origin-Cache-Control $upstream_http_cache_control always;
      # an unreachable origin stays a connection failure for the caching server (not a 502 answer)
      error_page 502 504 = @tk_drop;
    }
    location @tk_drop { return 444; }
  }
`
    : ''
}  server {
    listen 127.0.0.1:${port};
    location = /__tierkit_nginx_ready { add_header X-Tierkit-Generation ${generation}; return 204; }
    location / {
      proxy_pass ${pass};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_cache tk_edge;
      proxy_set_header If-None-Match $tk_if_none_match;
      proxy_set_header If-Modified-Since $tk_if_modified_since;
      proxy_set_header If-Match $tk_if_match;
      proxy_set_header If-Unmodified-Since $tk_if_unmodified_since;
      proxy_cache_key $request_uri;
      proxy_cache_methods GET HEAD;
      proxy_cache_convert_head on;
      proxy_cache_revalidate on;
      proxy_cache_lock off;
      proxy_cache_background_update on;
${useStale ? '      proxy_cache_use_stale updating error timeout http_500 http_502 http_503 http_504;' : '      proxy_cache_use_stale off;'}
${bypassAuth ? '      proxy_cache_bypass $http_authorization;\n      proxy_no_cache $http_authorization;' : ''}
${config.cacheSetCookie ? '      proxy_ignore_headers Set-Cookie;' : ''}
${
  targeted
    ? '      proxy_hide_header Cache-Control;\n      proxy_hide_header X-Origin-Cache-Control;\n      add_header Cache-Control $upstream_http_x_origin_cache_control always;'
    : ''
}
      add_header X-Cache-Status $upstream_cache_status always;
${config.extra ?? ''}
    }
  }
}
`
}

/** The pids of a process's children (nginx's workers, cache manager and loader), from /proc. */
function childPids(pid: number): number[] {
  const pids: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      // /proc/PID/stat: "pid (comm) state ppid ...": comm may hold spaces, so read after the last ')'
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === pid) pids.push(Number(name))
    } catch {
      // the process exited while we looked
    }
  }
  return pids
}

/** True while the process exists and is not a zombie. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false
  }
}

/** Status and config generation of the ready endpoint, on a fresh connection. */
function readyProbe(port: number): Promise<{ status: number; generation: number }> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      {
        host: '127.0.0.1',
        port,
        path: '/__tierkit_nginx_ready',
        timeout: 500,
        agent: false,
        headers: { connection: 'close' },
      },
      (res) => {
        res.resume()
        resolve({
          status: res.statusCode ?? 0,
          generation: Number(res.headers['x-tierkit-generation'] ?? -1),
        })
      },
    )
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
  })
}

/** Makes the folder nginx runs in (its worker, `nobody` when started as root, must write the cache and temp files). */
function prepareDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tierkit-nginx-'))
  mkdirSync(join(dir, 'tmp'), { recursive: true })
  mkdirSync(join(dir, 'cache'), { recursive: true })
  if (process.getuid?.() === 0) {
    chmodSync(dir, 0o755)
    chmodSync(join(dir, 'tmp'), 0o777)
    chmodSync(join(dir, 'cache'), 0o777)
  }
  return dir
}

/** A running nginx master, tracked, with the tail of its stderr. */
interface NginxProc {
  child: ChildProcess
  untrack: () => void
  stderr: () => string
}

/** Starts nginx on the config at `confPath`; resolves once it answers, or with its stderr when it did not. */
async function spawnNginx(
  dir: string,
  confPath: string,
  port: number,
  timeout: number,
): Promise<{ proc: NginxProc } | { stderr: string }> {
  let stderr = ''
  const c = spawn(nginxBin(), ['-p', dir, '-c', confPath, '-e', 'stderr', '-g', 'daemon off;'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  const untrack = trackChild(c)
  c.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-20_000)
  })
  c.on('error', (e) => {
    stderr += `\nspawn error: ${e.message}`
  })
  const deadline = Date.now() + timeout
  while (Date.now() < deadline && isRunning(c)) {
    try {
      if ((await readyProbe(port)).status === 204)
        return { proc: { child: c, untrack, stderr: () => stderr } }
    } catch {
      // not listening yet
    }
    await sleep(25)
  }
  await terminate(c, 1000)
  untrack()
  return { stderr }
}

/**
 * Sends SIGHUP and waits until a new worker answers with config `generation` AND every old worker has exited:
 * until then an old worker can still accept a new connection and answer it with the old config.
 */
async function reloadNginx(
  proc: NginxProc,
  port: number,
  generation: number,
  timeout: number,
): Promise<void> {
  const before = proc.stderr().length
  const pid = proc.child.pid
  const oldWorkers = pid === undefined ? [] : childPids(pid)
  proc.child.kill('SIGHUP')
  const deadline = Date.now() + timeout
  while (Date.now() < deadline) {
    const news = proc.stderr().slice(before)
    if (/\[emerg\]/.test(news)) throw new Error(`nginx reload failed: ${news}`)
    try {
      if ((await readyProbe(port)).generation === generation && !oldWorkers.some(alive)) return
    } catch {
      // a worker is being replaced
    }
    await sleep(25)
  }
  throw new Error(`nginx did not load the new config in ${timeout} ms: ${proc.stderr().slice(before)}`)
}

/** SIGQUIT (nginx's graceful stop), SIGKILL after 3 s; resolves once it exited. */
async function quit(child: ChildProcess): Promise<void> {
  if (!isRunning(child)) return
  const gone = exited(child)
  child.kill('SIGQUIT')
  const t = setTimeout(() => isRunning(child) && child.kill('SIGKILL'), 3000)
  await gone
  clearTimeout(t)
}

/**
 * Starts nginx as a caching proxy in front of `upstream` on a free loopback port, and waits until it answers.
 * @throws Error when nginx exits early (its stderr is in the message) or does not answer in time.
 */
export async function startNginx(options: StartNginxOptions): Promise<NginxServer> {
  const upstream = parseUpstream(options.upstream)
  let config = options.config ?? {}
  const dir = prepareDir()
  const untrackDir = trackDir(dir)
  const confPath = join(dir, 'nginx.conf')
  const timeout = options.startTimeoutMs ?? 10_000
  let proc: NginxProc | undefined
  let port = 0
  let stderr = ''
  for (let attempt = 0; attempt < 5 && proc === undefined; attempt++) {
    port = await freePort()
    writeFileSync(confPath, nginxConfig(dir, port, upstream, config))
    const r = await spawnNginx(dir, confPath, port, timeout)
    if ('proc' in r) proc = r.proc
    else if (/Address already in use/.test(r.stderr)) stderr = r.stderr
    else {
      untrackDir()
      throw new Error(`nginx did not start on 127.0.0.1:${port}: ${r.stderr.trim() || 'no output'}`)
    }
  }
  if (proc === undefined) {
    untrackDir()
    throw new Error(`nginx could not bind a free port: ${stderr.trim()}`)
  }
  const running = proc
  let stopped = false
  let generation = 0
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    dir,
    async stop() {
      if (stopped) return
      stopped = true
      await quit(running.child)
      running.untrack()
      untrackDir()
    },
    async reload(next?: NginxCacheConfig) {
      if (next !== undefined) config = next
      generation++
      writeFileSync(confPath, nginxConfig(dir, port, upstream, config, generation))
      await reloadNginx(running, port, generation, timeout)
    },
    log: () => running.stderr(),
  }
}
