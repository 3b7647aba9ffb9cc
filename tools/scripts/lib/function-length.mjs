// The length of every function in a set of TypeScript sources, and the check that none is longer than a bound
// unless an allowlist names it with a reason. Used by tools/scripts/check-function-length.mjs (in the test line).
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'

/** Every `.ts`/`.mts`/`.cts` file under `dir` (not declarations, not node_modules or dist). */
export function sourceFiles(dir) {
  const out = []
  let names
  try {
    names = readdirSync(dir)
  } catch {
    return out
  }
  for (const name of names.sort()) {
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p))
    else if (/\.[mc]?ts$/.test(name) && !/\.d\.[mc]?ts$/.test(name)) out.push(p)
  }
  return out
}

/** The name a function is known by: its own, its variable's or its property's, inside its class. */
function nameOf(ts, node, sf) {
  const own = node.name && ts.isIdentifier(node.name) ? node.name.text : undefined
  let name = own
  if (ts.isConstructorDeclaration(node)) name = 'constructor'
  if (!name && node.name) name = node.name.getText(sf)
  if (!name) {
    const p = node.parent
    if (p && ts.isVariableDeclaration(p) && ts.isIdentifier(p.name)) name = p.name.text
    else if (p && (ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p)) && p.name)
      name = p.name.getText(sf)
    else if (p && ts.isExportAssignment(p)) name = 'default'
  }
  for (let p = node.parent; p; p = p.parent) {
    // an anonymous function (a callback, a returned closure) is named after the function it is written in
    if (!name && isFunctionLike(ts, p) && p.body) return `${nameOf(ts, p, sf)}/(anonymous)`
    if ((ts.isClassDeclaration(p) || ts.isClassExpression(p)) && p.name)
      return `${p.name.text}.${name ?? '(anonymous)'}`
  }
  return name ?? '(anonymous)'
}

function isFunctionLike(ts, node) {
  return (
    ts.isFunctionDeclaration(node) ||
    ts.isFunctionExpression(node) ||
    ts.isArrowFunction(node) ||
    ts.isMethodDeclaration(node) ||
    ts.isConstructorDeclaration(node) ||
    ts.isGetAccessorDeclaration(node) ||
    ts.isSetAccessorDeclaration(node)
  )
}

/** Every function of one source text: `{ name, line, lines }`, lines counted from its first to its last line. */
export function functionsOf(ts, fileName, text) {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS)
  const out = []
  const visit = (node) => {
    if (isFunctionLike(ts, node) && node.body) {
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line
      const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line
      out.push({ name: nameOf(ts, node, sf), line: start + 1, lines: end - start + 1 })
    }
    ts.forEachChild(node, visit)
  }
  visit(sf)
  return out
}

/**
 * The allowlist: one entry per line, `path#name  reason` (path from the repository root); `#` at the start of a
 * line is a comment. Returns the entries and the lines that are malformed (no reason given).
 */
export function parseAllowlist(text) {
  const entries = new Map()
  const malformed = []
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) return
    const m = /^(\S+#\S+)\s+(.+)$/.exec(line)
    if (!m || m[2].trim().length < 10)
      malformed.push(`line ${i + 1}: "${line}" (an entry is path#name and a reason)`)
    else entries.set(m[1], m[2].trim())
  })
  return { entries, malformed }
}

/**
 * Checks every function of `files` against `max` lines. Returns `{ tooLong, allowed, stale, malformed, all }`:
 * functions over the bound that no entry names, those an entry names, entries naming no function over the bound
 * (the allowlist only shrinks), malformed entries, and every function measured.
 */
export function checkFunctionLength(ts, { root, files, max, allowlist }) {
  const { entries, malformed } = parseAllowlist(allowlist)
  const all = []
  for (const file of files) {
    const rel = relative(root, file)
    for (const f of functionsOf(ts, file, readFileSync(file, 'utf8')))
      all.push({ ...f, file: rel, id: `${rel}#${f.name}` })
  }
  const long = all.filter((f) => f.lines > max)
  const tooLong = long.filter((f) => !entries.has(f.id))
  const allowed = long.filter((f) => entries.has(f.id))
  const stale = [...entries.keys()].filter((id) => !long.some((f) => f.id === id))
  return { tooLong, allowed, stale, malformed, all }
}
