import { existsSync, readdirSync, readFileSync } from 'node:fs'
import * as net from 'node:net'
import { expect, vi } from 'vitest'

/**
 * True when every thread of the pid is gone or a zombie (exited, not yet reaped: PID 1 of a container may
 * never reap). All threads are checked: the leader shows `Z` while the other threads are still exiting.
 */
export function pidDead(pid: number): boolean {
  const tasks = `/proc/${pid}/task`
  if (!existsSync(tasks)) return true
  try {
    return readdirSync(tasks).every((tid) => {
      const state = readFileSync(`${tasks}/${tid}/stat`, 'utf8').split(') ')[1]?.[0]
      return state === 'Z' || state === 'X'
    })
  } catch {
    return true
  }
}

/** Polls until the pid is dead; returns whether it died within `ms`. */
export function waitDead(pid: number, ms = 5000): Promise<boolean> {
  return vi
    .waitFor(() => expect(pidDead(pid)).toBe(true), { timeout: ms, interval: 25 })
    .then(
      () => true,
      () => false,
    )
}

/** Tries a TCP connect; resolves with the error code or 'connected'. */
export function tryConnect(port: number, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port })
    s.once('connect', () => {
      s.destroy()
      resolve('connected')
    })
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? String(e)))
  })
}
