// The one tsdown configuration every published package builds with; a package's own tsdown.config.ts
// passes only what differs (its entries, a copied file, an external).
import { defineConfig, type UserConfig } from 'tsdown'

/**
 * Builds ESM for Node 20 with source maps and declaration maps, so that a user's debugger and
 * "go to definition" land in the TypeScript under `src/` (published beside `dist/`).
 * `fixedExtension: false` keeps `.js` / `.d.ts`, the names the `exports` maps point at.
 */
export function packageConfig(options: UserConfig & { entry: string[] }): UserConfig {
  const { dts, ...rest } = options
  return defineConfig({
    format: 'esm',
    platform: 'node',
    target: 'node20',
    fixedExtension: false,
    clean: true,
    sourcemap: true,
    ...rest,
    dts: { sourcemap: true, ...(typeof dts === 'object' ? dts : {}) },
  })
}
