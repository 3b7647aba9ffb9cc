/** Free loopback ports, never the same one twice in this process. */
import * as net from 'node:net'

const HANDED_KEY = Symbol.for('tierkit.testkit.handedPorts')

function handedPorts(): Set<number> {
  const g = globalThis as unknown as Record<symbol, Set<number> | undefined>
  let s = g[HANDED_KEY]
  if (!s) {
    s = new Set()
    g[HANDED_KEY] = s
  }
  return s
}

/**
 * Returns a TCP port that is free on `host` right now (the kernel picks it), never the same one twice in
 * this process. Another process can still take it before you bind it: callers retry on EADDRINUSE.
 * @param host loopback address to probe. @default '127.0.0.1'
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const handed = handedPorts()
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = net.createServer()
      srv.unref()
      srv.once('error', reject)
      srv.listen({ port: 0, host, exclusive: true }, () => {
        const addr = srv.address()
        const p = typeof addr === 'object' && addr ? addr.port : 0
        srv.close(() => resolve(p))
      })
    })
    if (port > 0 && !handed.has(port)) {
      handed.add(port)
      return port
    }
  }
  throw new Error('freePort: could not find a free port')
}
