// Text rendering shared by the main entry and the adapters: metric names, label escaping and numbers. The
// metric names are public (exported by the main entry); escapeLabelValue, formatValue and formatBound are
// internal (tested through test/exposition.test.ts, which imports this module directly).

/** Name of the counter family of cache operations (Prometheus text; OpenMetrics drops `_total`). */
export const REQUESTS_METRIC = 'tierkit_cache_requests_total'
/** Name of the latency histogram family. */
export const LATENCY_METRIC = 'tierkit_cache_latency_seconds'
/** Name of the per-layer hit ratio gauge. */
export const HIT_RATIO_METRIC = 'tierkit_cache_hit_ratio'
/** Name of the counter of `record` calls not counted, by `reason` (Prometheus text; OpenMetrics drops `_total`). */
export const INVALID_METRIC = 'tierkit_cache_invalid_records_total'

/** HELP text of {@link REQUESTS_METRIC}. */
export const REQUESTS_HELP = 'Cache operations by layer and outcome (hit, miss, stale, error, set, evict).'
/** HELP text of {@link LATENCY_METRIC}. */
export const LATENCY_HELP = 'Latency of cache operations by layer, in seconds.'
/** HELP text of {@link HIT_RATIO_METRIC}. */
export const HIT_RATIO_HELP =
  'Hits / (hits + misses) per layer since start; absent while a layer has no lookups.'
/** HELP text of {@link INVALID_METRIC}. */
export const INVALID_HELP =
  'Calls to record() not counted, by reason: unknown-layer, unknown-outcome, watched-layer (the layer is counted from a watched stats()), invalid-duration (negative, NaN, infinite or not a number).'

/** Escapes a label value for the Prometheus text format and OpenMetrics: backslash, double quote, line feed. */
export function escapeLabelValue(value: string): string {
  let out = ''
  let start = 0
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    let rep: string | undefined
    if (c === 0x5c) rep = '\\\\'
    else if (c === 0x22) rep = '\\"'
    else if (c === 0x0a) rep = '\\n'
    if (rep !== undefined) {
      out += value.slice(start, i) + rep
      start = i + 1
    }
  }
  return start === 0 ? value : out + value.slice(start)
}

/** Renders a sample value: JavaScript's shortest round-trip form, `+Inf`, `-Inf` or `NaN`. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN'
  if (value === Number.POSITIVE_INFINITY) return '+Inf'
  if (value === Number.NEGATIVE_INFINITY) return '-Inf'
  return String(value)
}

/**
 * Renders a bound the way Go's `strconv.FormatFloat(x, 'g', -1, 64)` does (the Prometheus client_golang form):
 * shortest digits, exponent form when the decimal exponent is below -4 or at least 6, at least two exponent
 * digits. With `openMetrics`, `.0` is appended when there is neither a point nor an exponent, giving the
 * canonical numbers of the OpenMetrics spec (`1e-05 0.0001 0.1 1.0 100000.0 1e+06`).
 */
export function formatBound(value: number, openMetrics: boolean): string {
  if (value === Number.POSITIVE_INFINITY) return '+Inf'
  if (value === Number.NEGATIVE_INFINITY) return '-Inf'
  if (Number.isNaN(value)) return 'NaN'
  if (value === 0) return openMetrics ? '0.0' : '0'
  const sign = value < 0 ? '-' : ''
  const [mantissa, expText] = Math.abs(value).toExponential().split('e') as [string, string]
  const digits = mantissa.replace('.', '')
  const exp = Number(expText)
  let text: string
  if (exp < -4 || exp >= 6) {
    const frac = digits.length > 1 ? `.${digits.slice(1)}` : ''
    const abs = Math.abs(exp)
    text = `${digits[0]}${frac}e${exp < 0 ? '-' : '+'}${abs < 10 ? '0' : ''}${abs}`
  } else if (exp < 0) {
    text = `0.${'0'.repeat(-exp - 1)}${digits}`
  } else if (digits.length > exp + 1) {
    text = `${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`
  } else {
    text = digits + '0'.repeat(exp + 1 - digits.length)
    if (openMetrics) text += '.0'
  }
  return sign + text
}
