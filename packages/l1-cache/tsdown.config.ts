import { defineConfig } from 'tsdown'

export default defineConfig({
  entry: ['src/index.ts'],
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // members marked @internal (the cached clock reading) stay out of the published types
  dts: { oxc: { stripInternal: true } },
  fixedExtension: false,
  clean: true,
  sourcemap: false,
})
