/** Redis Cluster hash slots (CRC16/XMODEM of the key or of its `{hash tag}`, mod 16384), written here so that the
 * checker does not trust the package under test for it. */

const TABLE = (() => {
  const t = new Uint16Array(256)
  for (let i = 0; i < 256; i++) {
    let c = i << 8
    for (let j = 0; j < 8; j++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff
    t[i] = c
  }
  return t
})()

function crc16(buf: Buffer): number {
  let crc = 0
  for (const b of buf) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ b) & 0xff]!
  return crc
}

/** The hash slot of a Redis key. */
export function slotOf(key: string): number {
  const open = key.indexOf('{')
  if (open >= 0) {
    const close = key.indexOf('}', open + 1)
    if (close > open + 1) key = key.slice(open + 1, close)
  }
  return crc16(Buffer.from(key)) % 16384
}

/** The Redis keys a read or a write of `key` touches, for deciding which Cluster outage affects it. */
export function redisKeysOf(key: string, kind: 'read' | 'write', runId: string): string[] {
  const fam = key.slice(0, key.indexOf(':'))
  if (fam === 'rd') return [`ra:2:rd:v:${key}`]
  const out = [`ra:5:items:v:${key}`]
  if (kind === 'read' && fam !== 'tg') out.push(`ra:5:items:l:${key}`)
  if (fam === 'tg') out.push(`tk:{tg-${runId}}:x`)
  if (fam === 'wb' && kind === 'write') out.push(`wb:{q-${runId}}:q`)
  return out
}
