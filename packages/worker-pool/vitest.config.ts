import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // worker threads start slowly on a shared 2-core machine (about 0.1 s native, 0.5 s through tsx)
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // the files spawn threads of their own: running them one at a time keeps the machine usable for others
    fileParallelism: false,
  },
})
