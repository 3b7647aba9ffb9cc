/**
 * What `exactSerializer` of `@tierkit/contracts` would change without refusing it: it encodes the own
 * enumerable string-keyed data of plain objects and the elements of arrays, so a symbol key, a non-enumerable
 * property, an accessor (only its getter's value is kept), a hole of a sparse array or a named property of an
 * array would reach the database different from what the cache holds. Write-behind refuses those with
 * `UnserializableValueError` (with the `path`), as it refused them before with its JSON encoding. Everything
 * else (cycles, class instances, functions) is refused by the serializer itself.
 */
import { UnserializableValueError } from '@tierkit/contracts'

const objectProto = Object.prototype
const arrayProto = Array.prototype

function pathOf(path: string, k: string | symbol): string {
  return typeof k === 'symbol' ? `${path}[${String(k)}]` : `${path}.${k}`
}

/**
 * Throws `UnserializableValueError` (for `key`) at the first place in `value` the exact serializer would change
 * silently; returns when there is none.
 */
export function assertNoSilentChange(key: string, value: unknown): void {
  const ancestors = new Set<object>()
  const visit = (v: unknown, path: string): void => {
    if (typeof v !== 'object' || v === null || ancestors.has(v)) return // a cycle: the serializer refuses it
    ancestors.add(v)
    try {
      if (v instanceof Map && Object.getPrototypeOf(v) === Map.prototype) {
        let i = 0
        for (const [k, val] of v) {
          visit(k, `${path}<key ${i}>`)
          visit(val, `${path}<value ${i}>`)
          i++
        }
        return
      }
      if (v instanceof Set && Object.getPrototypeOf(v) === Set.prototype) {
        let i = 0
        for (const item of v) visit(item, `${path}<item ${i++}>`)
        return
      }
      const proto = Object.getPrototypeOf(v) as unknown
      const isArray = Array.isArray(v) && proto === arrayProto
      if (!isArray && proto !== objectProto && proto !== null) return // Date, Buffer, ...: the serializer decides
      for (const k of Reflect.ownKeys(v)) {
        if (isArray && k === 'length') continue
        const d = Object.getOwnPropertyDescriptor(v, k)
        if (d === undefined) continue
        const at =
          isArray && typeof k === 'string' && isIndex(k, (v as unknown[]).length)
            ? `${path}[${k}]`
            : pathOf(path, k)
        if (typeof k === 'symbol')
          throw new UnserializableValueError(at, 'a symbol key (the serializer drops it)', key)
        if (isArray && !isIndex(k, (v as unknown[]).length)) {
          throw new UnserializableValueError(
            at,
            'a named property of an array (the serializer drops it)',
            key,
          )
        }
        if (!d.enumerable) {
          throw new UnserializableValueError(at, 'a non-enumerable property (the serializer drops it)', key)
        }
        if (d.get !== undefined || d.set !== undefined) {
          throw new UnserializableValueError(
            at,
            'an accessor property (the serializer keeps only what its getter returns)',
            key,
          )
        }
        visit(d.value, at)
      }
      if (isArray) {
        const a = v as unknown[]
        for (let i = 0; i < a.length; i++) {
          if (!Object.hasOwn(a, i)) {
            throw new UnserializableValueError(
              `${path}[${i}]`,
              'a hole (the serializer turns it into undefined)',
              key,
            )
          }
        }
      }
    } finally {
      ancestors.delete(v)
    }
  }
  visit(value, '$')
}

function isIndex(k: string, length: number): boolean {
  const n = Number(k)
  return String(n >>> 0) === k && n < length
}
