// One run of one contender of one case of tools/scripts/bench-vs.mjs, in a fresh process:
//   node --expose-gc --import tsx tools/scripts/vs/point.ts <case> <contender>   → one line of JSON (Result)
//   node --import tsx tools/scripts/vs/point.ts --list                            → { <case>: { contenders, baseline, redis } }
// The cases are the `cases` exports of every other .ts module of this directory (redis-aside.ts, ...).
import { readdirSync } from 'node:fs'
import type { Case } from './shared.ts'

const here = import.meta.dirname
const all: Record<string, Case> = {}
for (const file of readdirSync(here).sort()) {
  if (!file.endsWith('.ts') || file === 'point.ts' || file === 'shared.ts') continue
  const mod = (await import(`./${file}`)) as { cases?: Record<string, Case> }
  for (const [name, c] of Object.entries(mod.cases ?? {})) {
    if (all[name] !== undefined) throw new Error(`case ${name} is defined twice (${file})`)
    all[name] = c
  }
}

const [name, contender] = process.argv.slice(2)
if (name === '--list') {
  const list = Object.fromEntries(
    Object.entries(all).map(([n, c]) => [
      n,
      { contenders: c.contenders, baseline: c.baseline, redis: !!c.redis },
    ]),
  )
  console.log(JSON.stringify(list))
} else {
  const c = name === undefined ? undefined : all[name]
  if (c === undefined || contender === undefined || !c.contenders.includes(contender)) {
    console.error(`usage: point.ts <case> <contender>; cases: ${Object.keys(all).join(', ')}`)
    process.exit(2)
  }
  console.log(JSON.stringify(await c.run(contender)))
}
process.exit(0)
