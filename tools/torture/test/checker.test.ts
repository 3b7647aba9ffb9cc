/**
 * The checker is trusted only after it caught known bugs: small synthetic histories, each holding one kind of
 * violation (or a case that must NOT count), and the checker must report exactly those.
 */
import { describe, expect, it } from 'vitest'
import { type CheckInput, check, type Invariant } from '../src/checker.js'
import { encodeTyped } from '../src/codec.js'
import { slotOf } from '../src/slot.js'
import type { AppliedEvent, FaultEvent, HistoryEvent, LoadEvent, OpEvent } from '../src/types.js'

const T0 = 1_000_000

function write(p: Partial<OpEvent> & { key: string; v: number; start: number; end: number }): OpEvent {
  const fam = p.key.slice(0, p.key.indexOf(':')) as OpEvent['fam']
  return {
    t: 'op',
    p: 'inst0',
    kind: 'write',
    fam,
    ok: true,
    w: `w-${p.key}-${p.v}`,
    strategy: fam === 'wb' ? 'writeBehind' : 'deleteOnUpdate',
    dbApplied: fam !== 'wb',
    ...p,
  }
}

function read(p: Partial<OpEvent> & { key: string; start: number }): OpEvent {
  const fam = p.key.slice(0, p.key.indexOf(':')) as OpEvent['fam']
  return {
    t: 'op',
    p: 'inst1',
    kind: 'read',
    fam,
    ok: true,
    via: 'direct',
    layer: 'l1',
    end: p.start + 1,
    ...p,
  }
}

function load(p: Partial<LoadEvent> & { key: string; start: number }): LoadEvent {
  return {
    t: 'load',
    p: 'inst0',
    ns: p.key.startsWith('rd:') ? 'rd' : 'items',
    ok: true,
    end: p.start + 2,
    ...p,
  }
}

function fault(p: Partial<FaultEvent> & { start: number; end: number }): FaultEvent {
  return {
    t: 'fault',
    id: 0,
    fault: 'redis-sigkill',
    topology: 'single',
    outage: true,
    dataLoss: false,
    ...p,
  }
}

function applied(
  id: number,
  key: string,
  lv: number,
  at: number,
  qv = 0,
  w = `w-${key}-${lv}`,
): AppliedEvent {
  return { t: 'applied', id, key, lv, qv, w, applied: true, at, p: 'flusher0' }
}

function baseInput(events: HistoryEvent[], extra: Partial<CheckInput> = {}): CheckInput {
  return { topology: 'single', runId: 'r1', events, applied: [], final: new Map(), ...extra }
}
const input = baseInput

function kinds(events: HistoryEvent[], extra: Partial<CheckInput> = {}): Invariant[] {
  return check(input(events, extra)).violations.map((v) => v.invariant)
}

/** A store where every key ends at `lv`. */
function finalAt(entries: Array<[string, number]>): CheckInput['final'] {
  return new Map(entries.map(([k, lv]) => [k, { lv, qv: 0, enc: '' }]))
}

describe('checker: a clean history', () => {
  it('reports nothing for writes that are applied, read back fresh, probes answered privately', () => {
    const events: HistoryEvent[] = [
      write({ key: 'du:1', v: 1, start: T0, end: T0 + 10 }),
      read({ key: 'du:1', start: T0 + 20, v: 1 }),
      read({ key: 'du:1', start: T0 + 5, v: 0 }), // concurrent with the write: either answer is fine
      write({ key: 'wb:1', v: 1, start: T0 + 30, end: T0 + 35, qv: 9 }),
      read({ key: 'wb:1', start: T0 + 3000, v: 1 }),
      {
        t: 'op',
        p: 'client',
        kind: 'probe',
        start: T0,
        end: T0 + 5,
        ok: true,
        url: '/api/users/1',
        user: '1',
        privateBody: true,
        owner: '1',
        cache: 'MISS',
        status: 200,
      },
    ]
    const r = check(
      input(events, {
        final: finalAt([
          ['du:1', 1],
          ['wb:1', 1],
        ]),
        applied: [applied(1, 'du:1', 1, T0 + 5), applied(2, 'wb:1', 1, T0 + 100, 9)],
        streamEntriesAdded: 1,
      }),
    )
    expect(r.violations).toEqual([])
    expect(r.healthyStaleness.stale).toBe(0)
  })
})

describe('checker: no acknowledged write lost', () => {
  const w2 = write({ key: 'wb:1', v: 2, start: T0, end: T0 + 5, qv: 20 })
  it('reports an acknowledged write-behind write missing from the store after the drain', () => {
    expect(
      kinds([w2], { final: finalAt([['wb:1', 1]]), drain: { ok: false, code: 'E_FLUSH_TIMEOUT' } }),
    ).toEqual(['lost-write'])
  })
  it('does not count a write Redis lost in a data-loss fault before it was applied', () => {
    const flush = fault({
      fault: 'redis-flushall',
      start: T0 + 100,
      end: T0 + 101,
      outage: false,
      dataLoss: true,
      lossAt: T0 + 100,
    })
    expect(kinds([w2, flush], { final: finalAt([['wb:1', 1]]) })).toEqual([])
  })
  it('still counts a write acknowledged AFTER the data loss (the flusher must recover)', () => {
    const flush = fault({
      fault: 'redis-flushall',
      start: T0 - 100,
      end: T0 - 99,
      outage: false,
      dataLoss: true,
      lossAt: T0 - 100,
    })
    expect(kinds([w2, flush], { final: finalAt([['wb:1', 1]]) })).toEqual(['lost-write'])
  })
  it('does not count a write that was not acknowledged', () => {
    // not lost; but failing while Redis was healthy is a violation of its own
    expect(
      kinds([{ ...w2, ok: false, code: 'E_QUEUE_WRITE_FAILED' }], { final: finalAt([['wb:1', 1]]) }),
    ).toEqual(['failed-while-healthy'])
  })
  it('reports a write stored with an altered value (a Map that became {})', () => {
    const value = { v: 2, w: 'x', by: 'inst0', m: new Map([['a', 1]]) }
    const w = { ...w2, enc: encodeTyped(value) }
    const final = new Map([['wb:1', { lv: 2, qv: 20, enc: encodeTyped({ ...value, m: {} }) }]])
    expect(kinds([w], { final })).toEqual(['lost-write'])
    expect(kinds([w], { final: new Map([['wb:1', { lv: 2, qv: 20, enc: encodeTyped(value) }]]) })).toEqual([])
  })
})

describe('checker: no lower version over a higher one', () => {
  it('reports the store applying v2 after v3 of the same key', () => {
    const log = [
      applied(1, 'wb:1', 1, T0, 10),
      applied(2, 'wb:1', 3, T0 + 1, 30),
      applied(3, 'wb:1', 2, T0 + 2, 40),
    ]
    const r = check(input([], { applied: log, final: finalAt([['wb:1', 2]]) }))
    expect(r.violations.map((v) => v.invariant)).toEqual(['lower-overwrote-higher'])
    expect(r.violations[0]!.detail).toContain('v2')
  })
  it('ignores skipped saves (the store refused the older version)', () => {
    const log = [applied(1, 'wb:1', 3, T0, 30), { ...applied(2, 'wb:1', 2, T0 + 1, 20), applied: false }]
    expect(kinds([], { applied: log, final: finalAt([['wb:1', 3]]) })).toEqual([])
  })
})

describe('checker: bounded staleness', () => {
  const w1 = write({ key: 'du:1', v: 1, start: T0, end: T0 + 10 })
  const final = finalAt([['du:1', 1]])
  const input = (events: HistoryEvent[]): CheckInput => baseInput(events, { final })
  const kinds = (events: HistoryEvent[]): Invariant[] =>
    check(input(events)).violations.map((v) => v.invariant)
  it('reports a read of an older version starting more than B (1 s) after the write returned', () => {
    const r = check(input([w1, read({ key: 'du:1', start: T0 + 1500, v: 0 })]))
    expect(r.violations.map((v) => v.invariant)).toEqual(['stale-read'])
    expect(r.healthyStaleness.stale).toBe(1)
    expect(r.healthyStaleness.max).toBeCloseTo(1490, 0)
  })
  it('tolerates an older read within B, and measures its staleness', () => {
    const r = check(input([w1, read({ key: 'du:1', start: T0 + 400, v: 0 })]))
    expect(r.violations).toEqual([])
    expect(r.healthyStaleness).toMatchObject({ stale: 1, max: 390 })
  })
  it('checks nginx answers the same way', () => {
    const viaNginx = read({ key: 'du:1', start: T0 + 5000, v: 0, via: 'http', layer: 'nginx', p: 'client' })
    expect(kinds([w1, viaNginx])).toEqual(['stale-read'])
  })
  it('allows the outage length + 2 s for a write made during an outage, and no more', () => {
    const outage = fault({ start: T0 - 500, end: T0 + 2500 }) // 3 s: bound 5 s
    const inside = read({ key: 'du:1', start: T0 + 4000, v: 0 })
    const past = read({ key: 'du:1', start: T0 + 5200, v: 0 })
    expect(kinds([w1, outage, inside])).toEqual([])
    expect(kinds([w1, outage, past])).toEqual(['stale-read'])
  })
  it('gives a write made while the clients still settle after an outage the outage bound too', () => {
    const outage = fault({ start: T0 - 2000, end: T0 - 500 }) // 1.5 s, over 500 ms before the write: bound 3.5 s
    expect(kinds([w1, outage, read({ key: 'du:1', start: T0 + 3000, v: 0 })])).toEqual([])
    expect(kinds([w1, outage, read({ key: 'du:1', start: T0 + 3600, v: 0 })])).toEqual(['stale-read'])
    const long = fault({ start: T0 - 6000, end: T0 - 4000 }) // ended 4 s before: healthy again
    expect(kinds([w1, long, read({ key: 'du:1', start: T0 + 1500, v: 0 })])).toEqual(['stale-read'])
  })
  it('a synchronous write acknowledged around a failover (forced or SIGKILL) may lose its invalidation; around a plain crash it may not', () => {
    const late = read({ key: 'du:1', start: T0 + 20_000, v: 0 })
    for (const kind of ['sentinel-failover', 'sentinel-primary-kill'] as const) {
      const f = fault({ fault: kind, topology: 'sentinel', dataLoss: true, start: T0 + 5, end: T0 + 3000 })
      expect(kinds([w1, f, late])).toEqual([])
    }
    const crash = fault({ dataLoss: true, start: T0 + 5, end: T0 + 3000 })
    expect(kinds([w1, crash, late])).toEqual(['stale-read'])
  })
  it('counts one violation per stale (key, write), however many reads saw it', () => {
    const reads = [2000, 3000, 4000].map((d) => read({ key: 'du:1', start: T0 + d, v: 0 }))
    const r = check(input([w1, ...reads]))
    expect(r.violations).toHaveLength(1)
    expect(r.violations[0]!.detail).toContain('3 stale reads')
  })
  it('does not hold reads to a write-behind write that a data-loss fault legitimately lost', () => {
    const w = write({ key: 'wb:1', v: 1, start: T0, end: T0 + 5, qv: 7 })
    const flush = fault({
      fault: 'redis-flushall',
      start: T0 + 100,
      end: T0 + 101,
      outage: false,
      dataLoss: true,
      lossAt: T0 + 100,
    })
    const r = check(
      baseInput([w, flush, read({ key: 'wb:1', start: T0 + 3000, v: 0 })], { final: finalAt([['wb:1', 0]]) }),
    )
    expect(r.violations).toEqual([])
  })
})

describe('checker: private answers are never cached for someone else', () => {
  const probe = (p: Partial<OpEvent>): OpEvent => ({
    t: 'op',
    p: 'client',
    kind: 'probe',
    start: T0,
    end: T0 + 5,
    ok: true,
    url: '/api/%75sers/1',
    status: 200,
    privateBody: true,
    edge: 'edge0',
    ...p,
  })
  it('reports a private answer served from nginx (HIT)', () => {
    expect(kinds([probe({ user: '1', owner: '1', cache: 'HIT' })])).toEqual(['private-cached'])
  })
  it('reports a private answer of user 1 given to user 2 or to nobody', () => {
    expect(kinds([probe({ user: '2', owner: '1', cache: 'MISS' })])).toEqual(['private-cached'])
    expect(kinds([probe({ owner: '1', cache: 'EXPIRED' })])).toEqual(['private-cached'])
  })
  it('reports a private answer left in the nginx cache at the end', () => {
    expect(kinds([], { nginxPrivateFiles: ['edge0:/cache/a/bc/123'] })).toEqual(['private-cached'])
  })
  it('accepts private answers fetched from the origin for their owner, and 401s', () => {
    expect(
      kinds([
        probe({ user: '1', owner: '1', cache: 'MISS' }),
        probe({ user: '2', status: 401, cache: 'BYPASS' }),
      ]),
    ).toEqual([])
  })
})

describe('checker: no call fails while Redis is healthy', () => {
  const failed = (start: number, extra: Partial<OpEvent> = {}): OpEvent =>
    read({ key: 'du:1', start, end: start + 5, ok: false, code: 'E_LOADER_FAILED', ...extra })
  it('reports a failed read while healthy', () => {
    expect(kinds([failed(T0)])).toEqual(['failed-while-healthy'])
  })
  it('forgives failures during an outage and for the settle time after it', () => {
    const outage = fault({ start: T0 - 1000, end: T0 - 500 })
    expect(kinds([outage, failed(T0)])).toEqual([]) // 500 ms after the end: settling
    expect(kinds([outage, failed(T0 + 5000)])).toEqual(['failed-while-healthy'])
  })
  it('does not forgive failures during a fault that is not a Redis outage (an event-loop stall)', () => {
    const stall = fault({ fault: 'instance-stall', start: T0 - 100, end: T0 + 200, outage: false })
    expect(
      kinds([
        stall,
        write({ key: 'du:1', v: 1, start: T0, end: T0 + 5, ok: false, code: 'E_CACHE_DELETE_FAILED' }),
      ]),
    ).toEqual(['failed-while-healthy'])
  })
  it('does not count an input refusal (TypeError, E_INVALID_ARGUMENT, E_UNSERIALIZABLE) as a failure', () => {
    expect(
      kinds([
        write({
          key: 'wt:1',
          v: 1,
          start: T0,
          end: T0 + 1,
          ok: false,
          code: 'E_INVALID_ARGUMENT',
          refused: true,
          dbApplied: false,
        }),
      ]),
    ).toEqual([])
  })
  it('on a Cluster, forgives only reads of keys served by the dead master', () => {
    const slot = slotOf('ra:5:items:v:du:1')
    const lock = slotOf('ra:5:items:l:du:1')
    const dead = fault({
      fault: 'cluster-master-kill',
      topology: 'cluster',
      start: T0 - 100,
      end: T0 + 100,
      slots: [[slot, slot]],
    })
    const other = fault({ ...dead, slots: [[(slot + 1) % 16384, (slot + 1) % 16384]] })
    expect(lock).not.toBe(slot + 1)
    expect(kinds([dead, failed(T0)], { topology: 'cluster' })).toEqual([])
    expect(kinds([other, failed(T0)], { topology: 'cluster' })).toEqual(['failed-while-healthy'])
  })
})

describe('checker: no key waits on a lock held by nobody', () => {
  const waited = read({ key: 'du:1', start: T0, end: T0 + 3000, ok: false, code: 'E_LOADER_TIMEOUT' })
  it('reports a read timing out on a key no process was loading (and the failure itself)', () => {
    expect(kinds([waited]).sort()).toEqual(['failed-while-healthy', 'orphan-lock-wait'])
  })
  it('reports a long wait that ended served, when nobody loaded meanwhile', () => {
    expect(kinds([{ ...waited, ok: true, v: 0, code: undefined }])).toEqual(['orphan-lock-wait'])
  })
  it('accepts a long wait while another process really held the lock and loaded', () => {
    const ok = { ...waited, ok: true, v: 0, code: undefined }
    expect(kinds([ok, load({ key: 'du:1', p: 'inst0', start: T0 + 100, end: T0 + 2900 })])).toEqual([])
  })
})

describe('checker: loader amplification during an outage', () => {
  const outage = fault({ start: T0, end: T0 + 2000 })
  const reads = Array.from({ length: 20 }, (_, i) =>
    read({ key: `rd:${i}`, p: 'inst0', start: T0 + i * 90, v: 0, layer: 'db' }),
  )
  it('reports more than 2× the no-cache rate of the keys the outage took away', () => {
    const loads = Array.from({ length: 100 }, (_, i) =>
      load({ key: `rd:${i % 20}`, p: 'inst0', start: T0 + i * 19 }),
    )
    const r = check(input([outage, ...reads, ...loads]))
    expect(r.violations.map((v) => v.invariant)).toEqual(['loader-amplification'])
    expect(r.amplifications[0]!.ratio).toBeCloseTo(5, 1)
  })
  it('accepts one loader call per read (what no cache at all would cost)', () => {
    const loads = reads.map((r) => load({ key: r.key!, p: 'inst0', start: r.start }))
    const r = check(input([outage, ...reads, ...loads]))
    expect(r.violations).toEqual([])
    expect(r.rows.find((row) => row.phase === 'redis-sigkill')?.amplification).toBeCloseTo(1, 5)
  })
  it('on a Cluster, the keys of the live masters are not part of the no-cache rate', () => {
    const slots = reads.map((r) => slotOf(`ra:2:rd:v:${r.key}`))
    const dead = fault({
      fault: 'cluster-master-kill',
      topology: 'cluster',
      start: T0,
      end: T0 + 2000,
      slots: [[slots[0]!, slots[0]!]],
    })
    // every read went to the loader, though only rd:0 lost its Redis node
    const all = reads.map((r) => load({ key: r.key!, p: 'inst0', start: r.start }))
    const extra = Array.from({ length: 9 }, (_, i) =>
      read({ key: 'rd:0', p: 'inst0', start: T0 + 50 + i * 100, v: 0 }),
    )
    const extraLoads = extra.map((r) => load({ key: 'rd:0', p: 'inst0', start: r.start }))
    // 29 loader calls for the 10 reads of the one key that lost Redis: 2.9×
    const r = check(baseInput([dead, ...reads, ...extra, ...all, ...extraLoads], { topology: 'cluster' }))
    expect(r.violations.map((v) => v.invariant)).toEqual(['loader-amplification'])
    expect(r.amplifications[0]!.ratio).toBeCloseTo(2.9, 1)
    // with per-node breakers only rd:0 goes to the loader: 1×
    const fine = check(
      baseInput([dead, ...reads, ...extra, load({ key: 'rd:0', p: 'inst0', start: T0 }), ...extraLoads], {
        topology: 'cluster',
      }),
    )
    expect(fine.violations).toEqual([])
  })
})

describe('checker: loader amplification on the keys an outage did not take away', () => {
  it("reports a dead master sending the live masters' keys to the loader, against their healthy cost", () => {
    const keys = Array.from({ length: 12 }, (_, i) => `rd:${i}`)
    const deadKey = keys[0]!
    const slot = slotOf(`ra:2:rd:v:${deadKey}`)
    const start: HistoryEvent = { t: 'phase', at: T0 - 5000, phase: 'start' }
    // steady state: reads answered by Redis, no loader call
    const warm = keys.map((k, i) =>
      read({ key: k, p: 'inst0', start: T0 - 3000 + i * 100, v: 0, layer: 'l2' }),
    )
    const dead = fault({
      fault: 'cluster-master-kill',
      topology: 'cluster',
      start: T0,
      end: T0 + 3000,
      slots: [[slot, slot]],
    })
    const during = keys.flatMap((k, i) =>
      [0, 1].map((j) => read({ key: k, p: 'inst0', start: T0 + i * 100 + j * 1500, v: 0 })),
    )
    const loadsAll = during.map((r) => load({ key: r.key!, p: 'inst0', start: r.start }))
    const r = check(baseInput([start, ...warm, dead, ...during, ...loadsAll], { topology: 'cluster' }))
    expect(r.violations.map((v) => v.invariant)).toEqual(['loader-amplification'])
    expect(r.violations[0]!.detail).toContain('22 of the calls were for keys whose Redis node was up')
    // only the dead master's key goes to the loader: fine
    const onlyDead = loadsAll.filter((l) => l.key === deadKey)
    expect(
      check(baseInput([start, ...warm, dead, ...during, ...onlyDead], { topology: 'cluster' })).violations,
    ).toEqual([])
  })
})

describe('checker: write-behind queues each write once', () => {
  it('judges each life of the stream on its own (FLUSHALL deletes it and its counter)', () => {
    const before = [1, 2].map((v) =>
      write({ key: 'wb:1', v, start: T0 + v * 10, end: T0 + v * 10 + 5, qv: v }),
    )
    const after = [3, 4].map((v) =>
      write({ key: 'wb:1', v, start: T0 + 1000 + v, end: T0 + 1005 + v, qv: v }),
    )
    const flush = (added: number) =>
      fault({
        fault: 'redis-flushall',
        start: T0 + 500,
        end: T0 + 501,
        outage: false,
        dataLoss: true,
        lossAt: T0 + 500,
        streamEntriesAdded: added,
      })
    const final = finalAt([['wb:1', 4]])
    // 3 entries for the 2 writes before the flush: one queued twice, though the counter restarted after it
    expect(kinds([...before, flush(3), ...after], { streamEntriesAdded: 2, final })).toEqual([
      'duplicate-enqueue',
    ])
    expect(kinds([...before, flush(2), ...after], { streamEntriesAdded: 2, final })).toEqual([])
  })

  it('reports a stream holding more entries than writes were sent', () => {
    const ws = [1, 2, 3].map((v) =>
      write({ key: 'wb:1', v, start: T0 + v * 10, end: T0 + v * 10 + 5, qv: v }),
    )
    expect(kinds(ws, { streamEntriesAdded: 4, final: finalAt([['wb:1', 3]]) })).toEqual(['duplicate-enqueue'])
    expect(kinds(ws, { streamEntriesAdded: 3, final: finalAt([['wb:1', 3]]) })).toEqual([])
  })
  it('reports one write applied twice by the store', () => {
    const log = [applied(1, 'wb:1', 1, T0, 10, 'w1'), applied(2, 'wb:1', 1, T0 + 5, 11, 'w1')]
    expect(kinds([], { applied: log, final: finalAt([['wb:1', 1]]) })).toEqual(['duplicate-enqueue'])
  })
})

describe('checker: attribution', () => {
  it('puts each violation in the phase of the fault during or after which it happened', () => {
    const f = fault({ id: 3, fault: 'redis-sigstop', start: T0 + 100, end: T0 + 200 })
    const r = check(
      input([
        f,
        read({ key: 'du:1', start: T0, end: T0 + 5, ok: false, code: 'X' }),
        read({ key: 'du:1', start: T0 + 9000, end: T0 + 9005, ok: false, code: 'X' }),
      ]),
    )
    expect(r.violations.map((v) => v.phase)).toEqual(['baseline', 'redis-sigstop'])
    expect(r.rows.map((row) => [row.phase, row.violations['failed-while-healthy']])).toEqual([
      ['baseline', 1],
      ['redis-sigstop', 1],
    ])
  })
})
