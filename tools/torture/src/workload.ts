/** The workload: key families, the route policy of the instances, and the private-route probes. */
import { maxAges, type Vocabulary } from './compat.js'
import type { Family, Workload } from './types.js'

export const FAMILIES: readonly Family[] = ['du', 'wt', 'wb', 'tg', 'rd']

/** Share of the direct reads per family. */
const READ_WEIGHTS: Record<Family, number> = { du: 0.25, wt: 0.15, wb: 0.15, tg: 0.15, rd: 0.3 }
/**
 * Share of the writes per family. `rd` is reference data, read-only during the run: an L2-only cache whose reads
 * show what an outage costs the loader.
 */
const WRITE_WEIGHTS: Record<Family, number> = { du: 0.3, wt: 0.25, wb: 0.27, tg: 0.18, rd: 0 }

/** Marks every body produced by the private (authenticated) handler; the checker looks for it everywhere. */
export const PRIVATE_MARKER = 'tortureprivate7f3a'

/** The default workload of the short CI schedule. */
export function defaultWorkload(): Workload {
  return {
    keys: { du: 8, wt: 6, wb: 8, tg: 6, rd: 24 },
    readsPerSec: 50,
    writesPerSec: 6,
    httpReadsPerSec: 15,
    probesPerSec: 4,
    ttlMs: 600_000,
    redisTimeoutMs: 200,
    hardTimeoutMs: 3000,
    breakerCoolDownMs: 1000,
    lockLeaseMs: 10_000,
    fractionalTtlEvery: 4,
    typeProbe: false,
    // hostile names next to ordinary ones: tags often come from data
    tagNames: ['__proto__', 'grp-a', 'constructor', 'grp-b', 'grp-c', 'toString'],
    purgeAgainMs: 700,
  }
}

/** Every key of the workload: `<family>:<index>`. */
export function allKeys(wl: Workload): string[] {
  return FAMILIES.flatMap((f) => Array.from({ length: wl.keys[f] }, (_, i) => `${f}:${i}`))
}

/** The family of a key, or undefined for a key that is not one of the workload's. */
export function familyOf(key: string): Family {
  const f = key.slice(0, key.indexOf(':')) as Family
  return (FAMILIES.includes(f) ? f : undefined) as Family
}

/** The tag of a `tg` key. */
export function tagOf(key: string, wl: Workload): string {
  const i = Number(key.slice(key.indexOf(':') + 1))
  return wl.tagNames[i % wl.tagNames.length]!
}

function pick(weights: Record<Family, number>, random: () => number): Family {
  let u = random()
  for (const f of FAMILIES) {
    u -= weights[f]
    if (u <= 0) return f
  }
  return 'du'
}

/** Draws the family of a read. */
export function pickFamily(random: () => number): Family {
  return pick(READ_WEIGHTS, random)
}

/** Draws the family of a write. */
export function pickWriteFamily(random: () => number): Family {
  return pick(WRITE_WEIGHTS, random)
}

/**
 * The instances' route table: the authenticated per-user route, the public items (5 s at the edge, purged by
 * the writers), and a catch-all for everything else (public, 5 minutes), as many sites have. Directive options in
 * seconds, named after their directive (`maxAge`, `cdnMaxAge`; `browserTtl`/`edgeTtl` for a cdn-headers of 0.1).
 */
export function policyRules(v: Vocabulary): Array<{
  name: string
  path: string
  authenticated?: boolean
  maxAge?: number
  cdnMaxAge?: number
}> {
  return [
    { name: 'users', path: '/api/users/*', authenticated: true },
    { name: 'public items', path: '/api/public/*', ...maxAges(v, 0, 5) },
    { name: 'pages', path: '/*', ...maxAges(v, 300, 300) },
  ]
}

/**
 * Spellings of the private route `/api/users/<id>`: the canonical one and encodings a router may decode to the
 * same handler (percent-encoded letters and digits, doubled slashes, case, dot segments, a query string).
 */
export function probePaths(id: string): string[] {
  const hex = (c: string): string => `%${c.charCodeAt(0).toString(16)}`
  return [
    `/api/users/${id}`,
    `/api/${hex('u')}sers/${id}`,
    `/api/u${hex('s')}ers/${id}`,
    `/${hex('a')}pi/users/${id}`,
    `/api/users/${[...id].map(hex).join('')}`,
    `/api/users/${id}?via=probe`,
    `/api/${hex('U').toLowerCase()}sers/${id}`,
    `/api//users/${id}`,
    `/API/users/${id}`,
    `/api/users/${id}/`,
    `/api/users/./${id}`,
    `/api/%2575sers/${id}`,
    `/api/use%72s/${id}`,
  ]
}
