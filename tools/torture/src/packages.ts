/**
 * Loads the packages under test: by name (this checkout's builds, `packages/<name>/dist`), or from another
 * checkout's `packages` folder (`TORTURE_PACKAGES_ROOT`, set by `--against <rev>`), so the same harness can be
 * run against the code before a fix.
 */
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

export type L1Module = typeof import('@tierkit/l1-cache')
export type RedisAsideModule = typeof import('@tierkit/redis-aside')
export type InvalidationModule = typeof import('@tierkit/invalidation')
export type CdnModule = typeof import('@tierkit/cdn-headers')
export type CdnFastifyModule = typeof import('@tierkit/cdn-headers/fastify')

/** The four packages a torture process uses. */
export interface Packages {
  l1: L1Module
  ra: RedisAsideModule
  inv: InvalidationModule
  cdn: CdnModule
  cdnFastify: CdnFastifyModule
  /** where they were loaded from */
  root: string
}

/** Imports the packages from `root` (a `packages` folder with built `dist/`), or by name when `root` is unset. */
export async function loadPackages(
  root: string | undefined = process.env.TORTURE_PACKAGES_ROOT,
): Promise<Packages> {
  if (root === undefined || root === '') {
    return {
      l1: await import('@tierkit/l1-cache'),
      ra: await import('@tierkit/redis-aside'),
      inv: await import('@tierkit/invalidation'),
      cdn: await import('@tierkit/cdn-headers'),
      cdnFastify: await import('@tierkit/cdn-headers/fastify'),
      root: 'workspace',
    }
  }
  const at = (p: string): string => pathToFileURL(join(root, p)).href
  return {
    l1: (await import(at('l1-cache/dist/index.js'))) as L1Module,
    ra: (await import(at('redis-aside/dist/index.js'))) as RedisAsideModule,
    inv: (await import(at('invalidation/dist/index.js'))) as InvalidationModule,
    cdn: (await import(at('cdn-headers/dist/index.js'))) as CdnModule,
    cdnFastify: (await import(at('cdn-headers/dist/fastify.js'))) as CdnFastifyModule,
    root,
  }
}
