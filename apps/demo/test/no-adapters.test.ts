/**
 * The demo composes the six packages with no adapter and no cast (issue 16): this test reads the demo's sources
 * (and the composition tests' consumer-style project) and fails on a type escape hatch (`as unknown`, `as any`,
 * `as never`, a `@ts-` comment) or on code that remaps layers between packages (the old `loader` layer name, an
 * observer of its own that forwards records, a ternary on a layer name).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const repo = fileURLToPath(new URL('../../..', import.meta.url))

/** What is refused, with why. */
const RULES: ReadonlyArray<{ name: string; re: RegExp }> = [
  { name: 'cast through unknown', re: /\bas\s+unknown\b/ },
  { name: 'cast to any', re: /\bas\s+any\b/ },
  { name: 'cast to never', re: /\bas\s+never\b/ },
  { name: '@ts- comment', re: /@ts-[a-z]/ },
  { name: "the 'loader' layer (the family says 'db')", re: /['"`]loader['"`]/ },
  { name: 'a ternary on a layer name (remapping)', re: /\blayer\s*[!=]==?\s*['"`][\w-]+['"`]\s*\?/ },
  {
    name: 'an observer of its own (record method with a body)',
    re: /\brecord\s*\([^)]*\)\s*(?::[^{};=]+)?\{/,
  },
  {
    name: 'an observer of its own (record property)',
    re: /\brecord\s*:\s*(?:function\b|\(|async\b|[a-z]\w*\s*=>)/,
  },
  { name: 'an inline observer object', re: /\bobserver\s*:\s*\{/ },
]

/** The findings of one source text: `line: rule`. */
export function scan(text: string): string[] {
  const out: string[] = []
  text.split('\n').forEach((line, i) => {
    for (const rule of RULES) if (rule.re.test(line)) out.push(`${i + 1}: ${rule.name}`)
  })
  return out
}

function sources(dir: string): string[] {
  if (!existsSync(dir)) return []
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue
    if (statSync(p).isDirectory()) out.push(...sources(p))
    else if (/\.(ts|mts|cts|js|mjs)$/.test(name)) out.push(p)
  }
  return out
}

/** Files that hold deliberately wrong code, as data for a test that must see it fail. */
const WRONG_ON_PURPOSE = new Set([
  'tools/composition/test/readme-blocks.test.ts',
  // its rules hold the retired names as patterns, and its self-test feeds them broken declarations
  'tools/composition/test/vocabulary.test.ts',
])

describe('the demo composes the packages with no adapter and no cast', () => {
  const files = [
    ...sources(join(repo, 'apps/demo/src')),
    ...sources(join(repo, 'apps/demo/bench')),
    ...sources(join(repo, 'tools/composition/src')),
    ...sources(join(repo, 'tools/composition/test')),
  ].filter((f) => !WRONG_ON_PURPOSE.has(relative(repo, f)))

  it('finds none in apps/demo/src, apps/demo/bench and tools/composition', () => {
    // the directories are really there and read (a wrong path would pass vacuously)
    expect(files.some((f) => f.endsWith('apps/demo/src/app.ts'))).toBe(true)
    expect(files.some((f) => f.includes('tools/composition/test/'))).toBe(true)
    const findings = files.flatMap((f) =>
      scan(readFileSync(f, 'utf8')).map((x) => `${relative(repo, f)}:${x}`),
    )
    expect(findings).toEqual([])
  })

  it('would catch what the demo had before (the loader → db remapping observer and the casts)', () => {
    // apps/demo/src/app.ts before the one-vocabulary conversion, verbatim
    const before = [
      '    const record = metrics.observer.record',
      '    const observer = {',
      "      record(layer: 'l1' | 'l2' | 'loader', outcome: 'hit' | 'miss' | 'stale' | 'error', ms?: number): void {",
      "        record(layer === 'loader' ? 'db' : layer, outcome, ms)",
      '      },',
      '    }',
      '      }) as unknown as ReadCache',
      '          breaker: redis ? (products as unknown as { breakerState: BreakerState }).breakerState : null,',
      '    const b = x as any // @ts-expect-error',
      "    const adapter = { observer: { record: (layer, outcome) => metrics.observer.record('db', outcome) } }",
      '    const y = z as never',
    ].join('\n')
    expect(scan(before)).toEqual([
      "3: the 'loader' layer (the family says 'db')",
      '3: an observer of its own (record method with a body)',
      "4: the 'loader' layer (the family says 'db')",
      '4: a ternary on a layer name (remapping)',
      '7: cast through unknown',
      '8: cast through unknown',
      '9: cast to any',
      '9: @ts- comment',
      '10: an observer of its own (record property)',
      '10: an inline observer object',
      '11: cast to never',
    ])
    // and lets the documented wiring through
    expect(scan("  observer: metrics.observer,\n  metrics.observer.record('cdn', outcome, ms)\n")).toEqual([])
  })
})
