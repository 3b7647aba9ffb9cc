/**
 * Node `http` / Express / Connect adapter of `@tierkit/cdn-headers`.
 *
 * @module
 */
import type { IncomingMessage, OutgoingHttpHeader, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import { checkInteger, checkObject } from '@tierkit/contracts'
import { evaluate, type ResourceState } from './conditional.js'
import type { CachePolicyTable } from './policy.js'
import { checkPolicyTable, prepareResponse } from './respond.js'

/** Options of {@link cacheHeaders}. */
export interface NodeAdapterOptions {
  /**
   * Largest body buffered to compute an ETag. A bigger (streamed) body is sent as it comes: caching headers are
   * still applied, but no ETag is computed and no 304 is possible.
   * @default 8388608 (8 MiB)
   */
  maxBufferBytes?: number
}

/** A Connect/Express-style middleware; `next` is optional so it also wraps a plain `http` handler. */
export type NodeMiddleware = (
  req: IncomingMessage,
  res: ServerResponse,
  next?: (err?: unknown) => void,
) => void

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

/**
 * Creates the middleware: for every response it applies the route table (Cache-Control, CDN-Cache-Control, Vary,
 * cache tags, safety rule), adds a strong ETag computed from the body, and answers GET/HEAD preconditions with 304
 * or 412 (RFC 9110 §13). The body is buffered up to `maxBufferBytes`.
 *
 * With Express, disable its own ETag (`app.set('etag', false)`) so the 304 decision is this package's. Express
 * drops the body of a HEAD answer before `res.end`; the middleware takes it from `res.send` instead, so a HEAD
 * answered with `res.send` / `res.json` gets the same ETag (and 304) as the GET. A HEAD whose handler calls
 * `res.end()` without a body gets the caching headers but no computed ETag.
 * For unsafe methods, call {@link checkPreconditions} in the handler before changing anything.
 *
 * @param policy - the route table from `definePolicy`
 * @param options - {@link NodeAdapterOptions}
 * @returns the middleware
 * @throws TierkitTypeError (`E_INVALID_ARGUMENT`) when `policy` is not a `CachePolicyTable` or
 *   `options.maxBufferBytes` is not a safe integer from 0 (`cacheHeaders: policy must be a CachePolicyTable, got null`)
 * @example
 * ```ts
 * const mw = cacheHeaders(policy)
 * http.createServer((req, res) => mw(req, res, () => handler(req, res)))
 * app.use(cacheHeaders(policy)) // Express
 * ```
 */
export function cacheHeaders(policy: CachePolicyTable, options: NodeAdapterOptions = {}): NodeMiddleware {
  checkPolicyTable('cacheHeaders', 'policy', policy)
  checkObject('cacheHeaders', 'options', options)
  const max =
    options.maxBufferBytes === undefined
      ? 8 * 1024 * 1024
      : checkInteger(
          'cacheHeaders',
          'options.maxBufferBytes',
          options.maxBufferBytes,
          0,
          Number.MAX_SAFE_INTEGER,
        )

  return (req, res, next) => {
    const origWriteHead = res.writeHead
    const origWrite = res.write
    const origEnd = res.end
    const chunks: Buffer[] = []
    let size = 0
    let streaming = false
    let finished = false

    const restore = (): void => {
      res.writeHead = origWriteHead
      res.write = origWrite
      res.end = origEnd
    }

    // Express (res.send) drops the body of a HEAD answer before res.end; remember the bytes res.send was given, so
    // a HEAD gets the ETag (and the 304) of the GET it mirrors. Express encodes string bodies as UTF-8.
    let headBody: Buffer | undefined
    const isHead = req.method === 'HEAD'
    const expressRes = res as ServerResponse & { send?: (...args: unknown[]) => unknown }
    if (isHead && typeof expressRes.send === 'function') {
      const origSend = expressRes.send
      expressRes.send = function send(this: ServerResponse, ...args: unknown[]): unknown {
        const b = args[0]
        if (typeof b === 'string') headBody = Buffer.from(b, 'utf8')
        else if (b instanceof Uint8Array) headBody = Buffer.from(b.buffer, b.byteOffset, b.byteLength)
        return origSend.apply(this, args)
      }
    }

    const facts = () => ({
      method: req.method ?? 'GET',
      path: targetOf(req),
      headers: req.headers,
      route: routeOf(req),
    })

    const apply = (body: Buffer | undefined): boolean => {
      const prepared = prepareResponse(policy, facts(), {
        status: res.statusCode,
        getHeader: (n) => headerToString(res.getHeader(n)),
        setsCookie: res.hasHeader('set-cookie'),
        body,
      })
      for (const n of prepared.remove) if (res.hasHeader(n)) res.removeHeader(n)
      for (const [k, v] of Object.entries(prepared.set)) res.setHeader(k, v)
      res.statusCode = prepared.status
      if (prepared.status === 304 || prepared.status === 412) res.statusMessage = ''
      return prepared.sendBody
    }

    const toBuffer = (chunk: unknown, encoding: unknown): Buffer | undefined => {
      if (chunk === undefined || chunk === null || typeof chunk === 'function') return undefined
      if (typeof chunk === 'string')
        return Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8')
      if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
      return Buffer.from(String(chunk))
    }

    const startStreaming = (): void => {
      streaming = true
      apply(undefined)
      restore()
      res.removeHeader('content-length')
      for (const c of chunks) (origWrite as (c: Buffer) => boolean).call(res, c)
      chunks.length = 0
    }

    res.writeHead = function writeHead(
      this: ServerResponse,
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
    } as ServerResponse['writeHead']

    res.write = function write(
      this: ServerResponse,
      chunk: unknown,
      encoding?: unknown,
      cb?: unknown,
    ): boolean {
      if (streaming) return (origWrite as (...a: unknown[]) => boolean).call(res, chunk, encoding, cb)
      const b = toBuffer(chunk, encoding)
      if (b !== undefined) {
        chunks.push(b)
        size += b.length
      }
      const callback = typeof encoding === 'function' ? encoding : cb
      if (size > max) {
        startStreaming()
      }
      if (typeof callback === 'function') process.nextTick(callback as () => void)
      return true
    } as ServerResponse['write']

    res.end = function end(
      this: ServerResponse,
      chunk?: unknown,
      encoding?: unknown,
      cb?: unknown,
    ): ServerResponse {
      if (finished) return res
      finished = true
      if (streaming) {
        return (origEnd as (...a: unknown[]) => ServerResponse).call(res, chunk, encoding, cb)
      }
      const b = toBuffer(chunk, encoding)
      if (b !== undefined) {
        chunks.push(b)
        size += b.length
      }
      const callback = typeof chunk === 'function' ? chunk : typeof encoding === 'function' ? encoding : cb
      restore()
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)
      const sawBody = chunks.length > 0
      if (size > max) {
        streaming = true
        apply(undefined)
      } else {
        const send = apply(
          sawBody
            ? body
            : isHead || (req.method ?? 'GET').toUpperCase() === 'HEAD'
              ? headBody !== undefined && headBody.length <= max
                ? headBody
                : undefined
              : body,
        )
        if (!send) {
          return (origEnd as (...a: unknown[]) => ServerResponse).call(res, callback)
        }
      }
      if (sawBody && !res.hasHeader('transfer-encoding')) res.setHeader('Content-Length', body.length)
      return (origEnd as (...a: unknown[]) => ServerResponse).call(res, sawBody ? body : undefined, callback)
    } as ServerResponse['end']

    if (typeof next === 'function') next()
  }
}

/**
 * Evaluates the request's preconditions for the current state of the resource, before an unsafe method changes it
 * (RFC 9110 §13.2.2). When they fail it answers 412 (or 304 for a GET/HEAD `If-None-Match` hit) and returns
 * `false`: the handler must then stop.
 *
 * @param req - the request
 * @param res - the response (ended when `false` is returned)
 * @param state - the current ETag / Last-Modified / existence of the resource
 * @returns `true` when the handler may proceed
 * @throws TierkitTypeError (`E_INVALID_ARGUMENT`) when `state` is not an object
 *   (`checkPreconditions: state must be an object { status?, etag?, lastModified?, exists? }, got undefined`)
 * @example
 * ```ts
 * if (!checkPreconditions(req, res, { etag: current.etag })) return
 * ```
 */
export function checkPreconditions(req: IncomingMessage, res: ServerResponse, state: ResourceState): boolean {
  const outcome = evaluate(req, state, 'checkPreconditions')
  if (outcome === 'proceed') return true
  res.statusCode = outcome === 'not-modified' ? 304 : 412
  res.setHeader('Cache-Control', 'no-store')
  if (outcome === 'not-modified' && state.etag !== undefined) res.setHeader('ETag', state.etag)
  res.end()
  return false
}
