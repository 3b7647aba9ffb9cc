// Sums every test result of the run into one closing line: "N passed, N failed".
// Reads vitest's JSON report of each workspace package (.test-results/vitest.json, restored by turbo on a
// cache hit), the publish-and-consume check and the root gates. A package that has a test script but no
// report counts as one failure, so a crash before the reporter ran never passes silently.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'

const root = resolve(import.meta.dirname, '../..')
const rows = []
let passed = 0
let failed = 0
let skipped = 0

for (const group of ['packages', 'apps', 'tools']) {
  const dir = join(root, group)
  if (!existsSync(dir)) continue
  for (const name of readdirSync(dir).sort()) {
    const pkgFile = join(dir, name, 'package.json')
    if (!existsSync(pkgFile)) continue
    const pkg = JSON.parse(readFileSync(pkgFile, 'utf8'))
    if (!pkg.scripts?.test) continue
    const report = join(dir, name, '.test-results', 'vitest.json')
    if (!existsSync(report)) {
      rows.push([pkg.name, 0, 1, 0, 'no test report (the test script failed before reporting)'])
      failed += 1
      continue
    }
    const r = JSON.parse(readFileSync(report, 'utf8'))
    const p = r.numPassedTests ?? 0
    // A failed test also fails its suites; count the suites only when no test failed (a file that did not load).
    const f = r.numFailedTests || (r.numFailedTestSuites ?? 0)
    const s = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0)
    rows.push([pkg.name, p, f, s, `${r.testResults?.length ?? '?'} files`])
    passed += p
    failed += f
    skipped += s
    // the same suite with another Redis client library (tools/scripts/client-matrix.mjs)
    const results = join(dir, name, '.test-results')
    for (const file of readdirSync(results).sort()) {
      const m = /^vitest-(.+)\.json$/.exec(file)
      if (!m) continue
      const x = JSON.parse(readFileSync(join(results, file), 'utf8'))
      const xp = x.numPassedTests ?? 0
      const xf = x.numFailedTests || (x.numFailedTestSuites ?? 0)
      const xs = (x.numPendingTests ?? 0) + (x.numTodoTests ?? 0)
      rows.push([`${pkg.name} with ${m[1]}`, xp, xf, xs, `${x.testResults?.length ?? '?'} files`])
      passed += xp
      failed += xf
      skipped += xs
    }
  }
}

const consumers = join(root, '.test-results', 'consumers.json')
if (existsSync(consumers)) {
  const c = JSON.parse(readFileSync(consumers, 'utf8'))
  rows.push(['release + publish-and-consume', c.passed, c.failed, 0, `${c.checks.length} checks`])
  passed += c.passed
  failed += c.failed
}
const gatesDir = join(root, '.test-results')
for (const file of existsSync(gatesDir) ? readdirSync(gatesDir).sort() : []) {
  if (!file.startsWith('gate-')) continue
  const g = JSON.parse(readFileSync(join(gatesDir, file), 'utf8'))
  rows.push([`gate: ${g.name}`, g.ok ? 1 : 0, g.ok ? 0 : 1, 0, g.ok ? 'ok' : 'FAILED'])
  if (g.ok) passed += 1
  else failed += 1
}

const w = Math.max(...rows.map((r) => r[0].length), 8)
console.log('\nsummary')
for (const [name, p, f, s, note] of rows) {
  console.log(
    `  ${name.padEnd(w)}  ${String(p).padStart(5)} passed  ${String(f).padStart(3)} failed  ${String(s).padStart(3)} skipped  ${note}`,
  )
}
// Skipped tests count as failures: a test skipped because a server is missing must not pass CI.
if (skipped > 0) console.log(`  ${skipped} skipped tests count as failed`)
failed += skipped
console.log(`\n${passed} passed, ${failed} failed`)
process.exit(failed > 0 ? 1 : 0)
