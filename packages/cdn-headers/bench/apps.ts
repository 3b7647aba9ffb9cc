/**
 * The three Fastify apps the benchmark compares (one route, 1 KB JSON): this package's plugin, the anchors
 * (@fastify/etag + @fastify/caching) and the bare route. They import the BUILT package (`dist/`): run `build` first.
 */
import fastifyCaching from '@fastify/caching'
import fastifyEtag from '@fastify/etag'
import Fastify, { type FastifyInstance } from 'fastify'
import type * as FastifyEntry from '../src/fastify.js'
import type * as MainEntry from '../src/index.js'

// types from the sources (so `typecheck` needs no build), code from the built package
const dist = (file: string): string => new URL(`../dist/${file}`, import.meta.url).href
const fastifyEntry = (await import(dist('fastify.js'))) as typeof FastifyEntry
const mainEntry = (await import(dist('index.js'))) as typeof MainEntry
const { fastifyCdnHeaders } = fastifyEntry
const { definePolicy } = mainEntry
/** `computeETag` of the built package. */
export const computeETag: typeof MainEntry.computeETag = mainEntry.computeETag

export const ROUTE = '/api/public/users'

/**
 * The table built by `m`, in its vocabulary: builds before the one-family rename spell `maxAge` / `cdnMaxAge`
 * `browserTtl` / `edgeTtl` (and ignore the new names), so a baseline build gets the same policy.
 */
export function policyFor(
  m: typeof MainEntry,
  rules: readonly MainEntry.RouteRule[],
): MainEntry.CachePolicyTable {
  const probe = m.definePolicy([{ path: '/', maxAge: 1 }]).rules[0] as { maxAge?: number } | undefined
  if (probe?.maxAge === 1) return m.definePolicy(rules)
  const legacy = rules.map(({ maxAge, cdnMaxAge, ...r }) => ({
    ...r,
    browserTtl: maxAge,
    edgeTtl: cdnMaxAge,
  }))
  return (m.definePolicy as (rules: readonly object[]) => MainEntry.CachePolicyTable)(legacy)
}

const payload = {
  users: Array.from({ length: 12 }, (_, i) => ({
    id: i,
    name: `user-${i}`,
    email: `user${i}@example.com`,
    active: i % 2 === 0,
  })),
}

async function ours(): Promise<FastifyInstance> {
  const app = Fastify()
  const policy = definePolicy([{ path: '/api/public/*', maxAge: 600, cdnMaxAge: 600, tags: ['public'] }])
  await app.register(fastifyCdnHeaders, { policy })
  app.get(ROUTE, async () => payload)
  return app
}

async function anchors(): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(fastifyCaching, { privacy: 'public', expiresIn: 600 })
  await app.register(fastifyEtag)
  app.get(ROUTE, async () => payload)
  return app
}

async function bare(): Promise<FastifyInstance> {
  const app = Fastify()
  app.get(ROUTE, async () => payload)
  return app
}

export const ANCHOR = '@fastify/etag + @fastify/caching'
export const OURS = 'tierkit plugin'
export const BARE = 'bare route (no caching)'

/**
 * Optional before/after comparison: `BENCH_BASELINE_DIST=/path/to/an/older/dist` adds that build of the plugin as
 * one more variant of the same run.
 */
export const BASELINE = 'tierkit plugin, baseline build'
const baselineDist = process.env.BENCH_BASELINE_DIST

async function baseline(): Promise<FastifyInstance> {
  const base = new URL(`file://${baselineDist}/`)
  const f = (await import(new URL('fastify.js', base).href)) as typeof FastifyEntry
  const m = (await import(new URL('index.js', base).href)) as typeof MainEntry
  const app = Fastify()
  const policy = policyFor(m, [{ path: '/api/public/*', maxAge: 600, cdnMaxAge: 600, tags: ['public'] }])
  await app.register(f.fastifyCdnHeaders, { policy })
  app.get(ROUTE, async () => payload)
  return app
}

export const variants: Record<string, () => Promise<FastifyInstance>> = {
  [OURS]: ours,
  [ANCHOR]: anchors,
  [BARE]: bare,
  ...(baselineDist === undefined ? {} : { [BASELINE]: baseline }),
}
