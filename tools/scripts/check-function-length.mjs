// No function over 80 lines in packages/*/src or apps/*/src, unless tools/scripts/long-functions.txt names it
// with a reason. An entry that names no function over the bound any more fails too, so the list only shrinks.
//   node tools/scripts/check-function-length.mjs            the check (in the test line)
//   node tools/scripts/check-function-length.mjs --report   also each package's largest file and longest function
import { readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join, resolve } from 'node:path'
import { checkFunctionLength, sourceFiles } from './lib/function-length.mjs'

const root = resolve(import.meta.dirname, '../..')
const ts = createRequire(join(root, 'package.json'))('typescript')
const MAX = 80
const allowFile = join(root, 'tools/scripts/long-functions.txt')

const dirs = []
for (const group of ['packages', 'apps']) {
  for (const name of readdirSync(join(root, group)).sort()) dirs.push(join(root, group, name, 'src'))
}
const files = dirs.flatMap((d) => sourceFiles(d))
const r = checkFunctionLength(ts, { root, files, max: MAX, allowlist: readFileSync(allowFile, 'utf8') })

if (process.argv.includes('--report')) {
  for (const dir of dirs) {
    const rel = dir.slice(root.length + 1)
    const mine = r.all.filter((f) => f.file.startsWith(`${rel}/`))
    if (mine.length === 0) continue
    let largest = { file: '', lines: 0 }
    for (const file of new Set(mine.map((f) => f.file))) {
      const lines = readFileSync(join(root, file), 'utf8').split('\n').length
      if (lines > largest.lines) largest = { file, lines }
    }
    const longest = mine.reduce((a, b) => (b.lines > a.lines ? b : a))
    console.log(
      `${rel.padEnd(26)} largest file ${largest.file.slice(rel.length + 1)} (${largest.lines} lines); ` +
        `longest function ${longest.name} (${longest.lines} lines, ${longest.file.slice(rel.length + 1)}:${longest.line})`,
    )
  }
}

let failed = false
for (const f of r.tooLong) {
  console.error(
    `${f.file}:${f.line}: ${f.name} is ${f.lines} lines (at most ${MAX}; split it, or name it in ${allowFile.slice(root.length + 1)} with a reason)`,
  )
  failed = true
}
for (const id of r.stale) {
  console.error(
    `${allowFile.slice(root.length + 1)}: ${id} names no function over ${MAX} lines any more: remove the entry`,
  )
  failed = true
}
for (const m of r.malformed) {
  console.error(`${allowFile.slice(root.length + 1)}: ${m}`)
  failed = true
}
console.log(
  `function length: ${r.all.length} functions in ${files.length} files, ${r.allowed.length} allowed over ${MAX} lines, ` +
    `${r.tooLong.length} too long, ${r.stale.length} stale entries`,
)
process.exit(failed ? 1 : 0)
