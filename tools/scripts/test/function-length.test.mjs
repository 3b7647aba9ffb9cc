// The function-length check (tools/scripts/check-function-length.mjs) can fail: a function one line over the
// bound fails it, an allowlisted one passes only with a reason, and an entry naming no long function fails.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { checkFunctionLength, functionsOf, sourceFiles } from '../lib/function-length.mjs'

const ts = createRequire(resolve(import.meta.dirname, '../../../package.json'))('typescript')
const dir = mkdtempSync(join(tmpdir(), 'fnlen-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** A function of exactly `lines` lines (its first and last line included). */
const fn = (name, lines) =>
  `export function ${name}(): number {\n${'  let x = 1\n'.repeat(lines - 3)}  return 1\n}\n`

describe('function length', () => {
  mkdirSync(join(dir, 'src'), { recursive: true })
  writeFileSync(join(dir, 'src', 'a.ts'), fn('short', 80) + fn('long', 81))
  writeFileSync(
    join(dir, 'src', 'b.ts'),
    `export class Box {\n  m(): void {\n${'    void 0\n'.repeat(90)}  }\n}\nexport const arrow = () => {\n${'  void 0\n'.repeat(85)}}\n`,
  )
  writeFileSync(join(dir, 'src', 'c.d.ts'), 'export declare function d(): void\n')
  const files = sourceFiles(join(dir, 'src'))
  const check = (allowlist) => checkFunctionLength(ts, { root: dir, files, max: 80, allowlist })

  test('counts a function from its first line to its last, with the class or variable it belongs to', () => {
    const found = functionsOf(
      ts,
      'x.ts',
      `${fn('f', 81)}class C { get g() {\n return [1].map((x) => x)\n } }\n`,
    )
    expect(found).toEqual([
      { name: 'f', line: 1, lines: 81 },
      { name: 'C.g', line: 82, lines: 3 },
      { name: 'C.g/(anonymous)', line: 83, lines: 1 },
    ])
    expect(files.map((f) => f.slice(dir.length + 1)).sort()).toEqual(['src/a.ts', 'src/b.ts']) // no .d.ts
  })

  test('fails on a function one line over the bound, not on one at it', () => {
    const r = check('')
    expect(r.tooLong.map((f) => `${f.id}:${f.lines}`)).toEqual([
      'src/a.ts#long:81',
      'src/b.ts#Box.m:92',
      'src/b.ts#arrow:87',
    ])
    expect(r.all.find((f) => f.name === 'short').lines).toBe(80)
  })

  test('an allowlist entry with a reason lets one through; without a reason it is malformed', () => {
    const r = check(
      '# comment\nsrc/a.ts#long  parses one grammar rule per case, kept in one switch\nsrc/b.ts#arrow\n',
    )
    expect(r.allowed.map((f) => f.id)).toEqual(['src/a.ts#long'])
    expect(r.tooLong.map((f) => f.id)).toEqual(['src/b.ts#Box.m', 'src/b.ts#arrow'])
    expect(r.malformed).toHaveLength(1)
    expect(r.malformed[0]).toContain('src/b.ts#arrow')
  })

  test('an entry that names no function over the bound is stale (the list only shrinks)', () => {
    const r = check('src/a.ts#short  was long once, split since then\n')
    expect(r.stale).toEqual(['src/a.ts#short'])
  })
})
