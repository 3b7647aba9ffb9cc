/**
 * `pnpm torture [--minutes N] [--seed S] [--topology single|cluster|sentinel|all] [--against <git-rev>]
 *  [--instances N] [--type-probe] [--keep] [--json FILE]`
 *
 * Without --minutes: the short fixed-seed schedule CI runs. Exit code 1 on any violation, 2 on a usage error.
 */
import { writeFileSync } from 'node:fs'
import { buildAgainst } from './against.js'
import { runSuite } from './suite.js'
import type { Topology } from './types.js'

function usage(msg: string): never {
  process.stderr.write(
    `${msg}\nusage: pnpm torture [--minutes N] [--seed S] [--topology single|cluster|sentinel|all] [--against <git-rev>] [--instances N] [--type-probe] [--keep] [--json FILE]\n`,
  )
  process.exit(2)
}

const args = process.argv.slice(2).filter((a) => a !== '--')
let seed = 15
let minutes: number | undefined
let topologies: Topology[] = ['single', 'cluster', 'sentinel']
let against: string | undefined
let instances: number | undefined
let typeProbe = false
let keep = false
let json: string | undefined
for (let i = 0; i < args.length; i++) {
  const a = args[i]!
  const next = (): string => {
    const v = args[++i]
    if (v === undefined) usage(`${a} needs a value`)
    return v
  }
  if (a === '--seed') {
    seed = Number(next())
    if (!Number.isSafeInteger(seed) || seed < 0) usage('--seed must be a non-negative integer')
  } else if (a === '--minutes') {
    minutes = Number(next())
    if (!Number.isFinite(minutes) || minutes <= 0) usage('--minutes must be a positive number')
  } else if (a === '--topology') {
    const t = next()
    if (t === 'all') topologies = ['single', 'cluster', 'sentinel']
    else if (t === 'single' || t === 'cluster' || t === 'sentinel') topologies = [t]
    else usage(`unknown topology ${t}`)
  } else if (a === '--against') against = next()
  else if (a === '--instances') {
    instances = Number(next())
    if (!Number.isInteger(instances) || instances < 2 || instances > 8) usage('--instances must be 2 to 8')
  } else if (a === '--type-probe') typeProbe = true
  else if (a === '--keep') keep = true
  else if (a === '--json') json = next()
  else usage(`unknown argument ${a}`)
}

const log = (line: string): void => {
  process.stderr.write(`${line}\n`)
}
let packagesRoot: string | undefined
let packagesLabel: string | undefined
let release: (() => Promise<void>) | undefined
if (against !== undefined) {
  const built = await buildAgainst(against, log)
  packagesRoot = built.packagesRoot
  packagesLabel = `${against} (${built.commit.slice(0, 12)}, built in a worktree)`
  release = built.remove
}
let code = 0
try {
  const r = await runSuite({
    seed,
    topologies,
    minutes,
    ...(instances === undefined ? {} : { instances }),
    workload: typeProbe ? { typeProbe: true } : {},
    packagesRoot,
    packagesLabel,
    keepHistory: keep,
    log,
  })
  process.stdout.write(`${r.text}\n`)
  if (json)
    writeFileSync(json, JSON.stringify({ seed, minutes, topologies, against, results: r.results }, null, 2))
  code = r.violations > 0 ? 1 : 0
} catch (e) {
  process.stderr.write(`torture: ${String((e as Error)?.stack ?? e)}\n`)
  code = 2
} finally {
  await release?.()
}
process.exit(code)
