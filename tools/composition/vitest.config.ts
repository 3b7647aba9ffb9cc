import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // real redis-server, PostgreSQL, worker threads and tsc on a shared 2-core machine
    testTimeout: 120_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
})
