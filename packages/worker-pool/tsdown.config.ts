import { defineConfig } from 'tsdown'

export default defineConfig({
  entry: ['src/index.ts', 'src/worker.ts'],
  format: 'esm',
  platform: 'node',
  target: 'node20',
  dts: true,
  fixedExtension: false,
  clean: true,
  sourcemap: false,
  // the worker runtime is plain JavaScript that must stay a separate file next to index.js
  copy: ['src/worker-entry.js'],
})
