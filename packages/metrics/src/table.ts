/**
 * `formatTable`: the `Layer | Hit Rate | Avg Latency` table of a snapshot, as Markdown.
 *
 * @module
 */
import { checkObject, invalidArgument } from '@tierkit/contracts'
import type { CacheMetricsSnapshot, FormatTableOptions } from './types.js'

function formatMs(ms: number): string {
  if (ms >= 1000) return `${Math.round(ms)} ms`
  if (ms === 0) return '0 ms'
  return `${Number(ms.toPrecision(ms >= 0.01 ? 2 : 1))} ms`
}

function tableCell(text: string): string {
  return text
    .replace(/\\/g, '\\\\')
    .replace(/\|/g, '\\|')
    .replace(/\r?\n|\r/g, ' ')
}

const WHERE = 'CacheMetrics.formatTable'

/** The display names of `formatTable`'s options, checked (before any snapshot is taken). @internal */
export function tableLabels(options: FormatTableOptions | undefined): Readonly<Record<string, string>> {
  checkObject(WHERE, 'options', options, true)
  const labels = options?.labels ?? {}
  checkObject(WHERE, 'options.labels', labels)
  for (const key of Object.keys(labels)) {
    const value = (labels as Record<string, unknown>)[key]
    if (typeof value !== 'string') {
      throw invalidArgument(WHERE, `options.labels[${JSON.stringify(key)}]`, 'a string', value)
    }
  }
  return labels
}

/** The table of a snapshot, a row per layer in order (`—` where a layer has no lookups or no timings). @internal */
export function renderTable(
  snap: CacheMetricsSnapshot<string>,
  labels: Readonly<Record<string, string>>,
): string {
  const rows: [string, string, string][] = snap.layers.map((l) => {
    const label = Object.hasOwn(labels, l.layer) ? labels[l.layer]! : l.layer
    return [
      tableCell(label),
      l.hitRate === null ? '—' : `${(l.hitRate * 100).toFixed(1)}%`,
      l.latency.avg === null ? '—' : formatMs(l.latency.avg),
    ]
  })
  const header: [string, string, string] = ['Layer', 'Hit Rate', 'Avg Latency']
  const widths = header.map((h, c) => Math.max(h.length, 3, ...rows.map((r) => r[c]!.length)))
  const line = (cells: readonly string[]) =>
    `| ${cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join(' | ')} |`
  const rule = `| ${widths.map((w, c) => (c === 0 ? '-'.repeat(w) : `${'-'.repeat(w - 1)}:`)).join(' | ')} |`
  return [line(header), rule, ...rows.map(line)].join('\n')
}
