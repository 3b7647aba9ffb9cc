/** How queued values become strings. */
export interface Serializer {
  /** Encodes a value; throw for a value that cannot be encoded. */
  encode(value: unknown): string
  /** Decodes what `encode` produced. */
  decode(text: string): unknown
}

/** JSON, refusing what JSON would silently change (`undefined`, functions, symbols, bigint, non-finite numbers). */
export const jsonSerializer: Serializer = {
  encode(value) {
    const text = JSON.stringify(value, (_k, v: unknown) => {
      if (typeof v === 'bigint' || typeof v === 'function' || typeof v === 'symbol') {
        throw new TypeError(`cannot encode a ${typeof v}`)
      }
      if (typeof v === 'number' && !Number.isFinite(v))
        throw new TypeError('cannot encode a non-finite number')
      return v
    })
    if (typeof text !== 'string') throw new TypeError('cannot encode undefined')
    return text
  },
  decode: (text) => JSON.parse(text) as unknown,
}
