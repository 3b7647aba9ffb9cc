/** The CLI's process lifecycle: graceful stop on SIGTERM / SIGINT, and the exit code after it. */

/** Calls `stop` with the signal's name on SIGTERM and SIGINT. */
export function onSignals(stop: (why: string) => void): void {
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}

/** Runs `close`, then exits with `code` (1 when it failed). */
export function exitAfter(close: () => Promise<void>, code = 0): void {
  close().then(
    () => process.exit(code),
    (e: unknown) => {
      console.error(e)
      process.exit(1)
    },
  )
}

/** Something that stops (a demo, the CDN). */
interface Closable {
  close(): Promise<void>
}

/**
 * Stops a demo and the CDN in front of it, the demo first: a request still in flight there (a PUT whose purge
 * re-fetches through nginx) finishes while nginx is up, and nginx stops once nothing needs it. Stopping nginx
 * first failed such a purge with "socket hang up" (its keep-alive re-fetch cut) and logged a 500 after the load.
 */
export async function closeBehindCdn(demo: Closable, cdn: Closable | undefined): Promise<void> {
  try {
    await demo.close()
  } finally {
    await cdn?.close()
  }
}
