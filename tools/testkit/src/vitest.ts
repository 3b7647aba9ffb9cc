/**
 * `@tierkit/testkit/vitest`: the vitest hooks. Imported by a test file (directly, or through the main entry
 * `@tierkit/testkit`), it registers an `afterAll` that stops everything the core started in that file, also when
 * a test failed. Outside a vitest suite (a benchmark, a child process) registering throws and is skipped: the
 * core's exit and signal hooks and its watchdog are the safety net there.
 */
import { afterAll } from 'vitest'
import { reapAll } from './processes.js'

/** How long the end-of-file clean-up may take (SIGTERM, then SIGKILL after 3 s, for every child). */
const REAP_TIMEOUT = 30_000

try {
  afterAll(reapAll, REAP_TIMEOUT)
} catch {
  // not inside a vitest suite
}

export { reapAll }
