/**
 * A minimal RESP2 client for the kit's own readiness checks and for tests that must talk to Redis without a
 * client library: one connection per call, optional AUTH, then one command.
 */
import * as net from 'node:net'

/** A Redis error reply (`-ERR ...`). */
export class RespError extends Error {
  override readonly name = 'RespError'
}

/** A decoded RESP2 reply: simple/bulk strings as strings, integers as numbers, nil as null, arrays. */
export type RespValue = string | number | null | RespError | RespValue[]

interface Parsed {
  value: RespValue
  next: number
}

/** Parses one reply starting at `offset`; `undefined` when the buffer does not hold a whole reply yet. */
export function parseResp(buf: Buffer, offset = 0): Parsed | undefined {
  if (offset >= buf.length) return undefined
  const lineEnd = buf.indexOf('\r\n', offset)
  if (lineEnd < 0) return undefined
  const type = String.fromCharCode(buf[offset]!)
  const line = buf.toString('utf8', offset + 1, lineEnd)
  const after = lineEnd + 2
  switch (type) {
    case '+':
      return { value: line, next: after }
    case '-':
      return { value: new RespError(line), next: after }
    case ':':
      return { value: Number(line), next: after }
    case '$': {
      const len = Number(line)
      if (len < 0) return { value: null, next: after }
      if (buf.length < after + len + 2) return undefined
      return { value: buf.toString('utf8', after, after + len), next: after + len + 2 }
    }
    case '*': {
      const n = Number(line)
      if (n < 0) return { value: null, next: after }
      const items: RespValue[] = []
      let pos = after
      for (let i = 0; i < n; i++) {
        const p = parseResp(buf, pos)
        if (!p) return undefined
        items.push(p.value)
        pos = p.next
      }
      return { value: items, next: pos }
    }
    default:
      throw new RespError(`unexpected RESP type byte ${JSON.stringify(type)}`)
  }
}

/** Encodes a command as a RESP array of bulk strings. */
export function encodeCommand(args: ReadonlyArray<string | number | Buffer>): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)]
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a))
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'))
  }
  return Buffer.concat(parts)
}

/** Options of {@link redisCommand}. */
export interface RedisCommandOptions {
  /** Sent with AUTH before the command. */
  password?: string
  /** Rejects when no full reply arrived in time. @default 2000 */
  timeoutMs?: number
}

/**
 * Opens a connection, optionally authenticates, sends one command and resolves with its reply
 * (a Redis error reply resolves as a {@link RespError} value; network failures reject).
 * @example await redisCommand({ host: '127.0.0.1', port }, ['PING']) // 'PONG'
 */
export function redisCommand(
  target: { host: string; port: number },
  args: ReadonlyArray<string | number | Buffer>,
  options: RedisCommandOptions = {},
): Promise<RespValue> {
  const { password, timeoutMs = 2000 } = options
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: target.host, port: target.port })
    let buf: Buffer = Buffer.alloc(0)
    let expected = password === undefined ? 1 : 2
    let settled = false
    const finish = (err: Error | undefined, value?: RespValue): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      sock.destroy()
      if (err) reject(err)
      else resolve(value as RespValue)
    }
    const timer = setTimeout(() => finish(new Error(`redisCommand ${String(args[0])}: timed out`)), timeoutMs)
    sock.on('error', (e) => finish(e))
    sock.on('close', () => finish(new Error(`redisCommand ${String(args[0])}: connection closed`)))
    sock.on('data', (chunk) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk])
      try {
        let p = parseResp(buf)
        while (p) {
          buf = buf.subarray(p.next)
          expected--
          if (expected === 0) return finish(undefined, p.value)
          // AUTH reply
          if (p.value instanceof RespError) return finish(undefined, p.value)
          p = parseResp(buf)
        }
      } catch (e) {
        finish(e as Error)
      }
    })
    const payload =
      password === undefined
        ? encodeCommand(args)
        : Buffer.concat([encodeCommand(['AUTH', password]), encodeCommand(args)])
    sock.write(payload)
  })
}
