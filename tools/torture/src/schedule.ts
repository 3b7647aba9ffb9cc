/** The seeded fault schedule: which faults, in which order, how long, on which target, per topology. */
import { seeded } from '@tierkit/testkit/random'
import type { FaultKind, Topology, Workload } from './types.js'
import { defaultWorkload } from './workload.js'

/** One planned fault. */
export interface FaultPlan {
  kind: FaultKind
  /** how long the fault lasts (down time, stop time, stall time, extra latency time) */
  durationMs: number
  /** an instance (stall) or a Cluster master (kill), by index; the proxy latency for `proxy-delay` */
  target?: number
  latencyMs?: number
}

/** The plan of one topology. */
export interface TopologyPlan {
  topology: Topology
  /** healthy time before the first fault (the baseline) */
  warmupMs: number
  /** healthy time after each fault before the next (longer than the checker's settle time) */
  gapMs: number
  faults: FaultPlan[]
}

/** The whole schedule. */
export interface Schedule {
  seed: number
  instances: number
  workload: Workload
  plans: TopologyPlan[]
}

/** The faults each topology gets, once each per round. */
export const FAULTS: Record<Topology, FaultKind[]> = {
  single: [
    'redis-sigkill',
    'redis-sigstop',
    'redis-flushall',
    'redis-restart-empty',
    'proxy-delay',
    'instance-stall',
    'flusher-sigkill',
  ],
  cluster: ['cluster-master-kill'],
  sentinel: ['sentinel-failover', 'sentinel-primary-kill'],
}

/** Rough wall time of one fault including its recovery (for fitting a schedule into `--minutes`). */
function costMs(f: FaultPlan, gapMs: number): number {
  const recovery: Partial<Record<FaultKind, number>> = {
    'cluster-master-kill': 4000,
    'sentinel-failover': 11_000,
    'sentinel-primary-kill': 14_000,
    'flusher-sigkill': 3000,
  }
  return f.durationMs + (recovery[f.kind] ?? 500) + gapMs
}

function shuffle<T>(xs: T[], random: () => number): T[] {
  const a = [...xs]
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[a[i], a[j]] = [a[j]!, a[i]!]
  }
  return a
}

function plan(kind: FaultKind, random: () => number, instances: number): FaultPlan {
  const between = (lo: number, hi: number): number => Math.round(lo + random() * (hi - lo))
  switch (kind) {
    case 'redis-sigkill':
    case 'redis-restart-empty':
      return { kind, durationMs: between(1000, 2000) }
    case 'redis-sigstop':
      return { kind, durationMs: between(1000, 2000) }
    case 'redis-flushall':
      return { kind, durationMs: 0 }
    case 'proxy-delay':
      return { kind, durationMs: between(1500, 2500), latencyMs: between(300, 500) }
    case 'instance-stall':
      return { kind, durationMs: between(300, 400), target: Math.floor(random() * instances) }
    case 'flusher-sigkill':
      return { kind, durationMs: 0 }
    case 'cluster-master-kill':
      return { kind, durationMs: between(2500, 4000), target: Math.floor(random() * 3) }
    case 'sentinel-failover':
    case 'sentinel-primary-kill':
      return { kind, durationMs: 0 }
  }
}

/**
 * Builds the schedule for `seed`. Without `minutes`, the short fixed schedule of CI: every fault of a topology
 * once (single Redis: the event-loop stall twice; Cluster: two master kills; Sentinel: a forced failover and a SIGKILL of the primary), in an order
 * drawn from the seed. With `minutes`, rounds of the topology's faults (each round in a new seeded order, with
 * seeded durations and targets) until that many minutes of faults are planned for each topology.
 */
export function buildSchedule(options: {
  seed: number
  topologies: Topology[]
  minutes?: number | undefined
  instances?: number
  workload?: Partial<Workload>
}): Schedule {
  const random = seeded(options.seed)
  const instances = options.instances ?? 2
  const workload = { ...defaultWorkload(), ...options.workload }
  const plans = options.topologies.map((topology): TopologyPlan => {
    const warmupMs = 4000
    const gapMs = 3500
    const faults: FaultPlan[] = []
    if (options.minutes === undefined) {
      const kinds =
        topology === 'single'
          ? [...FAULTS.single, 'instance-stall' as const]
          : topology === 'cluster'
            ? ['cluster-master-kill' as const, 'cluster-master-kill' as const]
            : ['sentinel-failover' as const, 'sentinel-primary-kill' as const]
      for (const k of shuffle(kinds, random)) faults.push(plan(k, random, instances))
    } else {
      const budget = options.minutes * 60_000
      let used = 0
      for (;;) {
        let full = false
        for (const k of shuffle(FAULTS[topology], random)) {
          const f = plan(k, random, instances)
          if (used + costMs(f, gapMs) > budget && faults.length > 0) {
            full = true
            break
          }
          faults.push(f)
          used += costMs(f, gapMs)
        }
        if (full) break
      }
    }
    return { topology, warmupMs, gapMs, faults }
  })
  return { seed: options.seed, instances, workload, plans }
}
