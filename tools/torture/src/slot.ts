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
  if (fam === 'wb' && kind === 'write') out.push(queueStreamOf(key, runId, 1))
  return out
}

/** The write-behind queue shard of `key` (FNV-1a over the UTF-16 code units, modulo `shards`). */
export function shardOf(key: string, shards: number): number {
  if (shards <= 1) return 0
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return (h >>> 0) % shards
}

/**
 * The stream key that queues the writes of `key`: `wb:{q-<run>}:q` for a queue of one shard (the only layout
 * before write-behind had shards), shard i > 0 of a sharded queue under `wb:{q-<run>|i}:si:`.
 */
export function queueStreamOf(key: string, runId: string, shards: number): string {
  const i = shardOf(key, shards)
  return i === 0 ? `wb:{q-${runId}}:q` : `wb:{q-${runId}|${i}}:s${i}:q`
}
