// What a case module of tools/scripts/vs/ exports (see tools/scripts/bench-vs.mjs): `cases`, a record of Case.

/** One measurement of one contender: higher-is-better metrics (the first is the headline) and notes. */
export interface Result {
  metrics: Record<string, number>
  notes?: Record<string, number | string>
}

export interface Case {
  /** the contenders, run in this order in the first round (the order rotates round by round) */
  contenders: string[]
  /** the contender the ratios are taken against */
  baseline: string
  /** the case needs the runner's redis-server (its port in VS_REDIS_PORT); flushed before each run */
  redis?: boolean
  run(contender: string): Promise<Result>
}

/** CPU seconds (user + system) of this process so far. */
export function cpuSeconds(): number {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
}
