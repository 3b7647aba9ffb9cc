import { defineConfig } from 'tsdown'

export default defineConfig({
  // tasks.ts is its own entry: the worker threads load dist/tasks.js next to the app
  entry: ['src/index.ts', 'src/cli.ts', 'src/load-cli.ts', 'src/tasks.ts'],
  format: 'esm',
  platform: 'node',
  target: 'node20',
  dts: false,
  fixedExtension: false,
  clean: true,
  sourcemap: false,
  // the private test kit ships TypeScript source, not a build: bundle its core (no vitest in it) into dist, so
  // that `node dist/cli.js` runs without tsx
  deps: { alwaysBundle: [/^@tierkit\/testkit(\/|$)/] },
})
