/**
 * `startDragonflyStub`: a loopback TCP server that answers the way Dragonfly documents for what a client sends
 * when it connects and when tierkit turns tracking on (there is no Dragonfly server on this machine). `INFO`
 * reports `redis_version:7.4.0` and `dragonfly_version:df-v1.40.1` (as `INFO server` of Dragonfly 1.x does);
 * `CLIENT TRACKING` accepts only `ON|OFF [OPTIN] [OPTOUT] [NOLOOP]` and only on a RESP3 connection
 * (Dragonfly's CLIENT TRACKING page: "only available when the RESP3 protocol is used"; no REDIRECT, BCAST or
 * PREFIX); `CLIENT TRACKINGINFO` is unknown. Also: PING, HELLO 2|3, SELECT, CLIENT ID|SETNAME|SETINFO, GET (nil),
 * SET (OK), SUBSCRIBE, QUIT; anything else is an unknown-command error. Every command received is kept in
 * `commands`. Stopped at the end of the test file like the kit's other servers.
 */
import * as net from 'node:net'
import { trackClosable } from './processes.js'
import { parseResp, type RespValue } from './redis-resp.js'

/** A running stub. */
export interface DragonflyStub {
  readonly host: string
  readonly port: number
  /** `redis://127.0.0.1:PORT`. */
  readonly url: string
  /** Every command received so far, each as its arguments (upper-cased command name first). */
  readonly commands: string[][]
  close(): Promise<void>
}

/** The `INFO` text (the server section, CRLF-separated, as Dragonfly sends it). */
export const DRAGONFLY_INFO: string = [
  '# Server',
  'redis_version:7.4.0',
  'dragonfly_version:df-v1.40.1',
  'redis_mode:standalone',
  'arch_bits:64',
  'thread_count:2',
  'tcp_port:6379',
  '',
].join('\r\n')

const bulk = (s: string): string => `$${Buffer.byteLength(s)}\r\n${s}\r\n`
const err = (s: string): string => `-${s}\r\n`

interface Conn {
  id: number
  resp: 2 | 3
}

/** HELLO's reply: a map in RESP3, a flat array in RESP2. */
function hello(c: Conn): string {
  const fields: Array<[string, string]> = [
    ['server', bulk('redis')],
    ['version', bulk('7.4.0')],
    ['proto', `:${c.resp}\r\n`],
    ['id', `:${c.id}\r\n`],
    ['mode', bulk('standalone')],
    ['role', bulk('master')],
  ]
  const body = fields.map(([k, v]) => bulk(k) + v).join('')
  return c.resp === 3 ? `%${fields.length}\r\n${body}` : `*${fields.length * 2}\r\n${body}`
}

function tracking(c: Conn, args: string[]): string {
  const mode = (args[2] ?? '').toUpperCase()
  if (mode !== 'ON' && mode !== 'OFF') return err('ERR syntax error')
  for (const a of args.slice(3)) {
    if (!['OPTIN', 'OPTOUT', 'NOLOOP'].includes(a.toUpperCase())) return err('ERR syntax error')
  }
  if (mode === 'ON' && c.resp !== 3) return err('ERR Client tracking is only supported with RESP3')
  return '+OK\r\n'
}

function client(c: Conn, args: string[]): string {
  const sub = (args[1] ?? '').toUpperCase()
  if (sub === 'ID') return `:${c.id}\r\n`
  if (sub === 'SETNAME' || sub === 'SETINFO') return '+OK\r\n'
  if (sub === 'TRACKING') return tracking(c, args)
  return err(`ERR Unknown subcommand or wrong number of arguments for '${args[1] ?? ''}'. Try CLIENT HELP.`)
}

function answer(c: Conn, args: string[]): string {
  const name = (args[0] ?? '').toUpperCase()
  switch (name) {
    case 'PING':
      return '+PONG\r\n'
    case 'HELLO': {
      const v = Number(args[1] ?? c.resp)
      if (v !== 2 && v !== 3) return err('NOPROTO unsupported protocol version')
      c.resp = v
      return hello(c)
    }
    case 'INFO':
      return c.resp === 3
        ? `=${DRAGONFLY_INFO.length + 4}\r\ntxt:${DRAGONFLY_INFO}\r\n`
        : bulk(DRAGONFLY_INFO)
    case 'SELECT':
    case 'SET':
      return '+OK\r\n'
    case 'GET':
      return c.resp === 3 ? '_\r\n' : '$-1\r\n'
    case 'CLIENT':
      return client(c, args)
    case 'SUBSCRIBE':
      return args
        .slice(1)
        .map((ch, i) => `${c.resp === 3 ? '>' : '*'}3\r\n${bulk('subscribe')}${bulk(ch)}:${i + 1}\r\n`)
        .join('')
    case 'QUIT':
      return '+OK\r\n'
    default:
      return err(`ERR unknown command '${args[0] ?? ''}'`)
  }
}

const asArgs = (v: RespValue): string[] => (Array.isArray(v) ? v.map((x) => String(x)) : [String(v)])

/** Starts the stub on a free loopback port. */
export async function startDragonflyStub(): Promise<DragonflyStub> {
  const commands: string[][] = []
  const sockets = new Set<net.Socket>()
  let ids = 0
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    const c: Conn = { id: ++ids, resp: 2 }
    let buf = Buffer.alloc(0)
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk])
      for (;;) {
        const parsed = parseResp(buf)
        if (parsed === undefined) break
        buf = buf.subarray(parsed.next)
        const args = asArgs(parsed.value)
        commands.push([(args[0] ?? '').toUpperCase(), ...args.slice(1)])
        socket.write(answer(c, args))
        if ((args[0] ?? '').toUpperCase() === 'QUIT') socket.end()
      }
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const port = (server.address() as net.AddressInfo).port
  let closed: Promise<void> | undefined
  const close = (): Promise<void> => {
    closed ??= new Promise((resolve) => {
      for (const s of sockets) s.destroy()
      server.close(() => resolve())
    })
    return closed
  }
  const untrack = trackClosable({ name: `dragonfly stub :${port}`, close })
  return {
    host: '127.0.0.1',
    port,
    url: `redis://127.0.0.1:${port}`,
    commands,
    close: () => {
      untrack()
      return close()
    },
  }
}
