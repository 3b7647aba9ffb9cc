/**
 * Every ```ts block of the READMEs and docs compiles (strict, nodenext) against the built packages, as a user
 * who copies it into a project gets it: see src/readme-blocks.ts. A block that does not compile fails it;
 * KNOWN_BROKEN may pin one, with why, while its fix is pending (empty today), and asks to take it off the list
 * once it compiles.
 */
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { allBlocks, type Block, blockId, compileBlocks, docFiles, GENERATED } from '../src/readme-blocks.js'

/** Blocks that do not compile, by `doc#index`, with why (reported to the package's authors). */
const KNOWN_BROKEN: Readonly<Record<string, string>> = {}

describe('the ts blocks of the READMEs and docs', () => {
  const blocks = allBlocks()
  const errors = compileBlocks(blocks, join(GENERATED, 'docs'))
  const failing = new Map<string, string[]>()
  for (const e of errors) {
    const id = e.block.index === 0 ? e.where : blockId(e.block)
    failing.set(id, [...(failing.get(id) ?? []), `${e.where}: TS${e.code}: ${e.message.split('\n')[0]}`])
  }

  it('are found in every package README and in the docs', () => {
    const docs = new Set(blocks.map((b) => b.doc))
    const readmes = docFiles().filter((f) => f.startsWith('packages/'))
    expect(readmes.length).toBe(7)
    expect(readmes.filter((f) => !docs.has(f))).toEqual([])
    expect(blocks.filter((b) => b.doc.startsWith('docs/')).length).toBeGreaterThan(0)
    expect(blocks.length).toBeGreaterThanOrEqual(35)
  })

  it('compile, apart from the known broken ones', () => {
    const unexpected = [...failing].filter(([id]) => KNOWN_BROKEN[id] === undefined)
    expect(Object.fromEntries(unexpected)).toEqual({})
  })

  it('the known broken ones still fail (take a block off KNOWN_BROKEN once its README is fixed)', () => {
    expect(Object.keys(KNOWN_BROKEN).filter((id) => !failing.has(id))).toEqual([])
  })

  it('can fail: a block with the old vocabulary, or a wrong type, is a tsc error at its Markdown line', () => {
    const wrong: Block[] = [
      {
        doc: 'wrong.md',
        index: 1,
        line: 10,
        name: 'block-01.ts',
        code: [
          "import { L1Cache } from '@tierkit/l1-cache'",
          "import { createCacheMetrics } from '@tierkit/metrics'",
          "import { createCache } from '@tierkit/redis-aside'",
          "import { Redis } from 'ioredis'",
          '',
          'const metrics = createCacheMetrics()',
          'const users = createCache({',
          '  redis: new Redis(),',
          "  namespace: 'users',",
          '  ttl: 60_000,',
          '  l1: new L1Cache({ max: 10_000 }),',
          '  breaker: { threshold: 5, coolDown: 5_000 },', // the option of 0.1: TS2561, did you mean cooldown
          '  observer: metrics.observer,',
          '})',
          "const n: number = await users.get<number>('n')", // get can give null and undefined
        ].join('\n'),
      },
      {
        doc: 'wrong.md',
        index: 2,
        line: 40,
        name: 'block-02.ts',
        code: [
          "import { createCacheMetrics } from '@tierkit/metrics'",
          "createCacheMetrics().observer.record('loader', 'hit', 1)", // the layer is 'db'
        ].join('\n'),
      },
      { doc: 'right.md', index: 1, line: 5, name: 'block-01.ts', code: 'export const ok: number = 1\n' },
    ]
    const found = compileBlocks(wrong, join(GENERATED, 'negative')).map((e) => `${e.where} TS${e.code}`)
    expect(found).toEqual(['wrong.md:21 TS2561', 'wrong.md:24 TS2322', 'wrong.md:41 TS2345'])
  })
})
