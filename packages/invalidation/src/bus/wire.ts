/**
 * The bus's message on the channel: JSON `{ i: instanceId, k?: keys, t?: tags, v?: versions, s?: stamps }`
 * (`v` and `s`: the hard versions and soft stamps of `t` after an invalidation, index for index). Encoding, and decoding
 * that refuses anything else (a payload that is not a bus message is reported and ignored).
 */

/** A message as it travels. */
export interface Wire {
  /** The sender's instance id. */
  i: string
  /** Keys to evict. */
  k?: string[]
  /** Tags that were invalidated. */
  t?: string[]
  /** The tags' hard versions after the invalidation (as many as `t`). */
  v?: number[]
  /** The tags' soft stamps after the invalidation (as many as `t`). */
  s?: number[]
}

/** The payload of a message from `instanceId` (empty lists are left out). */
export function encodeMessage(
  instanceId: string,
  keys: readonly string[],
  tags: readonly string[],
  versions?: { readonly hard: readonly number[]; readonly soft: readonly number[] },
): string {
  const wire: Wire = { i: instanceId }
  if (keys.length > 0) wire.k = [...keys]
  if (tags.length > 0) wire.t = [...tags]
  if (tags.length > 0 && versions !== undefined) {
    wire.v = [...versions.hard]
    wire.s = [...versions.soft]
  }
  return JSON.stringify(wire)
}

/** The message in `payload`, or `undefined` when it is not one. */
export function decodeMessage(payload: string): Wire | undefined {
  let m: unknown
  try {
    m = JSON.parse(payload)
  } catch {
    return undefined
  }
  if (typeof m !== 'object' || m === null) return undefined
  const w = m as Record<string, unknown>
  if (typeof w.i !== 'string') return undefined
  const strings = (v: unknown): boolean =>
    v === undefined || (Array.isArray(v) && v.every((x) => typeof x === 'string'))
  if (!strings(w.k) || !strings(w.t)) return undefined
  const n = Array.isArray(w.t) ? w.t.length : 0
  const versions = (v: unknown): boolean =>
    v === undefined ||
    (Array.isArray(v) && v.length === n && v.every((x) => Number.isSafeInteger(x) && (x as number) >= 0))
  if (!versions(w.v) || !versions(w.s) || (w.v === undefined) !== (w.s === undefined)) {
    // versions that do not fit their tags: the tags are still applied, without versions
    delete w.v
    delete w.s
  }
  return w as unknown as Wire
}
