import { defineConfig } from 'vitest/config'

// Generous limits: CI and the developers share 2 cores, and the integration tests start real servers.
// Nothing here asserts on time; a limit only turns a hang into a failure.
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
})
