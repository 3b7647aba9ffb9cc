/**
 * The checker: reads a merged history (operations, loader calls, faults, the store's save log, the final store and
 * what the servers held at the end) and reports every violation of the invariants, Jepsen-style: nothing here
 * looks at the code under test, only at what the processes observed.
 *
 * Invariants (see docs/reliability.md):
 * - `lost-write`: every acknowledged write ends in the store (at a version ≥ the acknowledged one, with the very
 *   value acknowledged) after the final drain, unless Redis lost it in a data-loss fault before it was applied;
 * - `lower-overwrote-higher`: per key, the logical versions the store applied only grow;
 * - `stale-read`: once a write has returned, no read starting more than B later returns an older version (on any
 *   instance, from L1, L2 or nginx); B = 1 s while Redis is healthy, the outage's length + 2 s when an outage
 *   overlaps the write or the second after it, or ended less than the settle time before it;
 * - `private-cached`: no answer of the private handler is served from nginx's cache or to another client, and
 *   nginx's cache holds none at the end;
 * - `failed-while-healthy`: no read or write fails (other than an input refusal) unless an outage that affects it
 *   overlaps it or ended less than the settle time before;
 * - `orphan-lock-wait`: while healthy, no read waits ≥ `lockWaitMs` (or times out) on a key whose loader ran
 *   nowhere meanwhile (a lock held by nobody);
 * - `loader-amplification`: per instance and cache, loader calls during an outage ≤ 2 × (the no-cache rate of the
 *   keys the outage took away, i.e. the reads of those keys, + the loader rate the same load had when healthy);
 * - `duplicate-enqueue` (from defect 10): the write-behind stream never holds more entries than writes were sent.
 */
import { queueStreamOf, redisKeysOf, slotOf } from './slot.js'
import type {
  AppliedEvent,
  FaultEvent,
  FaultKind,
  HistoryEvent,
  LoadEvent,
  OpEvent,
  PhaseEvent,
  Topology,
} from './types.js'

/** The faults that move the primary to the replica (which has the stream, up to the replication lag). */
const FAILOVERS: ReadonlySet<FaultKind> = new Set<FaultKind>(['sentinel-failover', 'sentinel-primary-kill'])

/** The invariants, in report order. */
export const INVARIANTS = [
  'lost-write',
  'lower-overwrote-higher',
  'stale-read',
  'private-cached',
  'failed-while-healthy',
  'orphan-lock-wait',
  'loader-amplification',
  'duplicate-enqueue',
] as const
export type Invariant = (typeof INVARIANTS)[number]

/** Short labels of the invariants for the table. */
export const INVARIANT_LABELS: Record<Invariant, string> = {
  'lost-write': 'lost ack',
  'lower-overwrote-higher': 'lower>higher',
  'stale-read': 'stale>B',
  'private-cached': 'private',
  'failed-while-healthy': 'failed',
  'orphan-lock-wait': 'orphan lock',
  'loader-amplification': 'amplif.',
  'duplicate-enqueue': 'dup enq.',
}

/** One violation. */
export interface Violation {
  invariant: Invariant
  /** the phase it belongs to: `baseline`, or the fault kind during/after which it happened */
  phase: string
  /** the fault id of that phase (undefined for baseline) */
  faultId?: number | undefined
  at: number
  key?: string | undefined
  detail: string
}

/** The bounds and windows of the checker. */
export interface CheckParams {
  /** B while Redis is healthy @default 1000 */
  healthyBoundMs: number
  /** added to an outage's length for writes it overlaps @default 2000 */
  outageExtraMs: number
  /** after an outage, failures are forgiven this long (reconnect backoff + breaker cool-down) @default 3000 */
  settleMs: number
  /** a read waiting this long on a key no loader is loading counts as an orphaned-lock wait @default 1000 */
  lockWaitMs: number
  /** allowed loader amplification @default 2 */
  amplificationMax: number
  /** fewer expected loads than this in an outage window: the amplification is not judged @default 10 */
  amplificationMinSample: number
}

export const DEFAULT_PARAMS: CheckParams = {
  healthyBoundMs: 1000,
  outageExtraMs: 2000,
  settleMs: 3000,
  lockWaitMs: 1000,
  amplificationMax: 2,
  amplificationMinSample: 10,
}

/** What the checker reads. */
export interface CheckInput {
  topology: Topology
  runId: string
  events: HistoryEvent[]
  applied: AppliedEvent[]
  final: Map<string, { lv: number; qv: number; enc: string }>
  /** `entries-added` of the queue stream at the end (a queue of one shard only) */
  streamEntriesAdded?: number | undefined
  /** shards of the write-behind queue (1 before write-behind had shards, and on a single Redis) @default 1 */
  queueShards?: number | undefined
  nginxPrivateFiles?: string[]
  drain?: { ok: boolean; code?: string; msg?: string }
}

/** Staleness figures (ms) over the reads that returned an older version than a write that had returned. */
export interface Staleness {
  /** reads judged */
  reads: number
  /** reads that returned a version older than one whose write had returned when the read began */
  stale: number
  p50: number
  p99: number
  max: number
}

/** One row of the table: a fault kind (or the baseline) of one topology. */
export interface Row {
  topology: Topology
  phase: string
  faults: number
  ops: number
  violations: Record<Invariant, number>
  staleness: Staleness
  /** the highest loader amplification measured in an outage of this kind (undefined: none measured) */
  amplification?: number | undefined
  refused: number
}

/** The checker's result for one topology. */
export interface CheckResult {
  topology: Topology
  violations: Violation[]
  rows: Row[]
  /** staleness of healthy periods only (the one timed assertion: max ≤ B) */
  healthyStaleness: Staleness
  amplifications: Array<{
    faultId: number
    fault: string
    proc: string
    ns: string
    loads: number
    expected: number
    ratio: number
  }>
  counts: {
    ops: number
    reads: number
    writes: number
    probes: number
    loads: number
    faults: number
    storeSaves: number
    refused: number
  }
  drain?: { ok: boolean; code?: string; msg?: string } | undefined
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]!
}

function stalenessOf(values: number[], reads: number): Staleness {
  const s = [...values].sort((a, b) => a - b)
  return { reads, stale: s.length, p50: percentile(s, 50), p99: percentile(s, 99), max: s[s.length - 1] ?? 0 }
}

function zero(): Record<Invariant, number> {
  return Object.fromEntries(INVARIANTS.map((i) => [i, 0])) as Record<Invariant, number>
}

/** Checks one topology's history. */
export function check(input: CheckInput, params: Partial<CheckParams> = {}): CheckResult {
  const P = { ...DEFAULT_PARAMS, ...params }
  const ops = input.events.filter((e): e is OpEvent => e.t === 'op')
  const loads = input.events.filter((e): e is LoadEvent => e.t === 'load')
  const faults = input.events
    .filter((e): e is FaultEvent => e.t === 'fault')
    .sort((a, b) => a.start - b.start)
  const violations: Violation[] = []
  const shards = input.queueShards ?? 1
  /** the hash slot of the queue (shard) that holds the writes of `key` */
  const queueSlotOf = (key: string): number => slotOf(queueStreamOf(key, input.runId, shards))
  /** shard 0: the whole queue when it has one shard */
  const queueSlot = slotOf(`wb:{q-${input.runId}}:q`)

  // ---- phases: baseline until the first fault, then each fault's phase until the next one
  const phaseAt = (t: number): { phase: string; faultId?: number } => {
    let f: FaultEvent | undefined
    for (const x of faults) if (x.start <= t) f = x
    return f ? { phase: f.fault, faultId: f.id } : { phase: 'baseline' }
  }
  const add = (v: Omit<Violation, 'phase' | 'faultId'>, phaseTime = v.at): void => {
    const { phase, faultId } = phaseAt(phaseTime)
    violations.push({ ...v, phase, faultId })
  }

  // ---- which outages affect what
  const inSlots = (f: FaultEvent, slot: number): boolean =>
    f.slots === undefined || f.slots.some(([a, b]) => slot >= a && slot <= b)
  const outages = faults.filter((f) => f.outage)
  /** an outage that affects an operation on `key` (writes publish on the bus too: any Cluster outage counts) */
  const affects = (f: FaultEvent, op: OpEvent): boolean => {
    if (f.slots === undefined) return true
    if (op.kind === 'probe' || op.key === undefined) return false
    if (op.kind === 'write' && op.fam !== 'tg') return true
    return redisKeysOf(op.key, op.kind === 'write' ? 'write' : 'read', input.runId).some((k) =>
      inSlots(f, slotOf(k)),
    )
  }
  const overlapsOutage = (op: OpEvent, extraAfter: number): boolean =>
    outages.some((f) => affects(f, op) && op.start <= f.end + extraAfter && op.end >= f.start)

  // ---- writes per key, in version order
  const writes = ops.filter((o) => o.kind === 'write' && o.key !== undefined && o.v !== undefined)
  const byKey = new Map<string, OpEvent[]>()
  for (const w of writes) {
    const list = byKey.get(w.key!) ?? []
    list.push(w)
    byKey.set(w.key!, list)
  }
  for (const list of byKey.values()) list.sort((a, b) => a.v! - b.v!)
  const applied = [...input.applied].sort((a, b) => a.id - b.id)
  const firstAppliedAt = (key: string, v: number): number => {
    for (const a of applied) if (a.key === key && a.applied && a.lv >= v) return a.at
    return Number.POSITIVE_INFINITY
  }
  const lossFaults = faults.filter((f) => f.dataLoss)
  /** a write-behind write Redis may legitimately have lost: issued before a data-loss fault ended, not applied before it began */
  const lostByFault = (w: OpEvent): FaultEvent | undefined => {
    if (w.fam !== 'wb') return undefined
    for (const f of lossFaults) {
      if (!inSlots(f, queueSlotOf(w.key!))) continue
      const from = f.lossAt ?? f.start
      if (w.start <= f.end && firstAppliedAt(w.key!, w.v!) > from) return f
    }
    return undefined
  }
  /** a synchronous write whose cache invalidation a failover may have lost (acknowledged by the old primary) */
  const invalidationLost = (w: OpEvent): boolean =>
    w.fam !== 'wb' &&
    lossFaults.some((f) => FAILOVERS.has(f.fault) && w.end >= f.start - 1000 && w.start <= f.end)
  /** writes that took effect and returned: what a later read must not be older than */
  const effective = (w: OpEvent): boolean =>
    w.fam === 'wb'
      ? w.ok && lostByFault(w) === undefined
      : (w.ok || w.dbApplied === true) && !invalidationLost(w)
  /**
   * B for a write: 1 s while healthy; the outage's length + 2 s when an outage overlaps the write or the second
   * after it, or ended less than the settle time before it (Redis answers again, but the clients are still
   * reconnecting and the breakers cooling down: for the application the outage is not over)
   */
  const bound = (w: OpEvent): number => {
    let b = P.healthyBoundMs
    for (const f of outages) {
      if (f.start <= w.end + P.healthyBoundMs && f.end + P.settleMs >= w.start) {
        b = Math.max(b, f.end - f.start + P.outageExtraMs)
      }
    }
    return b
  }

  // ---- 1. lost acknowledged writes (after the final drain)
  for (const [key, list] of byKey) {
    const fin = input.final.get(key)
    for (const w of list) {
      if (!w.ok) continue
      if (lostByFault(w)) continue
      if (fin === undefined || fin.lv < w.v!) {
        add(
          {
            invariant: 'lost-write',
            at: w.end,
            key,
            detail: `${w.strategy ?? w.fam} write v${w.v} (${w.w}) acknowledged, the store ends at v${fin?.lv ?? '∅'}${input.drain && !input.drain.ok ? ` (final drain: ${input.drain.code})` : ''}`,
          },
          w.end,
        )
      } else if (fin.lv === w.v && w.enc !== undefined && fin.enc !== w.enc) {
        add({
          invariant: 'lost-write',
          at: w.end,
          key,
          detail: `write v${w.v} stored altered: acknowledged ${w.enc.slice(0, 120)}, stored ${fin.enc.slice(0, 120)}`,
        })
      }
    }
  }

  // ---- 2. a lower version applied over a higher one
  const highest = new Map<string, number>()
  for (const a of applied) {
    if (!a.applied) continue
    const h = highest.get(a.key) ?? 0
    if (a.lv < h) {
      add({
        invariant: 'lower-overwrote-higher',
        at: a.at,
        key: a.key,
        detail: `v${a.lv} (${a.w}, queue version ${a.qv}) applied by ${a.p} over v${h}`,
      })
    }
    highest.set(a.key, Math.max(h, a.lv))
  }

  // ---- 3. bounded staleness
  const reads = ops.filter((o) => o.kind === 'read' && o.ok && o.key !== undefined && typeof o.v === 'number')
  const staleHealthy: number[] = []
  let healthyReads = 0
  const staleByPhase = new Map<string, number[]>()
  const readsByPhase = new Map<string, number>()
  const reported = new Set<string>()
  const staleCount = new Map<string, number>()
  for (const r of reads) {
    const list = byKey.get(r.key!) ?? []
    let firstNewer: OpEvent | undefined
    let violating: OpEvent | undefined
    for (const w of list) {
      if (w.v! <= r.v! || w.end >= r.start || !effective(w)) continue
      if (firstNewer === undefined || w.end < firstNewer.end) firstNewer = w
      if (r.start > w.end + bound(w) && (violating === undefined || w.v! > violating.v!)) violating = w
    }
    const s = firstNewer ? r.start - firstNewer.end : 0
    const ph = phaseAt(r.start).phase
    readsByPhase.set(ph, (readsByPhase.get(ph) ?? 0) + 1)
    if (s > 0) {
      const arr = staleByPhase.get(ph) ?? []
      arr.push(s)
      staleByPhase.set(ph, arr)
    }
    const healthy = !firstNewer || bound(firstNewer) === P.healthyBoundMs
    if (healthy) {
      healthyReads++
      if (s > 0) staleHealthy.push(s)
    }
    if (violating) {
      const id = `${r.key}@${violating.v}`
      staleCount.set(id, (staleCount.get(id) ?? 0) + 1)
      if (!reported.has(id)) {
        reported.add(id)
        add(
          {
            invariant: 'stale-read',
            at: r.start,
            key: r.key,
            detail: `${r.p} read v${r.v} (${r.via}${r.edge ? ` ${r.edge}` : ''}, layer ${r.layer}) ${Math.round(r.start - violating.end)} ms after v${violating.v} (${violating.strategy}) returned; bound ${bound(violating)} ms`,
          },
          violating.end,
        )
      }
    }
  }
  for (const v of violations) {
    if (v.invariant !== 'stale-read') continue
    const m = /read v\d+ .* after v(\d+) /.exec(v.detail)
    const n = m ? staleCount.get(`${v.key}@${m[1]}`) : undefined
    if (n !== undefined && n > 1) v.detail += `; ${n} stale reads of it in all`
  }

  // ---- 4. private answers stored or served to someone else
  const SERVED_FROM_CACHE = new Set(['HIT', 'STALE', 'UPDATING', 'REVALIDATED'])
  for (const p of ops) {
    if (p.kind !== 'probe' || !p.privateBody) continue
    const fromCache = SERVED_FROM_CACHE.has(p.cache ?? '')
    const other = p.owner !== undefined && p.owner !== p.user
    if (fromCache || other) {
      add({
        invariant: 'private-cached',
        at: p.start,
        detail: `${p.url} as ${p.user ?? 'anonymous'} via ${p.edge}: ${p.status}, X-Cache-Status ${p.cache}, body of user ${p.owner ?? '(401 body)'}, Cache-Control "${p.cc}"`,
      })
    }
  }
  for (const f of input.nginxPrivateFiles ?? []) {
    add({
      invariant: 'private-cached',
      at: ops[ops.length - 1]?.end ?? 0,
      detail: `nginx cache file holds a private answer: ${f}`,
    })
  }

  // ---- 5. failures while healthy
  let refused = 0
  const refusedByPhase = new Map<string, number>()
  for (const o of ops) {
    if (o.ok) continue
    if (o.refused) {
      refused++
      const ph = phaseAt(o.start).phase
      refusedByPhase.set(ph, (refusedByPhase.get(ph) ?? 0) + 1)
      continue
    }
    if (overlapsOutage(o, P.settleMs)) continue
    add({
      invariant: 'failed-while-healthy',
      at: o.start,
      key: o.key,
      detail:
        `${o.p} ${o.kind} ${o.key ?? o.url ?? ''} (${o.strategy ?? o.via ?? ''}) failed with ${o.code}: ${o.msg ?? ''}`.slice(
          0,
          300,
        ),
    })
  }

  // ---- 6. waits on a lock held by nobody
  const loadsByKey = new Map<string, LoadEvent[]>()
  for (const l of loads) {
    if (l.ns !== 'items') continue
    const list = loadsByKey.get(l.key) ?? []
    list.push(l)
    loadsByKey.set(l.key, list)
  }
  for (const r of ops) {
    if (r.kind !== 'read' || r.key === undefined || r.via === 'http') continue
    if (r.fam !== 'du' && r.fam !== 'wt' && r.fam !== 'wb') continue
    const long = r.end - r.start >= P.lockWaitMs || (!r.ok && r.code === 'E_LOADER_TIMEOUT')
    if (!long || overlapsOutage(r, P.settleMs)) continue
    const someoneLoaded = (loadsByKey.get(r.key) ?? []).some((l) => l.start <= r.end && l.end >= r.start)
    if (someoneLoaded) continue
    add({
      invariant: 'orphan-lock-wait',
      at: r.start,
      key: r.key,
      detail: `${r.p} waited ${Math.round(r.end - r.start)} ms for ${r.key} (${r.ok ? 'then served' : r.code}) while no process loaded it`,
    })
  }

  // ---- 7. loader amplification during outages. The no-cache rate of the same load: one loader call per read of
  // a key the outage took away (its Redis node is down), plus, for the keys it did not take away, what they cost the
  // loader while healthy (the steady state of the warm-up). Both groups are judged: a dead Cluster master must not
  // send the live masters' keys to the loader either.
  // the steady state: the warm-up after the first second (the instances read every key once before it starts)
  const firstOp = ops.reduce((m, o) => Math.min(m, o.start), Number.POSITIVE_INFINITY)
  const started =
    input.events.find((e): e is PhaseEvent => e.t === 'phase' && e.phase === 'start')?.at ?? firstOp
  const baseFrom = started + 1000
  const baseTo =
    faults[0]?.start ?? ops.filter((o) => o.via !== 'sweep').reduce((m, o) => Math.max(m, o.start), 0)
  const healthyMs = Math.max(1, baseTo - baseFrom)
  const inHealthy = (t: number): boolean => t >= baseFrom && t < baseTo
  const directReads = ops.filter((o) => o.kind === 'read' && o.via === 'direct' && o.key !== undefined)
  const procs = [...new Set(directReads.map((o) => o.p))]
  const nsOf = (key: string): string => (key.startsWith('rd:') ? 'rd' : 'items')
  /** the outage took the cache of `key` away: its value's node is down (or, for a tagged key, its tag versions') */
  const lost = (f: FaultEvent, key: string): boolean =>
    f.slots === undefined ||
    redisKeysOf(key, 'read', input.runId)
      .filter((k) => !k.includes(':l:'))
      .some((k) => inSlots(f, slotOf(k)))
  const amplifications: CheckResult['amplifications'] = []
  for (const f of outages) {
    const dur = f.end - f.start
    if (dur < 1000) continue
    const during = (t: number): boolean => t >= f.start && t <= f.end
    for (const p of procs) {
      for (const ns of ['items', 'rd']) {
        const mine = loads.filter((l) => l.p === p && l.ns === ns)
        const lostLoads = mine.filter((l) => during(l.start) && lost(f, l.key)).length
        const keptLoads = mine.filter((l) => during(l.start) && !lost(f, l.key)).length
        const lostReads = directReads.filter(
          (r) => r.p === p && nsOf(r.key!) === ns && during(r.start) && lost(f, r.key!),
        ).length
        const keptHealthy =
          (mine.filter((l) => !lost(f, l.key) && inHealthy(l.start)).length / healthyMs) * dur
        const expected = lostReads + keptHealthy
        const nLoads = lostLoads + keptLoads
        if (expected < P.amplificationMinSample && keptLoads < P.amplificationMinSample) continue
        const ratio = nLoads / Math.max(expected, 1)
        amplifications.push({ faultId: f.id, fault: f.fault, proc: p, ns, loads: nLoads, expected, ratio })
        const overall = expected >= P.amplificationMinSample && ratio > P.amplificationMax
        // the keys whose node is alive: more than twice their steady-state cost plus one call per instance for
        // each write of them meanwhile (its invalidation makes the next read a miss), with a small slack
        const keptWrites = writes.filter(
          (w) => nsOf(w.key!) === ns && w.start >= f.start && w.start <= f.end && !lost(f, w.key!),
        ).length
        const kept = keptLoads > P.amplificationMax * keptHealthy + keptWrites + P.amplificationMinSample
        if (overall || kept) {
          add(
            {
              invariant: 'loader-amplification',
              at: f.start,
              detail: `${p} cache ${ns}: ${nLoads} loader calls in ${Math.round(dur)} ms of ${f.fault} = ${ratio.toFixed(2)}× the no-cache rate (${lostReads} reads of the keys it took away + ${keptHealthy.toFixed(1)} healthy loads of the others); ${keptLoads} of the calls were for keys whose Redis node was up (written ${keptWrites} times meanwhile)`,
            },
            f.start,
          )
        }
      }
    }
  }

  // ---- 8. write-behind writes queued more than once: per life of the stream (between the faults that delete it:
  // a failover keeps it), the stream's `entries-added` at the end of that life ≤ the writes sent during it
  const resets = lossFaults
    .filter((f) => !FAILOVERS.has(f.fault) && inSlots(f, queueSlot))
    .sort((a, b) => (a.lossAt ?? a.start) - (b.lossAt ?? b.start))
  const lives: Array<{ from: number; to: number; added: number | undefined }> = []
  let from = 0
  for (const f of resets) {
    const at = f.lossAt ?? f.start
    lives.push({ from, to: at, added: f.streamEntriesAdded })
    from = at
  }
  lives.push({ from, to: Number.POSITIVE_INFINITY, added: input.streamEntriesAdded })
  // (a sharded queue has one stream per shard: only the store's record below judges it)
  for (const life of shards === 1 ? lives : []) {
    if (life.added === undefined) continue
    // writes that may have reached Redis (a client that refused to send, with its offline queue off, did not)
    const sent = ops.filter(
      (o) =>
        o.kind === 'write' &&
        o.fam === 'wb' &&
        !o.refused &&
        !(o.msg ?? '').includes("isn't writeable") &&
        o.end >= life.from &&
        o.start <= life.to,
    ).length
    if (life.added > sent) {
      // put it in the phase of the first fault of that life that can make a client send a command again (a link
      // reset, a crash, a stop, a failover)
      const replay = faults.find(
        (f) =>
          f.start >= life.from &&
          f.start <= life.to &&
          [
            'proxy-delay',
            'redis-sigkill',
            'redis-sigstop',
            'sentinel-failover',
            'sentinel-primary-kill',
            'cluster-master-kill',
          ].includes(f.fault),
      )
      add(
        {
          invariant: 'duplicate-enqueue',
          at: replay?.start ?? life.from,
          detail: `the queue stream counted ${life.added} entries added ${life.from === 0 ? 'from the start' : 'after it was lost'}${Number.isFinite(life.to) ? ' until it was lost again' : ' to the end'}, but only ${sent} writes were sent meanwhile: ${life.added - sent} queued twice`,
        },
        replay?.start ?? life.from,
      )
    }
  }
  // a write applied twice by the store (a duplicate queue entry that was not coalesced)
  const appliedTwice = new Map<string, number>()
  for (const a of applied) if (a.applied && a.qv > 0) appliedTwice.set(a.w, (appliedTwice.get(a.w) ?? 0) + 1)
  for (const [w, n] of appliedTwice) {
    if (n < 2) continue
    const a = applied.find((x) => x.w === w)!
    add({
      invariant: 'duplicate-enqueue',
      at: a.at,
      key: a.key,
      detail: `write ${w} applied ${n} times by the store (queued more than once)`,
    })
  }

  // ---- rows
  const phases = ['baseline', ...new Set(faults.map((f) => f.fault))]
  const rows: Row[] = phases.map((phase) => {
    const vs = zero()
    for (const v of violations) if (v.phase === phase) vs[v.invariant]++
    const amps = amplifications.filter((a) => a.fault === phase).map((a) => a.ratio)
    return {
      topology: input.topology,
      phase,
      faults: faults.filter((f) => f.fault === phase).length,
      ops: ops.filter((o) => phaseAt(o.start).phase === phase).length,
      violations: vs,
      staleness: stalenessOf(staleByPhase.get(phase) ?? [], readsByPhase.get(phase) ?? 0),
      amplification: amps.length > 0 ? Math.max(...amps) : undefined,
      refused: refusedByPhase.get(phase) ?? 0,
    }
  })

  return {
    topology: input.topology,
    violations: violations.sort((a, b) => a.at - b.at),
    rows,
    healthyStaleness: stalenessOf(staleHealthy, healthyReads),
    amplifications,
    counts: {
      ops: ops.length,
      reads: ops.filter((o) => o.kind === 'read').length,
      writes: writes.length,
      probes: ops.filter((o) => o.kind === 'probe').length,
      loads: loads.length,
      faults: faults.length,
      storeSaves: applied.length,
      refused,
    },
    drain: input.drain,
  }
}
