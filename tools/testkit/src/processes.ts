/**
 * The process registry: every child process, temp dir and in-process server that the kit starts is
 * registered here, and is stopped:
 * - by `reapAll()`, which the vitest hooks (`./vitest.ts`) run after each test file that imports them (end of
 *   the file, also when a test failed);
 * - synchronously on `exit`, and on `SIGINT`, `SIGTERM` and `SIGHUP` of the process (unless registered with
 *   `reapOnSignal: false`: then the caller's own signal handling stops it, and `exit` still does);
 * - by the watchdog (`./watchdog.ts`), which SIGKILLs the children when the process dies without running its
 *   hooks (for example when it is itself SIGKILLed).
 * Nothing here imports vitest: benchmarks, child processes and the demo use it as well.
 */
import type { ChildProcess } from 'node:child_process'
import { rmSync } from 'node:fs'
import { tellWatchdog } from './watchdog.js'

/** Something in-process (a proxy, a server) that must be closed when the tests end. */
export interface Closable {
  /** Human-readable name for diagnostics. */
  readonly name: string
  /** Closes the resource; must not throw. */
  close(): Promise<void>
  /** Best-effort synchronous close, used from the `exit` hook. */
  closeSync?(): void
}

/** Options of {@link trackChild} and {@link trackDir}. */
export interface TrackOptions {
  /**
   * Stop it on SIGINT / SIGTERM / SIGHUP of this process. `false` leaves it to the caller's own signal handling
   * (a graceful shutdown that still needs it); `exit` and the watchdog still stop it. @default true
   */
  reapOnSignal?: boolean
}

interface Registry {
  children: Map<number, ChildProcess>
  dirs: Set<string>
  closables: Set<Closable>
  /** pids and dirs registered with `reapOnSignal: false` */
  keptOnSignal: Set<number | string>
  hooksInstalled: boolean
}

const REGISTRY_KEY = Symbol.for('tierkit.testkit.registry')

function registry(): Registry {
  const g = globalThis as unknown as Record<symbol, Registry | undefined>
  let r = g[REGISTRY_KEY]
  if (!r) {
    r = {
      children: new Map(),
      dirs: new Set(),
      closables: new Set(),
      keptOnSignal: new Set(),
      hooksInstalled: false,
    }
    g[REGISTRY_KEY] = r
  }
  return r
}

function signalNumber(sig: NodeJS.Signals): number {
  return sig === 'SIGINT' ? 2 : sig === 'SIGHUP' ? 1 : 15
}

function installHooks(): void {
  const r = registry()
  if (r.hooksInstalled) return
  r.hooksInstalled = true
  process.on('exit', () => reapSync(false))
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      // Keep the default behaviour (terminate) unless somebody else also listens for this signal.
      const alone = process.listenerCount(sig) <= 1
      reapSync(!alone)
      if (alone) process.exit(128 + signalNumber(sig))
    }
    process.on(sig, onSignal)
  }
}

/**
 * Registers a child process so that it is killed when the tests end or the process exits.
 * @returns a function that unregisters it (call it once the child has exited).
 */
export function trackChild(child: ChildProcess, options: TrackOptions = {}): () => void {
  installHooks()
  const pid = child.pid
  if (pid === undefined) return () => {}
  const r = registry()
  r.children.set(pid, child)
  if (options.reapOnSignal === false) r.keptOnSignal.add(pid)
  tellWatchdog(`add ${pid}`)
  let done = false
  return () => {
    if (done) return
    done = true
    r.children.delete(pid)
    r.keptOnSignal.delete(pid)
    tellWatchdog(`del ${pid}`)
  }
}

/** Registers a temporary directory, removed when the tests end or the process exits. */
export function trackDir(dir: string, options: TrackOptions = {}): () => void {
  installHooks()
  const r = registry()
  r.dirs.add(dir)
  if (options.reapOnSignal === false) r.keptOnSignal.add(dir)
  tellWatchdog(`dir ${dir}`)
  return () => {
    r.keptOnSignal.delete(dir)
    if (!r.dirs.delete(dir)) return
    tellWatchdog(`undir ${dir}`)
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Registers an in-process resource, closed when the tests end. */
export function trackClosable(c: Closable): () => void {
  installHooks()
  const r = registry()
  r.closables.add(c)
  return () => {
    r.closables.delete(c)
  }
}

/** Number of child processes and resources currently registered (for tests of the kit itself). */
export function trackedCount(): { children: number; closables: number; dirs: number } {
  const r = registry()
  return { children: r.children.size, closables: r.closables.size, dirs: r.dirs.size }
}

/** Kills the registered children with SIGKILL, closes the resources and removes the temp dirs, synchronously. */
function reapSync(onSignal: boolean): void {
  const r = registry()
  const kept = (what: number | string): boolean => onSignal && r.keptOnSignal.has(what)
  for (const [pid] of r.children) {
    if (kept(pid)) continue
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // already gone
    }
    r.children.delete(pid)
  }
  for (const c of r.closables) {
    try {
      c.closeSync?.()
    } catch {
      // best effort
    }
  }
  r.closables.clear()
  for (const d of r.dirs) {
    if (kept(d)) continue
    rmSync(d, { recursive: true, force: true })
    r.dirs.delete(d)
  }
}

/** Kills every registered child with SIGKILL and removes the temp dirs, synchronously. */
export function reapAllSync(): void {
  reapSync(false)
}

/**
 * Stops everything the kit started: closes in-process resources, SIGTERMs children (SIGKILL after 3 s),
 * waits for them to exit, and removes their temp dirs. Run after each test file by the vitest hooks; safe to
 * call more than once.
 */
export async function reapAll(): Promise<void> {
  const r = registry()
  const closables = [...r.closables]
  r.closables.clear()
  await Promise.all(closables.map((c) => c.close().catch(() => {})))
  const children = [...r.children.entries()]
  await Promise.all(children.map(([, child]) => terminate(child, 3000)))
  for (const [pid] of children) {
    r.children.delete(pid)
    r.keptOnSignal.delete(pid)
    tellWatchdog(`del ${pid}`)
  }
  for (const d of [...r.dirs]) {
    rmSync(d, { recursive: true, force: true })
    r.dirs.delete(d)
    r.keptOnSignal.delete(d)
    tellWatchdog(`undir ${d}`)
  }
}

/** True while the child has neither exited nor been killed by a signal. */
export function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null
}

/** Resolves once the child has exited. */
export function exited(child: ChildProcess): Promise<void> {
  if (!isRunning(child)) return Promise.resolve()
  return new Promise((resolve) => child.once('exit', () => resolve()))
}

/** Sends SIGTERM, then SIGKILL after `graceMs`, and resolves once the child has exited. */
export async function terminate(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (!isRunning(child)) return
  const gone = exited(child)
  child.kill('SIGTERM')
  const timer = setTimeout(() => {
    if (isRunning(child)) child.kill('SIGKILL')
  }, graceMs)
  await gone
  clearTimeout(timer)
}
