import { configDefaults, defineConfig } from 'vitest/config'
import { coverage } from '../../vitest.coverage.ts'

// node-redis has no Cluster support in tierkit yet (E_UNSUPPORTED_CLIENT): its runs leave the Cluster files out
const clusterless = (process.env.TIERKIT_TEST_CLIENT ?? '').startsWith('node-redis')

export default defineConfig({
  test: {
    exclude: [...configDefaults.exclude, ...(clusterless ? ['**/*cluster*.integration.test.ts'] : [])],
    // coverage of src/ measured 91.76 / 82.07 / 94.3 / 93.49 (2026-12-07); the floor is each figure rounded down, less one point
    coverage: coverage({ statements: 90, branches: 81, functions: 93, lines: 92 }),
    // integration tests start real servers and child processes on a shared 2-core machine
    testTimeout: 90_000,
    hookTimeout: 60_000,
  },
})
