/**
 * Process registry, free ports and clean-up hooks shared by everything the test kit starts.
 *
 * Every child process and every in-process server that the kit starts is registered here, and is stopped:
 * - by the `afterAll` hook that the kit registers in each vitest test file that imports it (end of the file,
 *   also when a test failed);
 * - synchronously on `exit`, `SIGINT`, `SIGTERM` and `SIGHUP` of the test process;
 * - by a tiny watchdog shell process that SIGKILLs the children when the test process dies without running
 *   its hooks (for example when it is itself SIGKILLed).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { rmSync } from 'node:fs'
import * as net from 'node:net'
import { afterAll } from 'vitest'

/** Something in-process (a proxy, a server) that must be closed when the tests end. */
export interface Closable {
  /** Human-readable name for diagnostics. */
  readonly name: string
  /** Closes the resource; must not throw. */
  close(): Promise<void>
  /** Best-effort synchronous close, used from the `exit` hook. */
  closeSync?(): void
}

interface Registry {
  children: Map<number, ChildProcess>
  dirs: Set<string>
  closables: Set<Closable>
  handedPorts: Set<number>
  watchdog: ChildProcess | undefined
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
      handedPorts: new Set(),
      watchdog: undefined,
      hooksInstalled: false,
    }
    g[REGISTRY_KEY] = r
  }
  return r
}

// A POSIX sh loop: remembers pids and dirs, and when its stdin closes (the test process is gone, however it
// died) kills what is left and removes the temp dirs.
const WATCHDOG_SCRIPT = `
pids=" "; dirs=" "
while read -r op arg; do
  case "$op" in
    add) pids="$pids$arg " ;;
    del) pids=$(printf '%s' "$pids" | sed "s| $arg | |") ;;
    dir) dirs="$dirs$arg " ;;
    undir) dirs=$(printf '%s' "$dirs" | sed "s| $arg | |") ;;
  esac
done
for p in $pids; do kill -9 "$p" 2>/dev/null; done
sleep 0.2
for d in $dirs; do rm -rf "$d"; done
`

function tellWatchdog(line: string): void {
  const r = registry()
  if (!r.watchdog) {
    const w = spawn('/bin/sh', ['-c', WATCHDOG_SCRIPT], {
      stdio: ['pipe', 'ignore', 'ignore'],
      detached: true,
    })
    w.on('error', () => {})
    w.stdin?.on('error', () => {})
    w.unref()
    ;(w.stdin as unknown as { unref?: () => void } | null)?.unref?.()
    r.watchdog = w
  }
  try {
    r.watchdog.stdin?.write(`${line}\n`)
  } catch {
    // the watchdog is gone: the exit hooks still cover a normal exit
  }
}

function signalNumber(sig: NodeJS.Signals): number {
  return sig === 'SIGINT' ? 2 : sig === 'SIGHUP' ? 1 : 15
}

function installHooks(): void {
  const r = registry()
  if (r.hooksInstalled) return
  r.hooksInstalled = true
  process.on('exit', reapAllSync)
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      reapAllSync()
      // Keep the default behaviour (terminate) unless somebody else also listens for this signal.
      if (process.listenerCount(sig) <= 1) process.exit(128 + signalNumber(sig))
    }
    process.on(sig, onSignal)
  }
}

/**
 * Registers a child process so that it is killed when the tests end or the process exits.
 * @returns a function that unregisters it (call it once the child has exited).
 */
export function trackChild(child: ChildProcess): () => void {
  installHooks()
  const pid = child.pid
  if (pid === undefined) return () => {}
  const r = registry()
  r.children.set(pid, child)
  tellWatchdog(`add ${pid}`)
  let done = false
  return () => {
    if (done) return
    done = true
    r.children.delete(pid)
    tellWatchdog(`del ${pid}`)
  }
}

/** Registers a temporary directory, removed when the tests end or the process exits. */
export function trackDir(dir: string): () => void {
  installHooks()
  const r = registry()
  r.dirs.add(dir)
  tellWatchdog(`dir ${dir}`)
  return () => {
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

/** Kills every registered child with SIGKILL and removes the temp dirs, synchronously. */
export function reapAllSync(): void {
  const r = registry()
  for (const [pid] of r.children) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
  r.children.clear()
  for (const c of r.closables) {
    try {
      c.closeSync?.()
    } catch {
      // best effort
    }
  }
  r.closables.clear()
  for (const d of r.dirs) rmSync(d, { recursive: true, force: true })
  r.dirs.clear()
}

/**
 * Stops everything the kit started: closes in-process resources, SIGTERMs children (SIGKILL after 3 s),
 * waits for them to exit, and removes their temp dirs. Registered as a vitest `afterAll` in every test file
 * that imports the kit; safe to call more than once.
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
    tellWatchdog(`del ${pid}`)
  }
  for (const d of [...r.dirs]) {
    rmSync(d, { recursive: true, force: true })
    r.dirs.delete(d)
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

/**
 * Returns a TCP port that is free on `host` right now (the kernel picks it), never the same one twice in
 * this process. Another process can still take it before you bind it: callers retry on EADDRINUSE.
 * @param host loopback address to probe. @default '127.0.0.1'
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const r = registry()
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = net.createServer()
      srv.unref()
      srv.once('error', reject)
      srv.listen({ port: 0, host, exclusive: true }, () => {
        const addr = srv.address()
        const p = typeof addr === 'object' && addr ? addr.port : 0
        srv.close(() => resolve(p))
      })
    })
    if (port > 0 && !r.handedPorts.has(port)) {
      r.handedPorts.add(port)
      return port
    }
  }
  throw new Error('freePort: could not find a free port')
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

// Register the per-file teardown when loaded inside a vitest test file; outside vitest (benchmarks, child
// processes) this throws and the process hooks above are the safety net.
try {
  afterAll(reapAll, 30_000)
} catch {
  // not inside a vitest suite
}
