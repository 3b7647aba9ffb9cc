/**
 * The stored form of a tagged value in the cache,
 * `{ __tierkitTagged: 1, v: value, t: { [tag]: version }, s?: { [tag]: stamp }, x?: expiredAt }`: wrapping a
 * value with the versions of its tags, and reading one back (anything else is not a tagged value).
 */

const MARK = '__tierkitTagged'

/**
 * The stored form of a tagged value. `t` holds the hard version of each tag, `s` the soft stamp of each tag
 * that had one (an older wrapper has none: 0), `x` the time (epoch ms) of an `expire(key)` of this very
 * value. The tag names are own data properties (defined, never assigned, so `__proto__` is a key like any
 * other), read back with `Object.keys` + own descriptors.
 */
interface Tagged {
  [MARK]: 1
  v: unknown
  t: Record<string, number>
  s?: Record<string, number>
  x?: number
}

/** A wrapper read back. */
export interface Unwrapped {
  readonly value: unknown
  readonly tags: string[]
  readonly versions: number[]
  /** Soft stamp per tag (0: none). */
  readonly stamps: number[]
  /** When `expire(key)` made this value stale (epoch ms), else 0. */
  readonly expiredAt: number
  /** The map generation at which it was last found fresh (see `LocalVersions.freshFor`). */
  checkedGeneration: number
  /** Until when that finding holds (ms). */
  checkedUntil: number
}

function own(o: object, k: string): unknown {
  return Object.getOwnPropertyDescriptor(o, k)?.value as unknown
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x)
}

function isStamp(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
}

/**
 * Wrappers already read back: an L1 hands out the same object on every hit, and a wrapper is never changed
 * once made (this package makes a new one for every store), so it is read once. What was read is kept on the
 * wrapper itself under a symbol (not enumerable, never serialised: a property read, where a WeakMap lookup
 * cost about as much as the rest of an L1 hit); a frozen wrapper (an L1 that freezes its values) is
 * remembered in a WeakMap instead. Objects that are not wrappers are never touched.
 */
const READ_BACK = Symbol('tierkit.tags.readBack')
const frozen = new WeakMap<object, Unwrapped>()

/** The tags and versions of a stored wrapper, or `undefined` when `x` is not one (any other value is not tagged). */
export function unwrap(x: unknown): Unwrapped | undefined {
  if (typeof x !== 'object' || x === null) return undefined
  const known = (x as { [READ_BACK]?: Unwrapped })[READ_BACK]
  if (known !== undefined) return known
  if (Array.isArray(x)) return undefined
  const extensible = Object.isExtensible(x)
  if (!extensible) {
    const seen = frozen.get(x)
    if (seen !== undefined) return seen
  }
  const w = read(x as Record<string, unknown>)
  if (w === undefined) return undefined
  if (extensible) Object.defineProperty(x, READ_BACK, { value: w })
  else frozen.set(x, w)
  return w
}

function read(x: Record<string, unknown>): Unwrapped | undefined {
  if (!Object.hasOwn(x, MARK) || x[MARK] !== 1 || !Object.hasOwn(x, 'v') || !Object.hasOwn(x, 't')) {
    return undefined
  }
  const t = own(x, 't')
  const s = Object.hasOwn(x, 's') ? own(x, 's') : {}
  const expiredAt = Object.hasOwn(x, 'x') ? own(x, 'x') : 0
  if (!isRecord(t) || !isRecord(s) || !isStamp(expiredAt)) return undefined
  const tags = Object.keys(t)
  if (tags.length === 0) return undefined
  const versions: number[] = []
  const stamps: number[] = []
  for (const tag of tags) {
    const v = own(t, tag)
    if (!isStamp(v) || v < 1) return undefined
    versions.push(v)
    const st = Object.hasOwn(s, tag) ? own(s, tag) : 0
    if (!isStamp(st)) return undefined
    stamps.push(st)
  }
  return { value: own(x, 'v'), tags, versions, stamps, expiredAt, checkedGeneration: -1, checkedUntil: 0 }
}

/** A record of own data properties (defined, not assigned: `r['__proto__'] = n` would set nothing). */
function record(tags: readonly string[], values: readonly number[]): Record<string, number> {
  const r: Record<string, number> = {}
  tags.forEach((tag, i) => {
    Object.defineProperty(r, tag, { value: values[i], enumerable: true, writable: true, configurable: true })
  })
  return r
}

/** The wrapper of `value` stored under `versions` and `stamps` (`expiredAt`: an `expire(key)` of it). */
export function wrap(
  value: unknown,
  tags: readonly string[],
  versions: readonly number[],
  stamps: readonly number[],
  expiredAt = 0,
): Tagged {
  const w: Tagged = { [MARK]: 1, v: value, t: record(tags, versions) }
  if (stamps.some((s) => s > 0)) w.s = record(tags, stamps)
  if (expiredAt > 0) w.x = expiredAt
  return w
}
