import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    // integration tests start real servers and child processes on a shared 2-core machine
    testTimeout: 90_000,
    hookTimeout: 60_000,
  },
})
