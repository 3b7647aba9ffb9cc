/**
 * @internal Tuning constants of the W-TinyLFU policy (src/tinylfu.ts, src/admission.ts, src/climber.ts),
 * exported (not from the package entry) for the policy study in bench/ and the tests; not part of the API.
 * Read where they are used (`fastEvict` when a cache is created), so set them before creating the caches.
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
  step: number
  restart: number
  decay: number
  minStep: number
  noise: number
  noiseFloor: number
  writeBack: boolean
  fastEvict: boolean
} = {
  countersPerSlot: 2,
  minCounters: 1024,
  floorCounters: 65536,
  smallPerSlot: 64,
  ageMinCap: 512,
  sampleFactor: 0.25,
  climb: true,
  periodFactor: 40,
  step: 0.125,
  restart: 0.05,
  decay: 0.98,
  minStep: 0.01,
  noise: 2,
  noiseFloor: 0,
  writeBack: true,
  // the steady-state eviction shortcut of WTinyLfuPolicy.evict (off only to test that it decides like the general path)
  fastEvict: true,
}
