import { defineConfig } from 'tsdown'

export default defineConfig({
  entry: ['src/index.ts', 'src/prometheus.ts', 'src/opentelemetry.ts'],
  format: 'esm',
  platform: 'node',
  target: 'node20',
  dts: true,
  fixedExtension: false,
  clean: true,
  sourcemap: false,
})
