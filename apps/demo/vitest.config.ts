import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // real SQLite files, PostgreSQL schemas, redis-server, nginx and chromium on a shared 2-core machine
    testTimeout: 120_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
})
