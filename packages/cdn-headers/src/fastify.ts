/**
 * Fastify 5 plugin of `@tierkit/cdn-headers`.
 *
 * @module
 */
import { Readable } from 'node:stream'
import type { FastifyError, FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify'
import { evaluate, type ResourceState } from './conditional.js'
import type { CachePolicyTable } from './policy.js'
import { checkPolicyTable, type DraftResponse, prepareResponse } from './respond.js'

/** Options of {@link fastifyCdnHeaders}. */
export interface FastifyCdnHeadersOptions {
  /** The route table from `definePolicy`. */
  policy: CachePolicyTable
}

declare module 'fastify' {
  interface FastifyReply {
    /**
     * Evaluates the request's preconditions against the current state of the resource before an unsafe method
     * changes it. When they fail, answers 412 (or 304) and returns `false`: return `reply` from the handler.
     * Added by `@tierkit/cdn-headers/fastify`.
     */
    checkPreconditions(state: ResourceState): boolean
  }
}

function headerToString(v: number | string | string[] | undefined): string | undefined {
  if (v === undefined) return undefined
  return Array.isArray(v) ? v.join(', ') : String(v)
}

/** The draft view of a Fastify reply (a class, not a per-request closure: one hidden class, no captured scope). */
class ReplyDraft implements DraftResponse {
  readonly status: number
  readonly setsCookie: boolean
  readonly body: string | Uint8Array | undefined
  readonly #reply: FastifyReply
  constructor(reply: FastifyReply, body: string | Uint8Array | undefined) {
    this.#reply = reply
    this.status = reply.statusCode
    this.setsCookie = reply.hasHeader('set-cookie')
    this.body = body
  }
  getHeader(name: string): string | undefined {
    return headerToString(this.#reply.getHeader(name))
  }
}

function checkPreconditions(this: FastifyReply, state: ResourceState): boolean {
  const outcome = evaluate(this.request.raw, state, 'reply.checkPreconditions')
  if (outcome === 'proceed') return true
  this.code(outcome === 'not-modified' ? 304 : 412)
  this.header('Cache-Control', 'no-store')
  if (outcome === 'not-modified' && state.etag !== undefined) this.header('ETag', state.etag)
  this.send()
  return false
}

const plugin: FastifyPluginCallback<FastifyCdnHeadersOptions> = (fastify, opts, done) => {
  const policy = opts?.policy
  try {
    checkPolicyTable('fastifyCdnHeaders', 'options.policy', policy)
  } catch (e) {
    done(e as Error)
    return
  }
  fastify.decorateReply('checkPreconditions', checkPreconditions)
  fastify.addHook('onSend', (request: FastifyRequest, reply: FastifyReply, payload: unknown, next) => {
    const raw = request.raw
    const method = raw.method ?? 'GET'
    const body = typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : undefined
    const streamed = payload !== null && payload !== undefined && body === undefined
    // the raw target (normalised by the policy the way find-my-way reads it) and the route the router chose
    const prepared = prepareResponse(
      policy,
      { method, path: raw.url ?? '/', headers: raw.headers, route: request.routeOptions.url },
      new ReplyDraft(reply, streamed ? undefined : (body ?? '')),
    )
    // remove first: the headers object then loses its most recently added fields (Content-Type on a 304), which V8
    // undoes cheaply, instead of an older one, which would turn it into a slow dictionary for the rest of the reply.
    // `set` and `remove` never share a name, so the order does not change the result.
    const remove = prepared.remove
    for (let i = 0; i < remove.length; i++) if (reply.hasHeader(remove[i]!)) reply.removeHeader(remove[i]!)
    const set = prepared.set
    for (const k in set) reply.header(k, set[k])
    if (!prepared.sendBody) {
      reply.code(prepared.status)
      if (streamed && typeof (payload as { resume?: unknown }).resume === 'function') {
        ;(payload as { resume(): void; on(e: string, f: () => void): void }).on('error', () => {})
        ;(payload as { resume(): void }).resume()
      }
      // fastify's own HEAD handler runs after this hook and needs a payload: give it an empty stream
      next(null, method === 'HEAD' ? Readable.from([]) : null)
      return
    }
    next(null, payload)
  })
  done()
}

Object.defineProperty(plugin, Symbol.for('skip-override'), { value: true })
Object.defineProperty(plugin, Symbol.for('fastify.display-name'), { value: '@tierkit/cdn-headers' })
Object.defineProperty(plugin, Symbol.for('plugin-meta'), {
  value: { fastify: '5.x', name: '@tierkit/cdn-headers' },
})

/**
 * The Fastify plugin: an `onSend` hook that applies the route table (Cache-Control, CDN-Cache-Control, Vary, cache
 * tags, safety rule), adds an ETag computed from string/Buffer payloads, and answers GET/HEAD preconditions with
 * 304 or 412; plus `reply.checkPreconditions(state)` for unsafe methods. Registered without encapsulation, so it
 * covers every route of the instance.
 *
 * @throws TierkitTypeError (`E_INVALID_ARGUMENT`, through `register`) when `policy` is missing
 *   (`fastifyCdnHeaders: options.policy must be a CachePolicyTable, got undefined`)
 * @example
 * ```ts
 * await app.register(fastifyCdnHeaders, { policy })
 * ```
 */
export const fastifyCdnHeaders: FastifyPluginCallback<FastifyCdnHeadersOptions> = plugin

/**
 * A `frameworkErrors` handler for the Fastify factory that fails closed. Fastify answers a URL it cannot decode
 * (`FST_ERR_BAD_URL`, 400) and an over-long parameter (`FST_ERR_MAX_PARAM_LENGTH`, 414, heuristically cacheable)
 * itself, before routing and before any hook, so the plugin never sees those answers and they carry no
 * `Cache-Control`. This handler sends the same JSON body as Fastify's own, with `Cache-Control: private, no-store`
 * and `CDN-Cache-Control: no-store`.
 *
 * @example
 * ```ts
 * const app = Fastify({ frameworkErrors: failClosedFrameworkErrors })
 * ```
 */
export function failClosedFrameworkErrors(
  error: FastifyError,
  _request: FastifyRequest,
  reply: FastifyReply,
): void {
  const status = typeof error.statusCode === 'number' && error.statusCode >= 400 ? error.statusCode : 400
  void reply
    .code(status)
    .header('cache-control', 'private, no-store')
    .header('cdn-cache-control', 'no-store')
    .send({
      error: status === 414 ? 'URI Too Long' : 'Bad Request',
      code: error.code,
      message: error.message,
      statusCode: status,
    })
}
