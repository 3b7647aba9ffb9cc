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
