/** Redis Cluster hash slots: CRC16 (XMODEM) of the key, or of its first non-empty `{hash tag}`, mod 16384. */

const TABLE: Uint16Array = (() => {
  const t = new Uint16Array(256)
  for (let i = 0; i < 256; i++) {
    let crc = i << 8
    for (let j = 0; j < 8; j++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
    t[i] = crc
  }
  return t
})()

/** CRC16-CCITT (XMODEM) over bytes. */
export function crc16(bytes: Uint8Array): number {
  let crc = 0
  for (let i = 0; i < bytes.length; i++) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ bytes[i]!) & 0xff]!
  return crc
}

/**
 * The cluster slot of a key, as Redis computes it (hash tags honoured).
 * @example keySlot('{user}:1') === keySlot('{user}:2')
 */
export function keySlot(key: string): number {
  const buf = Buffer.from(key, 'utf8')
  const open = buf.indexOf(0x7b) // {
  if (open >= 0) {
    const close = buf.indexOf(0x7d, open + 1) // }
    if (close > open + 1) return crc16(buf.subarray(open + 1, close)) & 16383
  }
  return crc16(buf) & 16383
}
