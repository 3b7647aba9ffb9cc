/** Runs a schedule over its topologies, checks each run and builds the report (used by the CLI and the test). */
import { type CheckResult, check } from './checker.js'
import { report } from './report.js'
import { runTopology } from './run.js'
import { buildSchedule, type Schedule } from './schedule.js'
import type { Topology, Workload } from './types.js'

/** Options of {@link runSuite}. */
export interface SuiteOptions {
  seed: number
  topologies: Topology[]
  minutes?: number | undefined
  instances?: number
  workload?: Partial<Workload>
  packagesRoot?: string | undefined
  /** how the report names where the packages came from @default the packages folder */
  packagesLabel?: string | undefined
  keepHistory?: boolean
  log?: (line: string) => void
}

/** The results of a whole suite. */
export interface SuiteResult {
  schedule: Schedule
  results: CheckResult[]
  violations: number
  text: string
  seconds: number
}

/** Builds the schedule, runs each topology in turn (real servers and processes), checks it, and reports. */
export async function runSuite(o: SuiteOptions): Promise<SuiteResult> {
  const t0 = Date.now()
  const schedule = buildSchedule({
    seed: o.seed,
    topologies: o.topologies,
    minutes: o.minutes,
    ...(o.instances === undefined ? {} : { instances: o.instances }),
    ...(o.workload === undefined ? {} : { workload: o.workload }),
  })
  const results: CheckResult[] = []
  for (const plan of schedule.plans) {
    const data = await runTopology({
      schedule,
      plan,
      packagesRoot: o.packagesRoot,
      ...(o.log ? { log: o.log } : {}),
      ...(o.keepHistory ? { keepHistory: true } : {}),
    })
    const result = check({
      topology: data.topology,
      runId: data.runId,
      events: data.events,
      applied: data.applied,
      final: data.final,
      streamEntriesAdded: data.streamEntriesAdded,
      queueShards: data.queueShards,
      nginxPrivateFiles: data.nginxPrivateFiles,
      drain: data.drain,
    })
    results.push(result)
    o.log?.(`[${plan.topology}] ${result.violations.length} violations`)
  }
  const seconds = (Date.now() - t0) / 1000
  const violations = results.reduce((n, r) => n + r.violations.length, 0)
  const title = `torture: seed ${o.seed}, ${o.minutes === undefined ? 'the short CI schedule' : `${o.minutes} min per topology`}, topologies ${o.topologies.join(', ')}, packages from ${o.packagesLabel ?? o.packagesRoot ?? 'this checkout'}, ${Math.round(seconds)} s`
  return { schedule, results, violations, text: report(results, { title }), seconds }
}
