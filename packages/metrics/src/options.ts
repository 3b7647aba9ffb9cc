/**
 * The options of `createCacheMetrics`: their validation and defaults (the layers, the baseline, the exposition
 * buckets, `onEvent`).
 *
 * @module
 */
import {
  CACHE_LAYERS,
  type CacheLayer,
  checkFunction,
  checkInteger,
  checkObject,
  checkOneOf,
  invalidArgument,
} from '@tierkit/contracts'
import type { CacheMetricsEvent, CacheMetricsOptions } from './types.js'

/** Default exposition bucket bounds of the latency histogram, in ms (50 µs to 10 s). */
export const DEFAULT_LATENCY_BUCKETS: readonly number[] = Object.freeze([
  0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000,
])

/** Most layers one instance accepts (each costs about 46 KiB of histogram). */
const MAX_LAYERS = 64
/** Most exposition bounds. */
const MAX_BUCKETS = 64
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

const CREATE = 'createCacheMetrics'

function validateLayers(layers: unknown): string[] {
  if (!Array.isArray(layers))
    throw invalidArgument(CREATE, 'options.layers', 'an array of layer names', layers)
  checkInteger(CREATE, 'options.layers.length', layers.length, 1, MAX_LAYERS)
  const seen = new Set<string>()
  for (let i = 0; i < layers.length; i++) {
    const layer: unknown = layers[i]
    if (typeof layer !== 'string' || layer.length === 0 || LONE_SURROGATE.test(layer)) {
      throw invalidArgument(CREATE, `options.layers[${i}]`, 'a non-empty, well-formed string', layer)
    }
    if (seen.has(layer)) throw invalidArgument(CREATE, `options.layers[${i}]`, 'unique', layer)
    seen.add(layer)
  }
  return [...layers]
}

function validateBuckets(buckets: unknown): number[] {
  if (!Array.isArray(buckets)) {
    throw invalidArgument(CREATE, 'options.buckets', 'an array of bounds in ms', buckets)
  }
  checkInteger(CREATE, 'options.buckets.length', buckets.length, 0, MAX_BUCKETS)
  for (let i = 0; i < buckets.length; i++) {
    const b: unknown = buckets[i]
    if (typeof b !== 'number' || !Number.isFinite(b) || b < 0) {
      throw invalidArgument(CREATE, `options.buckets[${i}]`, 'a finite number of ms >= 0', b)
    }
    if (i > 0 && b <= buckets[i - 1]) {
      throw invalidArgument(
        CREATE,
        `options.buckets[${i}]`,
        `greater than options.buckets[${i - 1}] (${buckets[i - 1]})`,
        b,
      )
    }
  }
  return [...buckets]
}

/** The options after validation and defaulting. @internal */
export interface ResolvedOptions<L extends string> {
  layers: L[]
  baseline: L
  bounds: number[]
  onEvent: ((event: CacheMetricsEvent<L>) => void) | undefined
}

/** Validates `createCacheMetrics`' options and fills in their defaults. @internal */
export function resolveOptions<L extends string = CacheLayer>(
  options: CacheMetricsOptions<L> | undefined,
): ResolvedOptions<L> {
  checkObject(CREATE, 'options', options, true)
  const o: CacheMetricsOptions<L> = options ?? {}
  const layersOption = o.layers
  const baselineOption = o.baseline
  const bucketsOption = o.buckets
  const onEvent = o.onEvent
  const layers = (layersOption === undefined ? [...CACHE_LAYERS] : validateLayers(layersOption)) as L[]
  let baseline: L
  if (baselineOption === undefined) {
    baseline = layers.includes('db' as L) ? ('db' as L) : layers[layers.length - 1]!
  } else {
    baseline = checkOneOf(CREATE, 'options.baseline', baselineOption, layers)
  }
  const bounds = bucketsOption === undefined ? [...DEFAULT_LATENCY_BUCKETS] : validateBuckets(bucketsOption)
  checkFunction(CREATE, 'options.onEvent', onEvent, true)
  return { layers, baseline, bounds, onEvent: onEvent as ((event: CacheMetricsEvent<L>) => void) | undefined }
}
