import { spawnSync } from 'node:child_process'
import { seeded } from '@tierkit/testkit/random'

/** Seeded PRNG (mulberry32): the same seed gives the same stream on every run. */
export { seeded } from '@tierkit/testkit/random'

/** Standard normal variates by Box–Muller over a seeded uniform source. */
export function normal(random: () => number): () => number {
  return () => {
    const u = 1 - random()
    const v = random()
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)
  }
}

/** The latency streams of the accuracy test, in ms. */
export const streams: Record<string, (seed: number) => () => number> = {
  uniform: (seed) => {
    const r = seeded(seed)
    return () => 0.05 + r() * 50
  },
  lognormal: (seed) => {
    const n = normal(seeded(seed))
    return () => Math.exp(Math.log(1.5) + 1.0 * n())
  },
  bimodal: (seed) => {
    const r = seeded(seed)
    const n = normal(seeded(seed ^ 0x9e3779b9))
    // 70 % in-process hits around 0.2 ms, 30 % database reads around 15 ms.
    return () => Math.max(0.001, r() < 0.7 ? 0.2 + 0.03 * n() : 15 + 4 * n())
  },
}

/** Exact nearest-rank quantile of a sorted array: the value at rank ceil(q * n). */
export function exactQuantile(sorted: Float64Array, q: number): number {
  const rank = Math.max(1, Math.ceil(q * sorted.length))
  return sorted[rank - 1]!
}

/** Runs the real `promtool check metrics` on a text; fails (never skips) when promtool is missing. */
export function promtoolCheck(text: string): { status: number | null; output: string } {
  const run = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30_000 })
  if (run.error) {
    throw new Error(
      `promtool could not run (${run.error.message}); install Debian's prometheus package: apt-get install -y prometheus`,
    )
  }
  return { status: run.status, output: `${run.stdout}${run.stderr}` }
}

/** A parsed sample of the Prometheus / OpenMetrics text. */
export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/**
 * Strict reader for the subset of the text formats we emit: `# ` lines are returned as comments, every other
 * line must be `name{label="escaped",...} value`; escapes are undone.
 */
export function parseExposition(text: string): { comments: string[]; samples: Sample[] } {
  const comments: string[] = []
  const samples: Sample[] = []
  const lines = text.split('\n')
  if (lines.pop() !== '') throw new Error('exposition must end with a line feed')
  for (const line of lines) {
    if (line.startsWith('#')) {
      comments.push(line)
      continue
    }
    let i = 0
    const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)
    if (!nameMatch) throw new Error(`bad sample line: ${line}`)
    const name = nameMatch[0]
    i = name.length
    const labels: Record<string, string> = {}
    if (line[i] === '{') {
      i++
      while (line[i] !== '}') {
        const labelMatch = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(line.slice(i))
        if (!labelMatch) throw new Error(`bad label at ${i}: ${line}`)
        i += labelMatch[0].length
        let value = ''
        for (;;) {
          const c = line[i]
          if (c === undefined) throw new Error(`unterminated label value: ${line}`)
          if (c === '"') break
          if (c === '\\') {
            const e = line[i + 1]
            if (e === 'n') value += '\n'
            else if (e === '\\') value += '\\'
            else if (e === '"') value += '"'
            else throw new Error(`bad escape \\${e}: ${line}`)
            i += 2
          } else {
            value += c
            i++
          }
        }
        i++
        if (labelMatch[1]! in labels) throw new Error(`duplicate label: ${line}`)
        labels[labelMatch[1]!] = value
        if (line[i] === ',') i++
        else if (line[i] !== '}') throw new Error(`expected , or } at ${i}: ${line}`)
      }
      i++
    }
    if (line[i] !== ' ') throw new Error(`expected a space before the value: ${line}`)
    const raw = line.slice(i + 1)
    const value =
      raw === '+Inf' ? Number.POSITIVE_INFINITY : raw === '-Inf' ? Number.NEGATIVE_INFINITY : Number(raw)
    if (raw === '' || (Number.isNaN(value) && raw !== 'NaN')) throw new Error(`bad value: ${line}`)
    samples.push({ name, labels, value })
  }
  return { comments, samples }
}
