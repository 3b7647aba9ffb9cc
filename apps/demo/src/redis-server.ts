import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'

/** A redis-server the demo started itself (no `REDIS_URL`). */
export interface LocalRedis {
  /** `redis://127.0.0.1:PORT` */
  readonly url: string
  /** The port (kept across `restart`). */
  readonly port: number
  /** Whether the process runs. */
  readonly running: boolean
  /** Stops it (SIGTERM) and waits for the exit. */
  stop(): Promise<void>
  /** Starts it again on the same port and data dir. */
  start(): Promise<void>
  /** Stops it and removes its data dir. */
  close(): Promise<void>
}

/** Path of redis-server on the PATH (or `$REDIS_SERVER_BIN`), or `undefined` when there is none. */
export function findRedisServer(): string | undefined {
  const bin = process.env.REDIS_SERVER_BIN || 'redis-server'
  const r = spawnSync(bin, ['--version'], { stdio: 'ignore' })
  return r.status === 0 ? bin : undefined
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

async function waitForPing(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 10_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode}`)
    const c = new Redis({
      host: '127.0.0.1',
      port,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    })
    c.on('error', () => {})
    try {
      await c.connect()
      if ((await c.ping()) === 'PONG') return
    } catch {
      // not yet
    } finally {
      c.disconnect()
    }
    if (Date.now() > deadline) throw new Error('redis-server did not answer PING within 10 s')
    await new Promise((r) => setTimeout(r, 50))
  }
}

// A POSIX sh watchdog: it remembers the redis-server's pid (`pid N` lines, one per start) and, when its stdin
// closes (the demo is gone, however it died: even SIGKILL closes the pipe), SIGKILLs the server and removes the data
// dir. `done` (a clean close) makes it forget the pid first.
const WATCHDOG_SCRIPT = `
p=""
while read -r op arg; do
  case "$op" in
    pid) p="$arg" ;;
    done) p="" ;;
  esac
done
if [ -n "$p" ]; then kill -9 "$p" 2>/dev/null; sleep 0.2; fi
rm -rf "$1"
`

/**
 * Starts `redis-server` on a free loopback port with an append-only file (`appendfsync everysec`) in a temp dir.
 * The child is killed when this process exits, and by a watchdog process when this one is killed (SIGKILL
 * included): the server never outlives the demo.
 */
export async function startLocalRedis(bin: string): Promise<LocalRedis> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'tierkit-demo-redis-'))
  let child: ChildProcess | undefined
  const kill = (): void => {
    child?.kill('SIGKILL')
  }
  process.on('exit', kill)
  // own process group (a terminal's Ctrl-C must not end it before the graceful shutdown), not keeping us alive
  const watchdog = spawn('/bin/sh', ['-c', WATCHDOG_SCRIPT, 'tierkit-redis-watchdog', dir], {
    stdio: ['pipe', 'ignore', 'ignore'],
    detached: true,
  })
  watchdog.on('error', () => {})
  watchdog.stdin!.on('error', () => {})
  watchdog.unref()
  // a child's stdin pipe is a net.Socket: unref'd, it does not keep this process alive either
  if (watchdog.stdin instanceof Socket) watchdog.stdin.unref()
  const tell = (line: string): void => {
    if (!watchdog.stdin!.destroyed) watchdog.stdin!.write(`${line}\n`)
  }
  const start = async (): Promise<void> => {
    const c = spawn(
      bin,
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--appendonly',
        'yes',
        '--save',
        '',
        '--protected-mode',
        'yes',
      ],
      // its own process group: a terminal's Ctrl-C (SIGINT to the whole group) must not stop Redis before the demo
      // has drained its write-behind queue; the demo stops it last (and the watchdog if the demo dies)
      { stdio: 'ignore', detached: true },
    )
    child = c
    c.on('error', () => {})
    if (c.pid !== undefined) tell(`pid ${c.pid}`)
    await waitForPing(port, c)
  }
  const stop = async (): Promise<void> => {
    const c = child
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return
    const done = new Promise<void>((r) => c.once('exit', () => r()))
    c.kill('SIGTERM')
    const timer = setTimeout(() => c.kill('SIGKILL'), 5000)
    await done
    clearTimeout(timer)
  }
  await start()
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null
    },
    stop,
    start,
    async close() {
      await stop()
      process.off('exit', kill)
      tell('done')
      watchdog.stdin!.end()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
