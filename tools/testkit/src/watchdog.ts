/**
 * The watchdog: a tiny POSIX sh process, one per parent process, that outlives its parent by a moment. It
 * remembers the pids and temp dirs it is told about and, when its stdin closes (the parent is gone, however it
 * died: even SIGKILL closes the pipe), SIGKILLs what is left and removes the dirs. Started on first use.
 */
import { type ChildProcess, spawn } from 'node:child_process'

// `add PID` / `del PID` and `dir PATH` / `undir PATH`, one a line; on EOF it kills and removes what is left.
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

const WATCHDOG_KEY = Symbol.for('tierkit.testkit.watchdog')

function watchdog(): ChildProcess {
  const g = globalThis as unknown as Record<symbol, ChildProcess | undefined>
  let w = g[WATCHDOG_KEY]
  if (!w) {
    // its own process group (a terminal's Ctrl-C does not end it), and it keeps no event loop alive
    w = spawn('/bin/sh', ['-c', WATCHDOG_SCRIPT, 'tierkit-watchdog'], {
      stdio: ['pipe', 'ignore', 'ignore'],
      detached: true,
    })
    w.on('error', () => {})
    w.stdin?.on('error', () => {})
    w.unref()
    ;(w.stdin as unknown as { unref?: () => void } | null)?.unref?.()
    g[WATCHDOG_KEY] = w
  }
  return w
}

/** Tells the watchdog one line: `add PID`, `del PID`, `dir PATH` or `undir PATH`. */
export function tellWatchdog(line: `${'add' | 'del' | 'dir' | 'undir'} ${string}`): void {
  try {
    watchdog().stdin?.write(`${line}\n`)
  } catch {
    // the watchdog is gone: the exit hooks still cover a normal exit
  }
}
