/**
 * One Node response under the `cacheHeaders` middleware: its `writeHead`, `write` and `end` replaced so the body is
 * buffered (up to `maxBufferBytes`, then streamed as it comes), and the route table applied when the handler ends
 * it (or when it turns into a stream).
 *
 * @module
 */
import type { IncomingMessage, OutgoingHttpHeader, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { CachePolicyTable } from './policy.js'
import { prepareResponse } from './respond.js'

function headerToString(v: number | string | string[] | undefined): string | undefined {
  if (v === undefined) return undefined
  return Array.isArray(v) ? v.join(', ') : String(v)
}

/** Express' view of a request: the target before mounting stripped it, and the route that answered. */
type ExpressRequest = IncomingMessage & {
  originalUrl?: string
  baseUrl?: string
  route?: { path?: unknown }
}

/** The request target as received (Express strips the mount path from `req.url`; `originalUrl` keeps it). */
function targetOf(req: ExpressRequest): string {
  return req.originalUrl ?? req.url ?? '/'
}

/** The Express route pattern that answered (`req.baseUrl + req.route.path`), when there is a string one. */
function routeOf(req: ExpressRequest): string | undefined {
  const p = req.route?.path
  if (typeof p !== 'string') return undefined
  return typeof req.baseUrl === 'string' ? req.baseUrl + p : p
}

/** A chunk given to `write` / `end` as bytes (`undefined` for none, or for a callback in its place). */
function toBuffer(chunk: unknown, encoding: unknown): Buffer | undefined {
  if (chunk === undefined || chunk === null || typeof chunk === 'function') return undefined
  if (typeof chunk === 'string')
    return Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8')
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
  return Buffer.from(String(chunk))
}

/** `res.writeHead` while buffering: records the status, reason and headers; nothing is sent yet. */
function recordWriteHead(
  res: ServerResponse,
  status: number,
  reason?: string | OutgoingHttpHeaders | OutgoingHttpHeader[],
  headers?: OutgoingHttpHeaders | OutgoingHttpHeader[],
): ServerResponse {
  res.statusCode = status
  let h = headers
  if (typeof reason === 'string') res.statusMessage = reason
  else h = reason
  if (Array.isArray(h)) {
    for (let i = 0; i + 1 < h.length; i += 2) res.setHeader(String(h[i]), h[i + 1] as string)
  } else if (h !== undefined) {
    for (const [k, v] of Object.entries(h)) if (v !== undefined) res.setHeader(k, v)
  }
  return res
}

/**
 * Buffers one response and applies the route table to it. Created by the middleware for each request; it installs
 * itself on `res` and puts the original methods back before anything is sent.
 * @internal
 */
export class BufferedResponse {
  readonly #policy: CachePolicyTable
  readonly #max: number
  readonly #req: ExpressRequest
  readonly #res: ServerResponse
  readonly #origWriteHead: ServerResponse['writeHead']
  readonly #origWrite: ServerResponse['write']
  readonly #origEnd: ServerResponse['end']
  readonly #isHead: boolean
  readonly #chunks: Buffer[] = []
  #size = 0
  #streaming = false
  #finished = false
  /** The body `res.send` was given, for a HEAD (Express drops it before `res.end`). */
  #headBody: Buffer | undefined

  constructor(policy: CachePolicyTable, max: number, req: IncomingMessage, res: ServerResponse) {
    this.#policy = policy
    this.#max = max
    this.#req = req
    this.#res = res
    this.#origWriteHead = res.writeHead
    this.#origWrite = res.write
    this.#origEnd = res.end
    this.#isHead = req.method === 'HEAD'
    if (this.#isHead) this.#captureSend()
    const self = this
    res.writeHead = function writeHead(
      this: ServerResponse,
      status: number,
      reason?: string | OutgoingHttpHeaders | OutgoingHttpHeader[],
      headers?: OutgoingHttpHeaders | OutgoingHttpHeader[],
    ): ServerResponse {
      return recordWriteHead(res, status, reason, headers)
    } as ServerResponse['writeHead']
    res.write = function write(
      this: ServerResponse,
      chunk: unknown,
      encoding?: unknown,
      cb?: unknown,
    ): boolean {
      return self.#write(chunk, encoding, cb)
    } as ServerResponse['write']
    res.end = function end(
      this: ServerResponse,
      chunk?: unknown,
      encoding?: unknown,
      cb?: unknown,
    ): ServerResponse {
      return self.#end(chunk, encoding, cb)
    } as ServerResponse['end']
  }

  // Express (res.send) drops the body of a HEAD answer before res.end; remember the bytes res.send was given, so
  // a HEAD gets the ETag (and the 304) of the GET it mirrors. Express encodes string bodies as UTF-8.
  #captureSend(): void {
    const expressRes = this.#res as ServerResponse & { send?: (...args: unknown[]) => unknown }
    if (typeof expressRes.send !== 'function') return
    const origSend = expressRes.send
    const self = this
    expressRes.send = function send(this: ServerResponse, ...args: unknown[]): unknown {
      const b = args[0]
      if (typeof b === 'string') self.#headBody = Buffer.from(b, 'utf8')
      else if (b instanceof Uint8Array) self.#headBody = Buffer.from(b.buffer, b.byteOffset, b.byteLength)
      return origSend.apply(this, args)
    }
  }

  #restore(): void {
    this.#res.writeHead = this.#origWriteHead
    this.#res.write = this.#origWrite
    this.#res.end = this.#origEnd
  }

  /** Applies the route table to the response as the handler left it; returns whether the body must be sent. */
  #apply(body: Buffer | undefined): boolean {
    const req = this.#req
    const res = this.#res
    const prepared = prepareResponse(
      this.#policy,
      { method: req.method ?? 'GET', path: targetOf(req), headers: req.headers, route: routeOf(req) },
      {
        status: res.statusCode,
        getHeader: (n) => headerToString(res.getHeader(n)),
        setsCookie: res.hasHeader('set-cookie'),
        body,
      },
    )
    for (const n of prepared.remove) if (res.hasHeader(n)) res.removeHeader(n)
    for (const [k, v] of Object.entries(prepared.set)) res.setHeader(k, v)
    res.statusCode = prepared.status
    if (prepared.status === 304 || prepared.status === 412) res.statusMessage = ''
    return prepared.sendBody
  }

  /** The body outgrew `maxBufferBytes`: apply the headers without an ETag and send what was buffered. */
  #startStreaming(): void {
    this.#streaming = true
    this.#apply(undefined)
    this.#restore()
    this.#res.removeHeader('content-length')
    for (const c of this.#chunks) (this.#origWrite as (c: Buffer) => boolean).call(this.#res, c)
    this.#chunks.length = 0
  }

  #write(chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
    if (this.#streaming)
      return (this.#origWrite as (...a: unknown[]) => boolean).call(this.#res, chunk, encoding, cb)
    const b = toBuffer(chunk, encoding)
    if (b !== undefined) {
      this.#chunks.push(b)
      this.#size += b.length
    }
    const callback = typeof encoding === 'function' ? encoding : cb
    if (this.#size > this.#max) {
      this.#startStreaming()
    }
    if (typeof callback === 'function') process.nextTick(callback as () => void)
    return true
  }

  #end(chunk?: unknown, encoding?: unknown, cb?: unknown): ServerResponse {
    const res = this.#res
    const origEnd = this.#origEnd as (...a: unknown[]) => ServerResponse
    if (this.#finished) return res
    this.#finished = true
    if (this.#streaming) return origEnd.call(res, chunk, encoding, cb)
    const chunks = this.#chunks
    const b = toBuffer(chunk, encoding)
    if (b !== undefined) {
      chunks.push(b)
      this.#size += b.length
    }
    const callback = typeof chunk === 'function' ? chunk : typeof encoding === 'function' ? encoding : cb
    this.#restore()
    const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)
    const sawBody = chunks.length > 0
    if (this.#size > this.#max) {
      this.#streaming = true
      this.#apply(undefined)
    } else if (!this.#apply(sawBody ? body : this.#isHeadRequest() ? this.#bufferedHeadBody() : body)) {
      return origEnd.call(res, callback)
    }
    if (sawBody && !res.hasHeader('transfer-encoding')) res.setHeader('Content-Length', body.length)
    return origEnd.call(res, sawBody ? body : undefined, callback)
  }

  #isHeadRequest(): boolean {
    return this.#isHead || (this.#req.method ?? 'GET').toUpperCase() === 'HEAD'
  }

  /** The body `res.send` was given for this HEAD, when it fits the buffer. */
  #bufferedHeadBody(): Buffer | undefined {
    const h = this.#headBody
    return h !== undefined && h.length <= this.#max ? h : undefined
  }
}
