/**
 * Node `http` / Express / Connect adapter of `@tierkit/cdn-headers`.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { checkInteger, checkObject } from '@tierkit/contracts'
import { evaluate, type ResourceState } from './conditional.js'
import { BufferedResponse } from './node-response.js'
import type { CachePolicyTable } from './policy.js'
import { checkPolicyTable } from './respond.js'

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
    new BufferedResponse(policy, max, req, res)
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
