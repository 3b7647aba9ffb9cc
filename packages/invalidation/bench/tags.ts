/**
 * Tags benchmark (issue 19): `getOrLoad` of a key with 3 tags against the same call without tags
 * (redis-aside's own `getOrLoad`), as L1 hits and as L2 hits. Each contender runs in its own process,
 * the order alternating from run to run; RUNS runs; median and min–max of ops/s, and the ratio
 * tagged / untagged of each run (median and min–max).
 * Run: pnpm --filter @tierkit/invalidation bench:tags
 */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { reapAll, startRedis } from '@tierkit/testkit'

const RUNS = Number(process.env.RUNS ?? 11)
const run = promisify(execFile)
const child = fileURLToPath(new URL('./tags-variant.ts', import.meta.url))

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}
const range = (xs: number[], d: number): string =>
  `${Math.min(...xs).toFixed(d)}–${Math.max(...xs).toFixed(d)}`

async function variant(url: string, name: string, l1: string): Promise<number> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', child], {
    env: { ...process.env, REDIS_URL: url, VARIANT: name, L1: l1 },
  })
  return (JSON.parse(stdout.trim().split('\n').at(-1)!) as { opsPerSec: number }).opsPerSec
}

const server = await startRedis()
try {
  for (const [tier, l1] of [
    ['l1', 'l1-cache'],
    ['l1', 'map'],
    ['l2', 'none'],
  ] as const) {
    const tagged: number[] = []
    const plain: number[] = []
    const ratios: number[] = []
    for (let i = 0; i < RUNS; i++) {
      const order = i % 2 === 0 ? ['tagged', 'plain'] : ['plain', 'tagged']
      const got: Record<string, number> = {}
      for (const v of order) got[v] = await variant(server.url, `${tier}-${v}`, l1)
      tagged.push(got.tagged!)
      plain.push(got.plain!)
      ratios.push(got.tagged! / got.plain!)
    }
    console.log(
      `${tier} hit${tier === 'l1' ? ` (L1: ${l1 === 'map' ? 'a bare Map' : 'L1Cache, 10k'}, CPU time)` : ' (wall time)'}, ${RUNS} runs: tagged (3 tags) ${median(tagged).toFixed(0)} ops/s (${range(tagged, 0)}), ` +
        `untagged ${median(plain).toFixed(0)} ops/s (${range(plain, 0)}); ratio tagged/untagged ` +
        `median ${median(ratios).toFixed(3)} (${range(ratios, 3)})`,
    )
  }
} finally {
  await server.close()
  reapAll?.()
}
