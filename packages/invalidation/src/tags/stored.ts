/**
 * The stored form of a tagged value in the cache, `{ __tierkitTagged: 1, v: value, t: { [tag]: version } }`:
 * wrapping a value with the versions of its tags, and reading one back (anything else is not a tagged value).
 */

const MARK = '__tierkitTagged'

/**
 * The stored form of a tagged value: `{ __tierkitTagged: 1, v: value, t: { [tag]: version } }`. The tag
 * names are own data properties (defined, never assigned, so `__proto__` is a key like any other), read
 * back with `Object.keys` + own descriptors.
 */
interface Tagged {
  [MARK]: 1
  v: unknown
  t: Record<string, number>
}

/** The tags and versions of a stored wrapper, or `undefined` when `x` is not one (any other value is not tagged). */
export function unwrap(x: unknown): { value: unknown; tags: string[]; versions: number[] } | undefined {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return undefined
  const w = x as Record<string, unknown>
  if (!Object.hasOwn(w, MARK) || w[MARK] !== 1 || !Object.hasOwn(w, 'v') || !Object.hasOwn(w, 't')) {
    return undefined
  }
  const t = Object.getOwnPropertyDescriptor(w, 't')?.value as unknown
  if (typeof t !== 'object' || t === null || Array.isArray(t)) return undefined
  const tags = Object.keys(t)
  if (tags.length === 0) return undefined
  const versions: number[] = []
  for (const tag of tags) {
    const v = Object.getOwnPropertyDescriptor(t, tag)?.value as unknown
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) return undefined
    versions.push(v)
  }
  return { value: Object.getOwnPropertyDescriptor(w, 'v')?.value, tags, versions }
}

export function wrap(value: unknown, tags: readonly string[], versions: readonly number[]): Tagged {
  const t: Record<string, number> = {}
  tags.forEach((tag, i) => {
    // defined, not assigned: `t['__proto__'] = n` would set nothing
    Object.defineProperty(t, tag, {
      value: versions[i],
      enumerable: true,
      writable: true,
      configurable: true,
    })
  })
  return { [MARK]: 1, v: value, t }
}
