import { type ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { trackChild } from '@tierkit/testkit'

/** A child process driven by request/response messages over IPC. */
export interface Child {
  readonly proc: ChildProcess
  call<R = unknown>(op: string, args?: Record<string, unknown>): Promise<R>
  onEvent(fn: (m: Record<string, unknown>) => void): void
  exited: Promise<number | null>
}

/** Forks `test/fixtures/<name>.ts` under tsx and waits for its `{ ready: true }` message. */
export async function spawnChild(name: string, env: Record<string, string>): Promise<Child> {
  const file = fileURLToPath(new URL(`../fixtures/${name}.ts`, import.meta.url))
  const proc = fork(file, [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const untrack = trackChild(proc)
  const exited = new Promise<number | null>((r) =>
    proc.once('exit', (code) => {
      untrack()
      r(code)
    }),
  )
  let seq = 0
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  const listeners: Array<(m: Record<string, unknown>) => void> = []
  let resolveReady!: () => void
  const ready = new Promise<void>((r) => {
    resolveReady = r
  })
  proc.on('message', (m: Record<string, unknown>) => {
    if (m.ready) return resolveReady()
    if (typeof m.id === 'number') {
      const p = pending.get(m.id)
      pending.delete(m.id)
      if (m.error !== undefined) p?.reject(new Error(String(m.error)))
      else p?.resolve(m.result)
      return
    }
    for (const l of listeners) l(m)
  })
  void exited.then((code) => {
    for (const p of pending.values()) p.reject(new Error(`child ${name} exited with ${code}`))
    pending.clear()
  })
  await Promise.race([
    ready,
    exited.then((code) => {
      throw new Error(`child ${name} exited with ${code} before it was ready`)
    }),
  ])
  return {
    proc,
    exited,
    onEvent: (fn) => listeners.push(fn),
    call<R>(op: string, args: Record<string, unknown> = {}): Promise<R> {
      const id = ++seq
      return new Promise<R>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
        proc.send({ id, op, ...args })
      })
    },
  }
}
