import { defineConfig } from 'vitest/config'
import { coverage } from '../../vitest.coverage.ts'

// Generous limits: CI and the developers share 2 cores, and the integration tests start real servers.
// Nothing here asserts on time; a limit only turns a hang into a failure.
export default defineConfig({
  test: {
    // coverage of src/ measured 97.57 / 93.03 / 96.92 / 99.13 (2026-12-07); the floor is each figure rounded down, less one point
    coverage: coverage({ statements: 96, branches: 92, functions: 95, lines: 98 }),
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
})
