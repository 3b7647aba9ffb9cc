/**
 * The family's one serializer, used by redis-aside (Redis values) and invalidation (the write-behind queue), so a
 * value round-trips identically through cache, queue and database: exact round trips for JSON values plus `undefined`, `NaN`/`±Infinity`/`-0`,
 * BigInt, Date, Buffer, Uint8Array, Map and Set, at any depth. Plain JSON values take a fast path
 * (`J` + JSON); anything else a tagged form (`T` + JSON where arrays are `["a", ...items]` and the other
 * types are `[tag, data]`). Decoding never assigns through `__proto__`: such keys come back as own data
 * properties, so a hostile payload cannot pollute a prototype.
 */
import { CorruptPayloadError, UnserializableValueError } from './errors.js'

/** Turns values into strings (for Redis, a queue) and back. A custom one must round-trip what you store. */
export interface Serializer {
  /**
   * Encodes a value.
   * @throws UnserializableValueError (or any error) when the value cannot be encoded exactly.
   */
  encode(value: unknown): string
  /**
   * Decodes a string produced by `encode`.
   * @throws any error when the payload is not valid; the cache then treats the entry as a corrupt miss.
   */
  decode(payload: string): unknown
}

const MAX_FAST_DEPTH = 64
const objectProto = Object.prototype
const arrayProto = Array.prototype

function isPlainObject(v: object): boolean {
  const p = Object.getPrototypeOf(v)
  return p === objectProto || p === null
}

/** True when `JSON.parse(JSON.stringify(v))` gives back exactly `v`. */
function isPlainJson(v: unknown, depth: number): boolean {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return true
    case 'number':
      return Number.isFinite(v) && !Object.is(v, -0)
    case 'object': {
      if (v === null) return true
      if (depth > MAX_FAST_DEPTH) return false
      if (Array.isArray(v)) {
        if (Object.getPrototypeOf(v) !== arrayProto) return false
        // indices and `length` only (a named property, a symbol: the checked path refuses it)
        if (Reflect.ownKeys(v).length !== v.length + 1) return false
        for (let i = 0; i < v.length; i++) {
          if (!(i in v) || !isPlainJson(v[i], depth + 1)) return false
        }
        return true
      }
      if (Object.getPrototypeOf(v) !== objectProto) return false
      let seen = 0
      for (const k in v) {
        if (!Object.hasOwn(v, k)) return false // inherited enumerable keys: take the checked path
        const d = Object.getOwnPropertyDescriptor(v, k)!
        if (d.get !== undefined || d.set !== undefined) return false // an accessor: refused on the checked path
        if (!isPlainJson(d.value, depth + 1)) return false
        seen++
      }
      // every own key was enumerable and string-keyed (no symbol, no hidden property)
      return Reflect.ownKeys(v).length === seen
    }
    default:
      return false
  }
}

function describe(v: unknown): string {
  if (typeof v === 'function') return 'a function'
  if (typeof v === 'symbol') return 'a symbol'
  const name = (v as object)?.constructor?.name
  return name ? `an instance of ${name}` : 'an unsupported object'
}

/**
 * Refuses what encoding would change silently: a symbol key, a non-enumerable property, an accessor (only its
 * getter's value would be kept), a named property of an array.
 */
function checkOwnKeys(v: object, path: string, isArray: boolean): void {
  for (const k of Reflect.ownKeys(v)) {
    if (typeof k === 'symbol') throw new UnserializableValueError(`${path}[${String(k)}]`, 'a symbol key')
    if (isArray && (k === 'length' || isIndex(k, (v as unknown[]).length))) continue
    const at = `${path}.${k}`
    if (isArray) throw new UnserializableValueError(at, 'a named property of an array')
    const d = Object.getOwnPropertyDescriptor(v, k)!
    if (!d.enumerable) throw new UnserializableValueError(at, 'a non-enumerable property')
    if (d.get !== undefined || d.set !== undefined)
      throw new UnserializableValueError(at, 'an accessor property')
  }
}

function isIndex(k: string, length: number): boolean {
  const n = Number(k)
  return String(n >>> 0) === k && n < length
}

function tag(v: unknown, path: string, seen: Set<object>): unknown {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v
    case 'number':
      if (Number.isFinite(v) && !Object.is(v, -0)) return v
      return ['n', Object.is(v, -0) ? '-0' : String(v)]
    case 'undefined':
      return ['u']
    case 'bigint':
      return ['b', v.toString()]
    case 'object': {
      if (v === null) return null
      if (seen.has(v)) throw new UnserializableValueError(path, 'a circular reference')
      seen.add(v)
      try {
        if (Array.isArray(v) && Object.getPrototypeOf(v) === arrayProto) {
          checkOwnKeys(v, path, true)
          const out: unknown[] = new Array(v.length + 1)
          out[0] = 'a'
          for (let i = 0; i < v.length; i++) {
            if (!(i in v)) throw new UnserializableValueError(`${path}[${i}]`, 'a hole of a sparse array')
            out[i + 1] = tag(v[i], `${path}[${i}]`, seen)
          }
          return out
        }
        if (v instanceof Date) {
          const t = v.getTime()
          return ['d', Number.isNaN(t) ? null : t]
        }
        if (Buffer.isBuffer(v)) return ['B', v.toString('base64')]
        if (v instanceof Uint8Array && Object.getPrototypeOf(v) === Uint8Array.prototype) {
          return ['U', Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64')]
        }
        if (v instanceof Map && Object.getPrototypeOf(v) === Map.prototype) {
          const out: unknown[] = ['m']
          let i = 0
          for (const [k, val] of v) {
            out.push(tag(k, `${path}<key ${i}>`, seen), tag(val, `${path}<value ${i}>`, seen))
            i++
          }
          return out
        }
        if (v instanceof Set && Object.getPrototypeOf(v) === Set.prototype) {
          const out: unknown[] = ['s']
          let i = 0
          for (const item of v) out.push(tag(item, `${path}<item ${i++}>`, seen))
          return out
        }
        if (isPlainObject(v)) {
          checkOwnKeys(v, path, false)
          const out = Object.create(null) as Record<string, unknown>
          for (const k of Object.keys(v))
            out[k] = tag((v as Record<string, unknown>)[k], `${path}.${k}`, seen)
          return out
        }
        throw new UnserializableValueError(path, describe(v))
      } finally {
        seen.delete(v)
      }
    }
    default:
      throw new UnserializableValueError(path, describe(v))
  }
}

function setOwn(target: Record<string, unknown>, k: string, value: unknown): void {
  if (k === '__proto__') {
    Object.defineProperty(target, k, { value, enumerable: true, writable: true, configurable: true })
  } else {
    target[k] = value
  }
}

function untag(x: unknown): unknown {
  if (x === null || typeof x !== 'object') return x
  if (Array.isArray(x)) {
    const t = x[0]
    switch (t) {
      case 'a': {
        const out = new Array(x.length - 1)
        for (let i = 1; i < x.length; i++) out[i - 1] = untag(x[i])
        return out
      }
      case 'u':
        return undefined
      case 'n': {
        const s = x[1]
        if (s === '-0') return -0
        if (s === 'NaN') return Number.NaN
        if (s === 'Infinity') return Number.POSITIVE_INFINITY
        if (s === '-Infinity') return Number.NEGATIVE_INFINITY
        throw new CorruptPayloadError(`bad number tag ${JSON.stringify(s)}`)
      }
      case 'b':
        if (typeof x[1] !== 'string' || !/^-?\d+$/.test(x[1])) throw new CorruptPayloadError('bad bigint tag')
        return BigInt(x[1])
      case 'd':
        if (x[1] !== null && typeof x[1] !== 'number') throw new CorruptPayloadError('bad date tag')
        return new Date(x[1] === null ? Number.NaN : x[1])
      case 'B':
        if (typeof x[1] !== 'string') throw new CorruptPayloadError('bad buffer tag')
        return Buffer.from(x[1], 'base64')
      case 'U': {
        if (typeof x[1] !== 'string') throw new CorruptPayloadError('bad Uint8Array tag')
        const b = Buffer.from(x[1], 'base64')
        return new Uint8Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength))
      }
      case 'm': {
        if ((x.length - 1) % 2 !== 0) throw new CorruptPayloadError('bad map tag')
        const m = new Map<unknown, unknown>()
        for (let i = 1; i < x.length; i += 2) m.set(untag(x[i]), untag(x[i + 1]))
        return m
      }
      case 's': {
        const s = new Set<unknown>()
        for (let i = 1; i < x.length; i++) s.add(untag(x[i]))
        return s
      }
      default:
        throw new CorruptPayloadError(`unknown tag ${JSON.stringify(t)}`)
    }
  }
  const out: Record<string, unknown> = {}
  for (const k of Object.keys(x)) setOwn(out, k, untag((x as Record<string, unknown>)[k]))
  return out
}

/**
 * The family's exact {@link Serializer} (see the module comment for the format).
 * @throws UnserializableValueError from `encode` (with the `path` and the `reason`) for what it cannot encode
 *   exactly; CorruptPayloadError from `decode`.
 * @example
 * ```ts
 * const s = exactSerializer
 * s.decode(s.encode(new Map([[1n, new Date(0)]]))) // Map { 1n => 1970-01-01T00:00:00.000Z }
 * ```
 */
export const exactSerializer: Serializer = {
  encode(value: unknown): string {
    if (isPlainJson(value, 0)) return `J${JSON.stringify(value)}`
    try {
      return `T${JSON.stringify(tag(value, '$', new Set()))}`
    } catch (e) {
      if (e instanceof RangeError) {
        throw new UnserializableValueError('$', 'a value nested too deeply to encode', undefined, {
          cause: e,
        })
      }
      throw e
    }
  },
  decode(payload: string): unknown {
    if (typeof payload !== 'string') throw new CorruptPayloadError('not a string')
    const kind = payload.charCodeAt(0)
    if (kind !== 74 /* J */ && kind !== 84 /* T */) throw new CorruptPayloadError('unknown serializer format')
    let parsed: unknown
    try {
      parsed = JSON.parse(payload.slice(1))
    } catch (e) {
      throw new CorruptPayloadError('not JSON', { cause: e })
    }
    return kind === 74 ? parsed : untag(parsed)
  },
}
