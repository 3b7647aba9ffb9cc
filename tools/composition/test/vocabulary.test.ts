/**
 * The one vocabulary of docs/contributing.md holds across the six packages, read off what users get: the
 * published declarations (`dist/*.d.ts`) and the public entries at run time. A rule broken by any package (an
 * option with a unit suffix, a second close() shape, an event method of another style, an error outside the
 * family's base) fails here, and the scan is shown to catch each one.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import * as cdn from '@tierkit/cdn-headers'
import * as contracts from '@tierkit/contracts'
import * as invalidation from '@tierkit/invalidation'
import * as l1 from '@tierkit/l1-cache'
import * as metrics from '@tierkit/metrics'
import * as redisAside from '@tierkit/redis-aside'
import * as workerPool from '@tierkit/worker-pool'
import { describe, expect, it } from 'vitest'

const PACKAGES = [
  'cdn-headers',
  'contracts',
  'invalidation',
  'l1-cache',
  'metrics',
  'redis-aside',
  'worker-pool',
]
const require = createRequire(import.meta.url)

/** The published declaration files of one package. */
function declarations(pkg: string): Array<{ file: string; text: string }> {
  const dist = join(dirname(require.resolve(`@tierkit/${pkg}/package.json`)), 'dist')
  return readdirSync(dist)
    .filter((f) => f.endsWith('.d.ts'))
    .map((f) => ({ file: `${pkg}/dist/${f}`, text: readFileSync(join(dist, f), 'utf8') }))
}

/** The rules, each on declaration lines only (doc comments may quote old names to say what they became). */
const RULES: ReadonlyArray<{ name: string; re: RegExp; except?: string }> = [
  {
    name: 'a duration with a unit suffix (durations are ms, named without a unit)',
    re: /\b\w+(?:Ms|Millis|Seconds|Secs)\??:/,
  },
  {
    name: 'a close/flush/ready that does not take CloseOptions',
    re: /^\s*(?:close|flush|ready)\((?!\)|options\?: CloseOptions)/,
  },
  { name: 'an event style other than onEvent', re: /^\s*(?:subscribe|addListener|on|once|off)\(/ },
  { name: 'a retired name (coolDown, staleValue)', re: /\b(?:coolDown|staleValue)\b/ },
  {
    name: 'the stale window under another name than grace',
    re: /\bstaleWhileRevalidate\??:/,
    except: 'cdn-headers',
  },
  { name: "the 'loader' layer (the family says 'db')", re: /['"]loader['"]/ },
  {
    name: 'a cdn-headers option named ...Ttl (directive options are named after the directive)',
    re: /\b\w+Ttl\??:/,
    except: '!cdn-headers',
  },
]

/** The findings in one declaration text of package `pkg`: `line: rule`. */
export function scan(pkg: string, text: string): string[] {
  const out: string[] = []
  text.split('\n').forEach((line, i) => {
    const t = line.trim()
    if (t.startsWith('*') || t.startsWith('/*') || t.startsWith('//')) return
    for (const rule of RULES) {
      if (rule.except === pkg) continue
      if (rule.except?.startsWith('!') && rule.except.slice(1) !== pkg) continue
      if (rule.re.test(line)) out.push(`${i + 1}: ${rule.name}`)
    }
  })
  return out
}

/**
 * Declaration files that describe another library's client (the Redis commands and EventEmitter methods of
 * ioredis, which every adapter mirrors), not a tierkit API: the event-style rule does not apply to them.
 */
const CLIENT_SHAPES = new Set(['contracts/dist/redis.d.ts'])
const EVENT_RULE = 'an event style other than onEvent'

describe('one vocabulary across the six packages', () => {
  it('the published declarations break none of the naming rules', () => {
    const files = PACKAGES.flatMap(declarations)
    expect(files.length).toBeGreaterThanOrEqual(PACKAGES.length) // read, not vacuous
    const findings = files.flatMap(({ file, text }) =>
      scan(file.split('/')[0]!, text)
        .filter((f) => !(CLIENT_SHAPES.has(file) && f.endsWith(EVENT_RULE)))
        .map((f) => `${file}:${f}`),
    )
    expect(findings).toEqual([])
  })

  it('the client-shape exemption names files that exist and only lifts the event rule', () => {
    const files = new Map(PACKAGES.flatMap(declarations).map((d) => [d.file, d.text]))
    for (const file of CLIENT_SHAPES) {
      const text = files.get(file)
      expect(text, file).toBeDefined()
      // the exemption is needed (the client's on/once/off are there) and lifts nothing else
      const found = scan(file.split('/')[0]!, text!)
      expect(found.some((f) => f.endsWith(EVENT_RULE))).toBe(true)
      expect(found.filter((f) => !f.endsWith(EVENT_RULE))).toEqual([])
    }
  })

  it('the scan catches each rule broken on purpose', () => {
    const bad = [
      '  readyTimeoutMs?: number;',
      '  close(ms?: number): Promise<void>;',
      '  subscribe(listener: (e: Event) => void): () => void;',
      '  coolDown?: number;',
      '  staleWhileRevalidate?: number;',
      "  record(layer: 'loader', outcome: CacheOutcome): void;",
      '  /** was `coolDown`, now `cooldown` */',
    ].join('\n')
    expect(scan('redis-aside', bad)).toEqual([
      '1: a duration with a unit suffix (durations are ms, named without a unit)',
      '2: a close/flush/ready that does not take CloseOptions',
      '3: an event style other than onEvent',
      '4: a retired name (coolDown, staleValue)',
      '5: the stale window under another name than grace',
      "6: the 'loader' layer (the family says 'db')",
    ])
    expect(scan('cdn-headers', '  staleWhileRevalidate?: number;\n  edgeTtl?: number;')).toEqual([
      '2: a cdn-headers option named ...Ttl (directive options are named after the directive)',
    ])
    expect(scan('l1-cache', '  close(options?: CloseOptions$1): Promise<void>;\n  close(): void;')).toEqual(
      [],
    )
  })

  it('every package exports an errors map of classes on the one TierkitError base (or TierkitTypeError)', () => {
    const entries = { cdn, contracts, invalidation, l1, metrics, redisAside, workerPool }
    for (const [name, m] of Object.entries(entries)) {
      const map = (m as { errors?: Record<string, unknown> }).errors
      expect(map, name).toBeTypeOf('object')
      const classes = Object.values(map!)
      expect(classes.length, name).toBeGreaterThan(0)
      for (const E of classes) {
        expect(typeof E, `${name}.errors`).toBe('function')
        // the error base, or the family's TypeError for bad arguments (a TypeError, with code E_INVALID_ARGUMENT)
        const proto = (E as { prototype: object }).prototype
        const bases = [contracts.TierkitError, contracts.TierkitTypeError]
        const onBase = bases.some((B) => proto === B.prototype || proto instanceof B)
        expect(onBase, `${name}: ${(E as { name: string }).name}`).toBe(true)
      }
    }
  })

  it('the loaders of l1-cache and redis-aside take the one LoaderContext of @tierkit/contracts', () => {
    for (const pkg of ['l1-cache', 'redis-aside']) {
      const text = declarations(pkg)
        .map((d) => d.text)
        .join('\n')
      expect(text, pkg).toMatch(/\(ctx: LoaderContext(?:\$\d+)?</)
    }
  })
})
