import { defineConfig } from 'vitest/config'

// The torture run starts real servers and processes on a shared 2-core machine: generous limits, and nothing
// here asserts on time except the checker's own staleness bound.
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
})
