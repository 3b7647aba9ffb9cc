/**
 * @tierkit/testkit: real servers on loopback for integration tests (never published).
 *
 * The main entry is the core (`./core.ts`: the servers, the process registry, the watchdog; no vitest import)
 * plus the vitest hooks (`./vitest.ts`): everything started is stopped at the end of each vitest test file (also
 * when a test fails), and synchronously when the process exits or gets SIGINT/SIGTERM/SIGHUP; a watchdog kills
 * leftovers when the test process dies without running its hooks. Code that runs outside vitest (the demo, a
 * child process) imports `@tierkit/testkit/core`.
 */
import './vitest.js'

export * from './core.js'
