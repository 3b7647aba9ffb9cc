import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it, vi } from 'vitest'
import { delayProxy, reapAll, redisCommand, startRedis, trackedCount } from '../src/index.js'
import { tryConnect, waitDead } from './helpers.js'

const here = dirname(fileURLToPath(import.meta.url))
const fixture = join(here, 'fixtures', 'start-and-die.ts')

function env(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VITEST')) e[k] = v
  return e
}

/** Runs the fixture, waits for the line with the redis pid, then applies `kill` to it. */
async function runFixture(
  how: 'exit' | 'throw' | 'wait' | 'keep',
  kill?: NodeJS.Signals,
): Promise<{
  pid: number
  port: number
  dir: string
  code: number | null
  signal: string | null
  out: string
}> {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, how], {
    cwd: join(here, '..'),
    env: env(),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString()
  })
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      const nl = out.indexOf('\n')
      if (nl >= 0) resolve(out.slice(0, nl))
    })
    child.once('exit', () => reject(new Error(`fixture exited before printing: ${err}`)))
  })
  const info = JSON.parse(line) as { pid: number; port: number; dir: string }
  if (kill) child.kill(kill)
  const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve([child.exitCode, child.signalCode])
    else child.once('exit', (c, s) => resolve([c, s]))
  })
  return { ...info, code, signal, out }
}

describe('everything started is stopped', () => {
  it('reapAll() (the per-file afterAll hook) stops servers and proxies started in this process', async () => {
    const redis = await startRedis()
    const proxy = await delayProxy({ host: redis.host, port: redis.port })
    const pid = redis.pid!
    expect(trackedCount().children).toBeGreaterThanOrEqual(1)
    await reapAll()
    expect(await waitDead(pid)).toBe(true)
    expect(await tryConnect(proxy.port)).toBe('ECONNREFUSED')
    expect(existsSync(redis.dir)).toBe(false)
    expect(trackedCount()).toEqual({ children: 0, closables: 0, dirs: 0 })
    await expect(redisCommand(redis, ['PING'], { timeoutMs: 300 })).rejects.toThrow()
  })

  it.each([
    ['process.exit()', 'exit', undefined],
    ['an uncaught error', 'throw', undefined],
    ['SIGTERM', 'wait', 'SIGTERM'],
    ['SIGINT', 'wait', 'SIGINT'],
  ] as const)(
    'a child redis-server dies with its test process on %s',
    async (_name, how, signal) => {
      const r = await runFixture(how, signal)
      expect(await waitDead(r.pid)).toBe(true)
      expect(await tryConnect(r.port)).toBe('ECONNREFUSED')
      expect(existsSync(r.dir)).toBe(false)
      if (signal) expect(r.code).toBe(signal === 'SIGTERM' ? 143 : 130)
    },
    20_000,
  )

  it('reapOnSignal: false leaves the server to the process own SIGTERM handler; exit still stops it', async () => {
    const r = await runFixture('keep', 'SIGTERM')
    expect(r.code).toBe(0)
    expect(JSON.parse(r.out.trim().split('\n')[1] ?? '{}')).toEqual({ atSignal: 'PONG' })
    expect(await waitDead(r.pid)).toBe(true)
    expect(await tryConnect(r.port)).toBe('ECONNREFUSED')
    expect(existsSync(r.dir)).toBe(false)
  }, 20_000)

  it('the watchdog kills the redis-server when the test process is SIGKILLed (no hook can run)', async () => {
    const r = await runFixture('wait', 'SIGKILL')
    expect(r.signal).toBe('SIGKILL')
    expect(await waitDead(r.pid)).toBe(true)
    expect(await tryConnect(r.port)).toBe('ECONNREFUSED')
    await vi.waitFor(() => expect(existsSync(r.dir)).toBe(false), { timeout: 2000, interval: 20 })
  }, 20_000)
})
