import { defineConfig } from 'vitest/config'
import { coverage } from '../../vitest.coverage.ts'

// Generous limits: CI and the developers share 2 cores, and the integration tests start real servers.
// Nothing here asserts on time; a limit only turns a hang into a failure.
export default defineConfig({
  test: {
    // coverage of src/ measured 96.4 / 94.7 / 100 / 98.44 (2026-12-07); the floor is each figure rounded down, less one point
    coverage: coverage({ statements: 95, branches: 93, functions: 99, lines: 97 }),
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
})
