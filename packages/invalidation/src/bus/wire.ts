/**
 * The bus's message on the channel: JSON `{ i: instanceId, k?: keys, t?: tags }`. Encoding, and decoding
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
}

/** The payload of a message from `instanceId` (empty lists are left out). */
export function encodeMessage(instanceId: string, keys: readonly string[], tags: readonly string[]): string {
  const wire: Wire = { i: instanceId }
  if (keys.length > 0) wire.k = [...keys]
  if (tags.length > 0) wire.t = [...tags]
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
  return w as unknown as Wire
}
