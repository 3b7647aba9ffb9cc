/** `startRedis`: a real redis-server on a free loopback port, with its own temporary data dir. */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort } from './ports.js'
import { exited, isRunning, terminate, trackChild, trackDir } from './processes.js'
import { RespError, redisCommand } from './redis-resp.js'

/** Path of the redis-server binary: `$REDIS_SERVER_BIN`, else /usr/bin/redis-server, else `redis-server` on the PATH. */
export function redisServerBin(): string {
  const env = process.env.REDIS_SERVER_BIN
  if (env) return env
  return existsSync('/usr/bin/redis-server') ? '/usr/bin/redis-server' : 'redis-server'
}

/** Options of {@link startRedis}. */
export interface StartRedisOptions {
  /** Turn on the append-only file (then RDB snapshots keep Redis' defaults too). @default false */
  appendonly?: boolean
  /** fsync policy of the append-only file. @default 'everysec' */
  appendfsync?: 'always' | 'everysec' | 'no'
  /** Require this password (`requirepass`); it is put in `url`. */
  password?: string
  /** Extra redis-server arguments, e.g. `['--maxmemory', '10mb']`. */
  args?: string[]
  /** How long to wait for PING to be answered. @default 10000 */
  startTimeoutMs?: number
  /** The redis-server binary. @default {@link redisServerBin}() */
  bin?: string
  /**
   * Start the server in its own process group, so that a terminal's Ctrl-C (SIGINT to the foreground group)
   * does not reach it: the caller stops it. @default false
   */
  detached?: boolean
  /**
   * Stop the server on SIGINT / SIGTERM / SIGHUP of this process. `false` leaves it to the caller's graceful
   * shutdown (which may still need it); it is still killed on `exit` and by the watchdog. @default true
   */
  reapOnSignal?: boolean
}

/** A running (or stopped) redis-server started by {@link startRedis}. */
export interface RedisServer {
  /** `redis://[:password@]127.0.0.1:PORT`. */
  readonly url: string
  /** Always `127.0.0.1`. */
  readonly host: string
  /** The port; kept across `restart()`. */
  readonly port: number
  /** The data dir (AOF, RDB, logs); kept across `restart()`, removed when the tests end. */
  readonly dir: string
  /** The password, when one was set. */
  readonly password: string | undefined
  /** pid of the current process, undefined while stopped. */
  readonly pid: number | undefined
  /** True while the process runs. */
  readonly running: boolean
  /** Stops the server gracefully (SIGTERM; SIGKILL after 5 s) and waits for it to exit. Idempotent. */
  stop(): Promise<void>
  /** Kills the server with SIGKILL (no shutdown save) and waits for it to exit. */
  kill(): Promise<void>
  /** Stops the server if it runs, then starts it again on the same port and data dir and waits until it answers PING. */
  restart(): Promise<void>
  /** The tail of the server's log file (for diagnostics). */
  log(): string
  /** Stops the server (as `stop()`) and removes its data dir; nothing is left to reap. Idempotent. */
  close(): Promise<void>
}

/** Waits until `host:port` answers PING, or throws when `child` exits or the time runs out. */
export async function waitForPing(
  host: string,
  port: number,
  options: { password?: string; child?: ChildProcess; timeoutMs?: number; describe?: () => string } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000)
  let last: unknown
  while (Date.now() < deadline) {
    if (options.child && !isRunning(options.child)) {
      throw new Error(
        `redis-server on ${host}:${port} exited before answering PING${options.describe?.() ?? ''}`,
      )
    }
    try {
      const reply = await redisCommand({ host, port }, ['PING'], {
        timeoutMs: 500,
        ...(options.password === undefined ? {} : { password: options.password }),
      })
      if (reply === 'PONG') return
      last = reply instanceof RespError ? reply : new Error(`PING answered ${JSON.stringify(reply)}`)
      // LOADING: the server is reading its AOF/RDB; keep waiting.
    } catch (e) {
      last = e
    }
    await sleep(25)
  }
  throw new Error(
    `redis-server on ${host}:${port} did not answer PING in time: ${String(last)}${options.describe?.() ?? ''}`,
  )
}

/** How {@link spawnRedis} starts the child. */
export interface SpawnRedisOptions {
  password?: string
  timeoutMs?: number
  bin?: string
  detached?: boolean
  reapOnSignal?: boolean
}

/** Starts a redis-server child and waits until it answers PING. Shared by startRedis, the cluster and sentinel. */
export async function spawnRedis(
  port: number,
  dir: string,
  args: string[],
  options: SpawnRedisOptions,
): Promise<ChildProcess> {
  const child = spawn(
    options.bin ?? redisServerBin(),
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--daemonize',
      'no',
      '--logfile',
      join(dir, 'redis.log'),
      ...args,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], detached: options.detached === true },
  )
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  const spawnError = new Promise<never>((_, reject) => child.once('error', reject))
  spawnError.catch(() => {})
  const untrack = trackChild(child, { reapOnSignal: options.reapOnSignal !== false })
  child.once('exit', untrack)
  const describe = (): string => {
    const logPath = join(dir, 'redis.log')
    const log = existsSync(logPath) ? readFileSync(logPath, 'utf8').split('\n').slice(-8).join('\n') : ''
    return `\n--- stderr ---\n${stderr}\n--- log ---\n${log}`
  }
  try {
    await Promise.race([
      waitForPing('127.0.0.1', port, {
        child,
        describe,
        ...(options.password === undefined ? {} : { password: options.password }),
        ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      }),
      spawnError,
    ])
  } catch (e) {
    await terminate(child, 1000)
    throw e
  }
  return child
}

/** True when a failed start was caused by the port being taken (so a new port may be tried). */
export function portTaken(e: unknown): boolean {
  return /Address already in use|EADDRINUSE/i.test(String((e as Error)?.message ?? e))
}

/** The redis-server arguments of {@link startRedis}'s options (before `args`, which come last and win). */
function serverArgs(options: StartRedisOptions): string[] {
  const { appendonly = false, appendfsync = 'everysec', password, args = [] } = options
  return [
    '--appendonly',
    appendonly ? 'yes' : 'no',
    '--appendfsync',
    appendfsync,
    ...(appendonly ? [] : ['--save', '']),
    ...(password === undefined ? [] : ['--requirepass', password]),
    ...args,
  ]
}

/** Spawns on a free port, trying another one (up to 5 in all) when the port was taken meanwhile. */
async function spawnOnFreePort(
  dir: string,
  args: string[],
  options: SpawnRedisOptions,
): Promise<{ port: number; child: ChildProcess }> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort()
    try {
      return { port, child: await spawnRedis(port, dir, args, options) }
    } catch (e) {
      if (attempt < 4 && portTaken(e)) continue
      throw e
    }
  }
}

/**
 * Starts a real `redis-server` bound to 127.0.0.1 on a free port, in its own temporary data dir
 * (`--save ""` unless `appendonly`), and resolves once it answers PING. It is stopped when the test file
 * ends (also on failure) or the process exits.
 * @throws Error when the server does not start (the message holds its log).
 * @example
 * const redis = await startRedis({ appendonly: true, appendfsync: 'always' })
 * const client = new Redis(redis.url)
 */
export async function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  const { password, startTimeoutMs = 10_000, bin, detached, reapOnSignal } = options
  if (
    password !== undefined &&
    (typeof password !== 'string' || password.length === 0 || /\s/.test(password))
  ) {
    throw new TypeError('startRedis: password must be a non-empty string without whitespace')
  }
  const dir = mkdtempSync(join(tmpdir(), 'tierkit-redis-'))
  const removeDir = trackDir(dir, { reapOnSignal: reapOnSignal !== false })
  const args = serverArgs(options)
  const spawnOpts: SpawnRedisOptions = {
    timeoutMs: startTimeoutMs,
    ...(password === undefined ? {} : { password }),
    ...(bin === undefined ? {} : { bin }),
    ...(detached === undefined ? {} : { detached }),
    ...(reapOnSignal === undefined ? {} : { reapOnSignal }),
  }
  const { port, child } = await spawnOnFreePort(dir, args, spawnOpts)
  const host = '127.0.0.1'
  const url = `redis://${password === undefined ? '' : `:${encodeURIComponent(password)}@`}${host}:${port}`
  let current: ChildProcess | undefined = child
  const stop = async (): Promise<void> => {
    if (current) await terminate(current)
  }
  return {
    url,
    host,
    port,
    dir,
    password,
    get pid() {
      return current && isRunning(current) ? current.pid : undefined
    },
    get running() {
      return current !== undefined && isRunning(current)
    },
    stop,
    async kill() {
      if (!current || !isRunning(current)) return
      const gone = exited(current)
      current.kill('SIGKILL')
      await gone
    },
    async restart() {
      await stop()
      current = await spawnRedis(port, dir, args, spawnOpts)
    },
    log() {
      const p = join(dir, 'redis.log')
      return existsSync(p) ? readFileSync(p, 'utf8').split('\n').slice(-20).join('\n') : ''
    },
    async close() {
      await stop()
      removeDir()
    },
  }
}
