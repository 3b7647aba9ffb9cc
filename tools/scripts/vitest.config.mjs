import { defineConfig } from 'vitest/config'

// Nothing here asserts on time; a limit only turns a hang into a failure.
export default defineConfig({ test: { testTimeout: 60_000 } })
