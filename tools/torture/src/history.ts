/** Recording the history: one JSON line per event, per process, merged by the orchestrator. */
import { appendFileSync, existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import type { HistoryEvent } from './types.js'

/**
 * Wall-clock time in fractional ms, comparable across the processes of one machine (every process reads the
 * same clock once at its start, `performance.timeOrigin`, then a monotonic one).
 */
export function now(): number {
  return performance.timeOrigin + performance.now()
}

/** Appends events to a JSON-lines file: buffered, flushed every 50 ms and synchronously at exit. */
export class HistoryWriter {
  private buf: string[] = []
  private readonly timer: NodeJS.Timeout

  constructor(readonly file: string) {
    this.timer = setInterval(() => this.flush(), 50)
    this.timer.unref()
    process.on('exit', () => this.flush())
  }

  /** Queues one event. */
  add(e: HistoryEvent): void {
    this.buf.push(JSON.stringify(e))
  }

  /** Queues one event and writes the buffer at once (for events that must survive a SIGKILL soon after). */
  addNow(e: HistoryEvent): void {
    this.add(e)
    this.flush()
  }

  /** Writes what is buffered. */
  flush(): void {
    if (this.buf.length === 0) return
    const text = `${this.buf.join('\n')}\n`
    this.buf = []
    appendFileSync(this.file, text)
  }
}

/** Reads every `*.jsonl` file of `dir` (a torn last line of a killed process is skipped). */
export function readHistory(dir: string): HistoryEvent[] {
  const out: HistoryEvent[] = []
  if (!existsSync(dir)) return out
  for (const f of readdirSync(dir).sort()) {
    if (!f.endsWith('.jsonl')) continue
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
      if (line.length === 0) continue
      try {
        out.push(JSON.parse(line) as HistoryEvent)
      } catch {
        // a line cut short by SIGKILL
      }
    }
  }
  return out
}

/** Shortens an error to a code and a message for the history. */
export function errorInfo(e: unknown): { code: string; msg: string } {
  const err = e as { code?: unknown; name?: unknown; message?: unknown; cause?: unknown }
  const code = typeof err?.code === 'string' ? err.code : typeof err?.name === 'string' ? err.name : 'Error'
  const cause = err?.cause as { message?: unknown } | undefined
  const msg = `${String(err?.message ?? e)}${cause?.message ? ` (cause: ${String(cause.message)})` : ''}`
  return { code, msg: msg.slice(0, 300) }
}

/** True for an error that is a refusal of the input (validation), not a failure to reach Redis or the database. */
export function isRefusal(e: unknown): boolean {
  const err = e as { code?: unknown; name?: unknown }
  if (e instanceof TypeError && err.code === undefined) return true
  return (
    err?.code === 'E_INVALID_ARGUMENT' || err?.code === 'E_UNSERIALIZABLE' || err?.code === 'E_UNKNOWN_TAG'
  )
}
