/** The Jepsen-style report: a table of fault × invariant per topology, then the violations themselves. */
import { type CheckResult, INVARIANT_LABELS, INVARIANTS, type Invariant, type Row } from './checker.js'

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n)
}

function ms(n: number): string {
  return n === 0 ? '0' : n < 10 ? n.toFixed(1) : String(Math.round(n))
}

/** The table as Markdown (also readable in a terminal). */
export function table(results: CheckResult[]): string {
  const head = [
    'topology',
    'fault',
    'injected',
    'ops',
    ...INVARIANTS.map((i) => INVARIANT_LABELS[i]),
    'stale reads',
    'staleness p50/p99/max ms',
    'loader amplif. (max)',
  ]
  const rows: string[][] = []
  const totals: Record<Invariant, number> = Object.fromEntries(INVARIANTS.map((i) => [i, 0])) as Record<
    Invariant,
    number
  >
  let ops = 0
  let injected = 0
  for (const r of results) {
    for (const row of r.rows) {
      rows.push(line(row))
      for (const i of INVARIANTS) totals[i] += row.violations[i]
      ops += row.ops
      injected += row.faults
    }
  }
  rows.push([
    '**all**',
    '',
    String(injected),
    String(ops),
    ...INVARIANTS.map((i) => `**${totals[i]}**`),
    '',
    '',
    '',
  ])
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)))
  const fmt = (cells: string[]): string =>
    `| ${cells.map((c, i) => pad(c, widths[i]!, i >= 2 && i < cells.length)).join(' | ')} |`
  return [
    fmt(head),
    `|${widths.map((w, i) => `${i >= 2 ? '-'.repeat(w + 1) : '-'.repeat(w + 1)}${i >= 2 ? ':' : '-'}`).join('|')}|`,
    ...rows.map(fmt),
  ].join('\n')
}

function line(row: Row): string[] {
  const s = row.staleness
  return [
    row.topology,
    row.phase,
    row.phase === 'baseline' ? '-' : String(row.faults),
    String(row.ops),
    ...INVARIANTS.map((i) => String(row.violations[i])),
    `${s.stale}/${s.reads}`,
    s.stale === 0 ? '-' : `${ms(s.p50)}/${ms(s.p99)}/${ms(s.max)}`,
    row.amplification === undefined ? '-' : `${row.amplification.toFixed(2)}×`,
  ]
}

/** The full text report: the table, the healthy staleness against B, and the violations (a few per invariant). */
export function report(
  results: CheckResult[],
  options: { perInvariant?: number; title?: string } = {},
): string {
  const per = options.perInvariant ?? 5
  const out: string[] = []
  if (options.title) out.push(options.title, '')
  out.push(table(results), '')
  for (const r of results) {
    const h = r.healthyStaleness
    out.push(
      `${r.topology}: ${r.counts.ops} operations (${r.counts.reads} reads, ${r.counts.writes} writes, ${r.counts.probes} private probes), ${r.counts.loads} loader calls, ${r.counts.storeSaves} store saves, ${r.counts.faults} faults; ` +
        `healthy staleness (B = 1000 ms) over ${h.reads} reads: ${h.stale} stale, p50 ${ms(h.p50)} / p99 ${ms(h.p99)} / max ${ms(h.max)} ms; ` +
        `final drain ${r.drain?.ok === false ? `FAILED (${r.drain.code})` : 'ok'}`,
    )
  }
  const all = results.flatMap((r) => r.violations.map((v) => ({ ...v, topology: r.topology })))
  out.push('', all.length === 0 ? '0 violations.' : `${all.length} violations:`)
  for (const inv of INVARIANTS) {
    const vs = all.filter((v) => v.invariant === inv)
    if (vs.length === 0) continue
    out.push(`  ${inv} (${vs.length}):`)
    for (const v of vs.slice(0, per))
      out.push(`    [${v.topology} / ${v.phase}] ${v.key ? `${v.key}: ` : ''}${v.detail}`)
    if (vs.length > per) out.push(`    ... ${vs.length - per} more`)
  }
  return out.join('\n')
}
