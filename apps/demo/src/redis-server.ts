/**
 * The redis-server the demo starts itself when there is no `REDIS_URL`: the test kit's core (`startRedis`, its
 * process registry and watchdog, no vitest) with the demo's settings. The server never outlives the demo: it is
 * killed on exit and, when the demo dies without running its hooks (SIGKILL included), by the watchdog.
 */
import { spawnSync } from 'node:child_process'
import { redisServerBin, startRedis } from '@tierkit/testkit/core'

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

/** Path of redis-server (`$REDIS_SERVER_BIN`, else the test kit's default), or `undefined` when it does not run. */
export function findRedisServer(): string | undefined {
  const bin = redisServerBin()
  const r = spawnSync(bin, ['--version'], { stdio: 'ignore' })
  return r.status === 0 ? bin : undefined
}

/**
 * Starts `redis-server` on a free loopback port with an append-only file (`appendfsync everysec`, no RDB
 * snapshots) in a temp dir, and waits until it answers PING.
 */
export async function startLocalRedis(bin: string): Promise<LocalRedis> {
  const server = await startRedis({
    bin,
    appendonly: true,
    appendfsync: 'everysec',
    args: ['--save', '', '--protected-mode', 'yes'],
    // its own process group: a terminal's Ctrl-C (SIGINT to the whole group) must not stop Redis before the demo
    // has drained its write-behind queue, and the kit's signal hooks leave it to the demo's graceful shutdown,
    // which stops it last (exit and the watchdog still stop it if the demo dies)
    detached: true,
    reapOnSignal: false,
  })
  return {
    url: server.url,
    port: server.port,
    get running() {
      return server.running
    },
    stop: () => server.stop(),
    start: () => server.restart(),
    close: () => server.close(),
  }
}
