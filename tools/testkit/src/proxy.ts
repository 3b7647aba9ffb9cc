/** `delayProxy`: a TCP proxy on loopback that adds latency, drops, refuses or black-holes connections. */
import * as net from 'node:net'
import { performance } from 'node:perf_hooks'
import { trackClosable } from './processes.js'

/**
 * What the proxy does with NEW connections:
 * - `pass`: forward to the target (with the configured latency);
 * - `refuse`: stop listening, so connecting fails with ECONNREFUSED;
 * - `blackhole`: accept the connection but never forward or answer anything (a hung server).
 * Existing connections are not affected; use `dropConnections()` for those.
 */
export type ProxyMode = 'pass' | 'refuse' | 'blackhole'

/** Options of {@link delayProxy}. */
export interface DelayProxyOptions {
  /** Latency added in EACH direction, in milliseconds (a round trip gets twice this). @default 0 */
  latencyMs?: number
  /** Initial mode. @default 'pass' */
  mode?: ProxyMode
}

/** A running proxy started by {@link delayProxy}. */
export interface DelayProxy {
  /** Always `127.0.0.1`. */
  readonly host: string
  /** The port clients connect to (kept across mode changes). */
  readonly port: number
  /** Latency added in each direction, in ms. */
  readonly latencyMs: number
  /** Current mode for new connections. */
  readonly mode: ProxyMode
  /** Number of client connections currently open through the proxy. */
  readonly connections: number
  /** Total number of client connections accepted so far. */
  readonly accepted: number
  /** Changes the latency for bytes received from now on (order is always preserved). */
  setLatency(ms: number): void
  /** Changes what happens to new connections. */
  setMode(mode: ProxyMode): Promise<void>
  /** Destroys every open connection (both sides) at once; returns how many client connections it dropped. */
  dropConnections(): number
  /** Drops every connection and stops listening. Idempotent. */
  close(): Promise<void>
}

function checkLatency(ms: unknown): number {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
    throw new TypeError('delayProxy: latencyMs must be a finite number >= 0')
  }
  return ms
}

/** Forwards chunks to `out` after a delay, never reordering them. */
class DelayedPipe {
  private readonly queue: Array<{ due: number; buf: Buffer }> = []
  private timer: NodeJS.Timeout | undefined
  private lastDue = 0
  private onDrained: (() => void) | undefined

  constructor(
    private readonly out: net.Socket,
    private readonly latency: () => number,
  ) {}

  push(buf: Buffer): void {
    const lat = this.latency()
    if (lat === 0 && this.queue.length === 0) {
      this.out.write(buf)
      return
    }
    const due = Math.max(performance.now() + lat, this.lastDue)
    this.lastDue = due
    this.queue.push({ due, buf })
    this.schedule()
  }

  /** Calls `fn` once everything queued so far has been written. */
  whenDrained(fn: () => void): void {
    if (this.queue.length === 0) fn()
    else this.onDrained = fn
  }

  clear(): void {
    this.queue.length = 0
    this.onDrained = undefined
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
  }

  private schedule(): void {
    if (this.timer || this.queue.length === 0) return
    const wait = this.queue[0]!.due - performance.now()
    this.timer = setTimeout(() => this.flush(), Math.max(1, Math.ceil(wait)))
  }

  private flush(): void {
    this.timer = undefined
    const now = performance.now()
    while (this.queue.length > 0 && this.queue[0]!.due <= now) {
      const item = this.queue.shift()!
      if (!this.out.destroyed) this.out.write(item.buf)
    }
    if (this.queue.length > 0) this.schedule()
    else if (this.onDrained) {
      const fn = this.onDrained
      this.onDrained = undefined
      fn()
    }
  }
}

function checkTarget(target: { host: string; port: number }): void {
  if (
    !target ||
    typeof target.host !== 'string' ||
    !Number.isInteger(target.port) ||
    target.port <= 0 ||
    target.port > 65535
  ) {
    throw new TypeError('delayProxy: target must be { host: string, port: integer 1..65535 }')
  }
}

function checkMode(mode: ProxyMode): ProxyMode {
  if (!['pass', 'refuse', 'blackhole'].includes(mode)) {
    throw new TypeError("delayProxy: mode must be 'pass', 'refuse' or 'blackhole'")
  }
  return mode
}

/**
 * Connects `client` to `target` through two delayed pipes. A side that ends or closes closes the other once the
 * bytes already in flight are delivered; a client closed on an error drops what is still queued.
 */
function pipe(
  client: net.Socket,
  target: { host: string; port: number },
  latency: () => number,
  sockets: Set<net.Socket>,
): void {
  const upstream = net.connect({ host: target.host, port: target.port })
  upstream.setNoDelay(true)
  sockets.add(upstream)
  upstream.on('error', () => {})
  const toUpstream = new DelayedPipe(upstream, latency)
  const toClient = new DelayedPipe(client, latency)
  client.on('data', (b: Buffer) => toUpstream.push(b))
  upstream.on('data', (b: Buffer) => toClient.push(b))
  client.once('close', () => toUpstream.whenDrained(() => upstream.destroy()))
  upstream.once('close', () => {
    sockets.delete(upstream)
    toClient.whenDrained(() => client.destroy())
  })
  client.once('end', () => toUpstream.whenDrained(() => upstream.end()))
  upstream.once('end', () => toClient.whenDrained(() => client.end()))
  client.once('close', (hadError) => {
    if (hadError) {
      toUpstream.clear()
      toClient.clear()
    }
  })
}

/**
 * Starts a TCP proxy on 127.0.0.1 (free port) in front of `target`. Every byte is forwarded after
 * `latencyMs` in each direction, in order. The proxy is closed when the test file ends.
 * @throws TypeError on a bad target or latency.
 * @example
 * const proxy = await delayProxy({ host: redis.host, port: redis.port }, { latencyMs: 50 })
 * const client = new Redis({ host: proxy.host, port: proxy.port })
 * proxy.setMode('blackhole'); proxy.dropConnections()
 */
export async function delayProxy(
  target: { host: string; port: number },
  options: DelayProxyOptions = {},
): Promise<DelayProxy> {
  checkTarget(target)
  let latency = checkLatency(options.latencyMs ?? 0)
  let mode: ProxyMode = checkMode(options.mode ?? 'pass')
  const sockets = new Set<net.Socket>()
  const clients = new Set<net.Socket>()
  let accepted = 0
  let closed = false

  const onConnection = (client: net.Socket): void => {
    accepted++
    client.setNoDelay(true)
    sockets.add(client)
    clients.add(client)
    client.on('error', () => {})
    client.once('close', () => {
      sockets.delete(client)
      clients.delete(client)
    })
    if (mode === 'blackhole') {
      client.resume() // read and discard, answer nothing
      return
    }
    pipe(client, target, () => latency, sockets)
  }

  let server: net.Server | undefined
  const listen = (port: number): Promise<number> =>
    new Promise((resolve, reject) => {
      const srv = net.createServer(onConnection)
      srv.once('error', reject)
      srv.listen({ port, host: '127.0.0.1' }, () => {
        srv.off('error', reject)
        srv.on('error', () => {})
        server = srv
        const addr = srv.address()
        resolve(typeof addr === 'object' && addr ? addr.port : port)
      })
    })
  const stopListening = (): Promise<void> =>
    new Promise((resolve) => {
      const srv = server
      server = undefined
      if (!srv) return resolve()
      srv.close(() => resolve())
      // close() waits for open connections; the listening socket itself is closed at once
      setImmediate(resolve)
    })

  const port = await listen(0)
  if (mode === 'refuse') await stopListening()

  const dropConnections = (): number => {
    const n = clients.size
    for (const s of [...sockets]) s.destroy()
    sockets.clear()
    clients.clear()
    return n
  }

  let untrack: () => void = () => {}
  const proxy: DelayProxy = {
    host: '127.0.0.1',
    port,
    get latencyMs() {
      return latency
    },
    get mode() {
      return mode
    },
    get connections() {
      return clients.size
    },
    get accepted() {
      return accepted
    },
    setLatency(ms: number) {
      latency = checkLatency(ms)
    },
    async setMode(next: ProxyMode) {
      checkMode(next)
      if (closed) throw new Error('delayProxy: closed')
      mode = next
      if (next === 'refuse') await stopListening()
      else if (!server) await listen(port)
    },
    dropConnections,
    async close() {
      if (closed) return
      closed = true
      untrack()
      dropConnections()
      await stopListening()
    },
  }
  untrack = trackClosable({
    name: `delayProxy ${port} -> ${target.host}:${target.port}`,
    close: () => proxy.close(),
    closeSync: () => {
      closed = true
      dropConnections()
      server?.close()
    },
  })
  return proxy
}
