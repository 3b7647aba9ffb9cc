/**
 * @internal Tuning constants of the W-TinyLFU policy (src/tinylfu.ts, src/admission.ts, src/climber.ts, src/minisim.ts),
 * exported (not from the package entry) for the policy study in bench/ and the tests; not part of the API.
 * Read where they are used (`fastEvict` and the climber's sizes when a cache is created), so set them before
 * creating the caches. How the values were chosen: bench/policy-study.ts and the README's policy section.
 */
export const TUNING: {
  countersPerSlot: number
  minCounters: number
  floorCounters: number
  smallPerSlot: number
  ageMinCap: number
  sampleFactor: number
  climb: boolean
  periodFactor: number
  initialWindow: number
  minWindow: number
  prior: number
  gain: number
  maxMove: number
  bias: number
  marginal: number
  probeWait: number
  probeMaxWait: number
  probeLen: number
  probeSettle: number
  probeSize: number
  probeSizeTop: number
  probeMargin: number
  starve: number
  probeTop: number
  horizon: number
  crash: number
  longSamples: number
  writeBack: boolean
  fastEvict: boolean
  sim: boolean
  simStart: number
  shares: readonly number[]
  miniSize: number
  simHorizon: number
  simMargin: number
} = {
  countersPerSlot: 2,
  minCounters: 1024,
  floorCounters: 65536,
  smallPerSlot: 64,
  ageMinCap: 512,
  // the climber's sample: 10 x capacity x sampleFactor lookups
  sampleFactor: 0.25,
  climb: true,
  periodFactor: 40,
  // the window's share at creation, and its smallest share
  initialWindow: 0.5,
  minWindow: 0.01,
  // density steering: prior hits per capacity, move = min(maxMove, gain x |ln ratio|) x capacity
  prior: 0.5,
  gain: 0.1,
  maxMove: 0.5,
  // subtracted from the log ratio: on a tie the window shrinks (frequency, scan resistance, wins ties)
  bias: 0.6,
  marginal: 3,
  // probes: starved samples before the first (doubling up to probeMaxWait on failure), counted and settling samples
  probeWait: 4,
  probeMaxWait: 256,
  probeLen: 2,
  probeSettle: 1,
  // how far a probe moves the window from the floor / from the top, as shares of the capacity
  probeSize: 0.5,
  probeSizeTop: 0.3,
  // a probe is kept if its hit ratio beats the baseline's by this many standard errors
  probeMargin: 1,
  // starved: the region earns at most this share of the sample's hits; "the top": within probeTop of 100%
  starve: 0.02,
  probeTop: 0.02,
  // the top is probed only after a collapse: the last `horizon` samples under `crash` x the slow hit ratio
  horizon: 8,
  crash: 0.5,
  longSamples: 16,
  writeBack: true,
  // the steady-state eviction shortcut of WTinyLfuPolicy.evict (off only to test that it decides like the general path)
  fastEvict: true,
  // miniature simulations (src/minisim.ts) choose the window of count-bounded caches (false: the density climber)
  sim: true,
  // the window's share at creation when the miniatures steer it: LRU until they show a split that beats it
  simStart: 1,
  // the window shares the miniatures run (1: LRU)
  shares: [0.01, 0.05, 0.2, 0.5, 0.8, 1],
  // entries per miniature (the sample rate is the power of two that brings the capacity nearest above it)
  miniSize: 32,
  // the miniatures' misses are discounted over simHorizon x capacity lookups; a new leader must miss simMargin less
  simHorizon: 64,
  simMargin: 0.02,
}
