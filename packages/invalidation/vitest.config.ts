import { fileURLToPath } from 'node:url'
import { configDefaults, defineConfig } from 'vitest/config'
import { coverage } from '../../vitest.coverage.ts'

// TIERKIT_TEST_SECURE=1: every test file's startRedis() starts a TLS + ACL server (test/helpers/secure-testkit.ts)
const secure = process.env.TIERKIT_TEST_SECURE === '1'
// node-redis has no Cluster support in tierkit yet (E_UNSUPPORTED_CLIENT), the secure run is on a single Redis:
// those runs leave the Cluster files out
const clusterless = (process.env.TIERKIT_TEST_CLIENT ?? '').startsWith('node-redis') || secure

export default defineConfig({
  resolve: {
    alias: secure
      ? [
          {
            find: /^@tierkit\/testkit$/,
            replacement: fileURLToPath(new URL('./test/helpers/secure-testkit.ts', import.meta.url)),
          },
        ]
      : [],
  },
  test: {
    exclude: [...configDefaults.exclude, ...(clusterless ? ['**/*cluster*.integration.test.ts'] : [])],
    // coverage of src/ measured 91.76 / 82.07 / 94.3 / 93.49 (2026-12-07); the floor is each figure rounded down, less one point
    coverage: coverage({ statements: 90, branches: 81, functions: 93, lines: 92 }),
    // integration tests start real servers and child processes on a shared 2-core machine
    testTimeout: 90_000,
    hookTimeout: 60_000,
  },
})
