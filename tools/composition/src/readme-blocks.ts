/**
 * The type test of the documentation: every ```ts block of the READMEs and docs (README.md, apps/demo/README.md,
 * docs/*.md, packages/*\/README.md) becomes a file of a small TypeScript project (one folder per Markdown file,
 * under `tools/composition/.generated/`, gitignored), compiled with tsc (strict, module/moduleResolution nodenext)
 * against the built packages, resolved by name through this package's devDependencies as a user's project
 * resolves them. A block that needs context declares it (`declare const db: ...`); a block whose first line names a
 * file (`// tasks.ts: ...`) is written under that name, so its neighbours can import it (`import('./tasks.js')`).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

/** The repository root. */
export const REPO: string = fileURLToPath(new URL('../../..', import.meta.url))
/** Where the project is generated (gitignored). */
export const GENERATED: string = fileURLToPath(new URL('../.generated', import.meta.url))

/** One ```ts block of a Markdown file. */
export interface Block {
  /** The Markdown file, relative to the repository root. */
  readonly doc: string
  /** 1-based position of the block in its file. */
  readonly index: number
  /** 1-based line, in the Markdown file, of the block's first code line. */
  readonly line: number
  /** The code. */
  readonly code: string
  /** The file name it is compiled as (`tasks.ts`, `block-03.ts`). */
  readonly name: string
}

/** One compile error, mapped back to the Markdown line. */
export interface BlockError {
  readonly block: Block
  /** `doc:line` of the error in the Markdown file. */
  readonly where: string
  readonly code: number
  readonly message: string
}

const OPEN = /^(\s*)```(?:ts|typescript)\s*$/
const CLOSE = /^\s*```\s*$/
const NAMED = /^\/\/\s*([\w.-]+\.m?ts)\b/

/** The ```ts blocks of one Markdown text. */
export function extractBlocks(markdown: string, doc: string): Block[] {
  const lines = markdown.split('\n')
  const out: Block[] = []
  const used = new Set<string>()
  for (let i = 0; i < lines.length; i++) {
    const open = OPEN.exec(lines[i]!)
    if (!open) continue
    const indent = open[1]!.length
    const start = i + 1
    let end = start
    while (end < lines.length && !CLOSE.test(lines[end]!)) end++
    if (end === lines.length) throw new Error(`${doc}:${i + 1}: a \`\`\`ts block is never closed`)
    const code = lines
      .slice(start, end)
      .map((l) => (l.slice(0, indent).trim() === '' ? l.slice(indent) : l))
      .join('\n')
    const index = out.length + 1
    let name = NAMED.exec(code.split('\n')[0] ?? '')?.[1] ?? `block-${String(index).padStart(2, '0')}.ts`
    if (used.has(name)) name = name.replace(/(\.m?ts)$/, `-${index}$1`)
    used.add(name)
    out.push({ doc, index, line: start + 1, code, name })
    i = end
  }
  return out
}

/** The documentation files whose blocks are checked, relative to the repository root. */
export function docFiles(repo: string = REPO): string[] {
  const out = ['README.md', 'apps/demo/README.md']
  for (const f of readdirSync(join(repo, 'docs')).sort()) if (f.endsWith('.md')) out.push(`docs/${f}`)
  for (const p of readdirSync(join(repo, 'packages')).sort()) {
    if (existsSync(join(repo, 'packages', p, 'README.md'))) out.push(`packages/${p}/README.md`)
  }
  return out.filter((f) => existsSync(join(repo, f)))
}

/** Every block of every documentation file. */
export function allBlocks(repo: string = REPO): Block[] {
  return docFiles(repo).flatMap((doc) => extractBlocks(readFileSync(join(repo, doc), 'utf8'), doc))
}

/** The compiler options of the type test: what a strict ESM user project on Node 20 uses. */
export const COMPILER_OPTIONS: ts.CompilerOptions = {
  strict: true,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  target: ts.ScriptTarget.ES2023,
  lib: ['lib.es2023.d.ts'],
  types: ['node'],
  skipLibCheck: true,
  noEmit: true,
}

/**
 * Writes `blocks` as a project under `dir` (emptied first; inside this package, so the packages resolve through
 * its node_modules) and compiles it. Returns the errors by block.
 */
export function compileBlocks(blocks: readonly Block[], dir: string = GENERATED): BlockError[] {
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'package.json'), '{ "type": "module", "private": true }\n')
  const byFile = new Map<string, Block>()
  for (const b of blocks) {
    const folder = join(dir, b.doc.replace(/[/\\]/g, '__'))
    const file = join(folder, b.name)
    mkdirSync(dirname(file), { recursive: true })
    // `export {}` makes every block a module, so blocks never share a scope
    writeFileSync(file, `${b.code}\nexport {}\n`)
    byFile.set(file, b)
  }
  const program = ts.createProgram([...byFile.keys()], COMPILER_OPTIONS)
  const out: BlockError[] = []
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const message = ts.flattenDiagnosticMessageText(d.messageText, '\n')
    const block = d.file ? byFile.get(d.file.fileName) : undefined
    if (d.file === undefined || block === undefined) {
      // an error outside the blocks (a package's types, the options): attribute it to no block, loudly
      const where = d.file ? relative(REPO, d.file.fileName) : 'options'
      out.push({
        block: { doc: where, index: 0, line: 0, code: '', name: '' },
        where,
        code: d.code,
        message,
      })
      continue
    }
    const { line } = d.file.getLineAndCharacterOfPosition(d.start ?? 0)
    out.push({ block, where: `${block.doc}:${block.line + line}`, code: d.code, message })
  }
  return out
}

/** `doc#index (name)`: how a block is named in reports and in the list of known failures. */
export function blockId(b: Pick<Block, 'doc' | 'index'>): string {
  return `${b.doc}#${b.index}`
}
