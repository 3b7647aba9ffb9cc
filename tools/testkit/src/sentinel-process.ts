/** One `redis-sentinel` process (its config, spawn and PING wait) and the reply helpers of {@link startSentinel}. */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort } from './ports.js'
import { isRunning, terminate, trackChild } from './processes.js'
import { portTaken } from './redis.js'
import { type RespValue, redisCommand } from './redis-resp.js'

/** Path of the redis-sentinel binary: `$REDIS_SENTINEL_BIN`, else /usr/bin/redis-sentinel, else on the PATH. */
export function redisSentinelBin(): string {
  const env = process.env.REDIS_SENTINEL_BIN
  if (env) return env
  return existsSync('/usr/bin/redis-sentinel') ? '/usr/bin/redis-sentinel' : 'redis-sentinel'
}

export function positiveInt(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new TypeError(`startSentinel: ${name} must be a positive integer`)
  }
  return v
}

/** A field of an INFO reply. */
export function infoField(info: RespValue, field: string): string | undefined {
  if (typeof info !== 'string') return undefined
  const m = info.match(new RegExp(`^${field}:(.*)$`, 'm'))
  return m?.[1]?.trim()
}

/** Flattened [k, v, k, v] reply → object (SENTINEL REPLICAS / SENTINELS rows). */
export function row(v: RespValue): Record<string, string> {
  const out: Record<string, string> = {}
  if (!Array.isArray(v)) return out
  for (let i = 0; i + 1 < v.length; i += 2) out[String(v[i])] = String(v[i + 1])
  return out
}

/** A running redis-sentinel. */
export interface SentinelProc {
  port: number
  dir: string
  child: ChildProcess
}

/** Writes a sentinel.conf monitoring `name` and starts redis-sentinel on a free port; resolves once it answers PING. */
export async function spawnSentinel(
  dir: string,
  name: string,
  primaryPort: number,
  quorum: number,
  downAfterMs: number,
  failoverTimeoutMs: number,
): Promise<SentinelProc> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort()
    const conf = join(dir, 'sentinel.conf')
    writeFileSync(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        'daemonize no',
        `dir ${dir}`,
        `logfile ${join(dir, 'sentinel.log')}`,
        `sentinel monitor ${name} 127.0.0.1 ${primaryPort} ${quorum}`,
        `sentinel down-after-milliseconds ${name} ${downAfterMs}`,
        `sentinel failover-timeout ${name} ${failoverTimeoutMs}`,
        `sentinel parallel-syncs ${name} 1`,
        '',
      ].join('\n'),
    )
    const child = spawn(redisSentinelBin(), [conf], { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000)
    })
    child.on('error', (e) => {
      stderr += `\nspawn error: ${e.message}`
    })
    const untrack = trackChild(child)
    child.once('exit', untrack)
    const deadline = Date.now() + 10_000
    let up = false
    while (Date.now() < deadline && isRunning(child)) {
      const r = await redisCommand({ host: '127.0.0.1', port }, ['PING'], { timeoutMs: 500 }).catch(
        () => null,
      )
      if (r === 'PONG') {
        up = true
        break
      }
      await sleep(25)
    }
    if (up) return { port, dir, child }
    await terminate(child, 1000)
    const logPath = join(dir, 'sentinel.log')
    const log = existsSync(logPath) ? readFileSync(logPath, 'utf8').split('\n').slice(-8).join('\n') : ''
    const msg = `redis-sentinel did not start on 127.0.0.1:${port}: ${stderr}\n${log}`
    if (attempt < 4 && portTaken(msg)) continue
    throw new Error(msg)
  }
}
