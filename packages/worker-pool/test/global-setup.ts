// Compiles the TypeScript fixtures to JavaScript once per run, as a build would: the suite then runs tasks the way
// a published app does (compiled .js, no tsx on the threads), while test/typescript.test.ts covers the .ts path.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

const here = dirname(fileURLToPath(import.meta.url))

/** Transpiles `file` to `outDir/<name>.js` (imports are kept as written: they already end in .js). */
export function compile(file: string, outDir: string): string {
  const source = readFileSync(file, 'utf8')
  const { outputText } = ts.transpileModule(source, {
    fileName: file,
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, sourceMap: false },
  })
  mkdirSync(outDir, { recursive: true })
  const out = join(outDir, basename(file).replace(/\.ts$/, '.js'))
  writeFileSync(out, outputText)
  return out
}

export default function setup(): void {
  compile(join(here, 'fixtures/tasks.ts'), join(here, 'fixtures/dist'))
  compile(join(here, 'fixtures/app/tasks.ts'), join(here, 'fixtures/app/dist'))
  compile(join(here, 'fixtures/app/main.ts'), join(here, 'fixtures/app/dist'))
}
