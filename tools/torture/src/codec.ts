/**
 * A canonical typed encoding of the workload's values (Map, Set and `undefined` properties kept), so that the
 * store can keep exactly what it was given and the checker can compare it with what was acknowledged.
 */

/** The value every key holds: its logical version, the id of the write, who wrote it. */
export interface Item {
  v: number
  w: string
  by: string
  /** the type-fidelity probe (write-behind with `typeProbe`) */
  m?: Map<string, number>
  s?: Set<string>
  u?: undefined
}

function toTagged(x: unknown): unknown {
  if (x instanceof Map) return { $map: [...x.entries()].map(([k, v]) => [toTagged(k), toTagged(v)]) }
  if (x instanceof Set) return { $set: [...x.values()].map(toTagged) }
  if (x === undefined) return { $undef: 1 }
  if (Array.isArray(x)) return x.map(toTagged)
  if (typeof x === 'object' && x !== null) {
    const o: Record<string, unknown> = {}
    for (const k of Object.keys(x).sort()) o[k] = toTagged((x as Record<string, unknown>)[k])
    return o
  }
  return x
}

function fromTagged(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(fromTagged)
  if (typeof x === 'object' && x !== null) {
    const o = x as Record<string, unknown>
    if (Array.isArray(o.$map))
      return new Map((o.$map as unknown[][]).map(([k, v]) => [fromTagged(k), fromTagged(v)]))
    if (Array.isArray(o.$set)) return new Set((o.$set as unknown[]).map(fromTagged))
    if (o.$undef === 1 && Object.keys(o).length === 1) return undefined
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(o)) out[k] = fromTagged(v)
    return out
  }
  return x
}

/** Canonical text of a value (sorted keys; Map, Set and undefined tagged). */
export function encodeTyped(value: unknown): string {
  return JSON.stringify(toTagged(value))
}

/** The inverse of {@link encodeTyped}. */
export function decodeTyped(text: string): unknown {
  return fromTagged(JSON.parse(text))
}
