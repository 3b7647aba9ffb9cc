/** Reading Redis Stream replies: entry ids, field lists, and the entries of a write-behind queue. */

/** One parsed entry of the queue: a write (`s`) or a removal (`d`) of `key` at `version`. */
export interface Entry {
  id: string
  key: string
  op: 's' | 'd'
  payload: string
  version: number
}

/** A raw stream entry: its id and its fields (`undefined` when the reply held no field list). */
export type RawEntry = [string, Map<string, string> | undefined]

/** Compares two stream ids `ms-seq`. */
export function compareIds(a: string, b: string): number {
  const [am = '0', as = '0'] = a.split('-')
  const [bm = '0', bs = '0'] = b.split('-')
  return Number(am) - Number(bm) || Number(as) - Number(bs)
}

/** A flat `[field, value, ...]` reply as a map. */
export function fieldsOf(raw: unknown): Map<string, string> | undefined {
  if (!Array.isArray(raw)) return undefined
  const m = new Map<string, string>()
  for (let i = 0; i + 1 < raw.length; i += 2) m.set(String(raw[i]), String(raw[i + 1]))
  return m
}

/** Parses an XRANGE/XREADGROUP reply `[[id, [f, v, ...]], ...]`. */
export function entriesOf(raw: unknown): RawEntry[] {
  if (!Array.isArray(raw)) return []
  const out: RawEntry[] = []
  for (const e of raw) {
    if (Array.isArray(e) && typeof e[0] === 'string') out.push([e[0], fieldsOf(e[1])])
  }
  return out
}

/**
 * True for the errors Redis answers when the queue's stream or its consumer group is gone (FLUSHALL, a
 * restart without persistence, a replica promoted before it had them, `XGROUP DESTROY`).
 */
export function queueLost(e: unknown): boolean {
  return /NOGROUP|no such key|no longer exists/i.test(String((e as Error)?.message ?? e))
}
