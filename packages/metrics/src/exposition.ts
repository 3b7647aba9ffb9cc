/**
 * The text expositions: Prometheus 0.0.4 and OpenMetrics 1.0 of a sample.
 *
 * @module
 */
import { CACHE_OUTCOMES } from '@tierkit/contracts'
import {
  formatBound,
  formatValue,
  HIT_RATIO_HELP,
  HIT_RATIO_METRIC,
  INVALID_HELP,
  INVALID_METRIC,
  LATENCY_HELP,
  LATENCY_METRIC,
  REQUESTS_HELP,
  REQUESTS_METRIC,
} from './format.js'
import { INVALID_RECORD_REASONS } from './invalid.js'
import type { CacheMetricsSample } from './types.js'

/** Content type of {@link CacheMetrics.toPrometheus}. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'
/** Content type of {@link CacheMetrics.toOpenMetrics}. */
export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8'

/**
 * The sample as Prometheus text (`openMetrics` false) or OpenMetrics text; `escaped` holds the layers' label
 * values, escaped, in the sample's order.
 * @internal
 */
export function render(
  sample: CacheMetricsSample<string>,
  escaped: readonly string[],
  openMetrics: boolean,
): string {
  const out: string[] = []
  const family = (name: string, type: string, help: string, unit?: string): void => {
    const base = openMetrics && type === 'counter' ? name.replace(/_total$/, '') : name
    if (openMetrics) {
      out.push(`# TYPE ${base} ${type}`)
      if (unit !== undefined) out.push(`# UNIT ${base} ${unit}`)
      out.push(`# HELP ${base} ${help}`)
    } else {
      out.push(`# HELP ${base} ${help}`, `# TYPE ${base} ${type}`)
    }
  }
  family(REQUESTS_METRIC, 'counter', REQUESTS_HELP)
  sample.layers.forEach((l, li) => {
    for (const outcome of CACHE_OUTCOMES) {
      out.push(
        `${REQUESTS_METRIC}{layer="${escaped[li]}",outcome="${outcome}"} ${formatValue(l.outcomes[outcome])}`,
      )
    }
  })
  family(LATENCY_METRIC, 'histogram', LATENCY_HELP, 'seconds')
  sample.layers.forEach((l, li) => {
    const label = `layer="${escaped[li]}"`
    for (const b of l.latencyBuckets) {
      out.push(
        `${LATENCY_METRIC}_bucket{${label},le="${formatBound(b.le / 1000, openMetrics)}"} ${formatValue(b.count)}`,
      )
    }
    const sum = `${LATENCY_METRIC}_sum{${label}} ${formatValue(l.latencySum / 1000)}`
    const count = `${LATENCY_METRIC}_count{${label}} ${formatValue(l.latencyCount)}`
    if (openMetrics) out.push(count, sum)
    else out.push(sum, count)
  })
  family(HIT_RATIO_METRIC, 'gauge', HIT_RATIO_HELP, 'ratio')
  sample.layers.forEach((l, li) => {
    const lookups = l.outcomes.hit + l.outcomes.miss
    if (lookups > 0) {
      out.push(`${HIT_RATIO_METRIC}{layer="${escaped[li]}"} ${formatValue(l.outcomes.hit / lookups)}`)
    }
  })
  family(INVALID_METRIC, 'counter', INVALID_HELP)
  for (const reason of INVALID_RECORD_REASONS) {
    out.push(`${INVALID_METRIC}{reason="${reason}"} ${formatValue(sample.invalidByReason[reason])}`)
  }
  if (openMetrics) out.push('# EOF')
  return `${out.join('\n')}\n`
}
