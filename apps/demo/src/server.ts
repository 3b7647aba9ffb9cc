/**
 * The Fastify instance: the cdn-headers plugin with the demo's policy, the CDN fence's last word on each answer,
 * the HTTP timing, and the error answers (a {@link DemoError} with its status and code; fail closed before routing).
 */
import { fastifyCdnHeaders } from '@tierkit/cdn-headers/fastify'
import type { CacheMetricsObserver } from '@tierkit/metrics'
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify'
import type { DemoConfig } from './config.js'
import { DemoError } from './errors.js'
import type { Fence } from './fence.js'
import { policy } from './policy.js'

function newFastify(config: DemoConfig): FastifyInstance {
  return Fastify({
    logger: config.logLevel === 'silent' ? false : { level: config.logLevel },
    forceCloseConnections: 'idle',
    // a URL Fastify cannot decode (400) or an over-long parameter (414) is answered before routing and before
    // any hook: fail closed there too (the cdn-headers plugin never sees these answers)
    frameworkErrors: (err: FastifyError, _req: FastifyRequest, reply: FastifyReply) => {
      const status = typeof err.statusCode === 'number' && err.statusCode >= 400 ? err.statusCode : 400
      void reply
        .code(status)
        .header('cache-control', 'private, no-store')
        .header('cdn-cache-control', 'no-store')
        .send({ error: 'E_BAD_REQUEST', message: err.message })
    },
  })
}

/** A Fastify instance with the plugin, the hooks and the error handler (no routes yet). */
export async function createServer(
  config: DemoConfig,
  fence: Fence,
  httpObserver: CacheMetricsObserver<'http'>,
): Promise<FastifyInstance> {
  const app = newFastify(config)
  await app.register(fastifyCdnHeaders, { policy })
  // after the plugin's onSend (hooks run in the order they were added): the last word on whether the edge may
  // store a product answer. Checked in the tick that writes the answer, so no write can slip in between.
  app.addHook('onSend', (req, reply, payload, done) => {
    if (fence.stale(req, reply.elapsedTime)) {
      reply.header('cache-control', 'no-store').header('cdn-cache-control', 'no-store')
      if (reply.hasHeader('cache-tag')) reply.removeHeader('cache-tag')
      reply.header('x-cdn-fence', 'overlapped a write')
    }
    done(null, payload)
  })
  app.addHook('onResponse', (_req, reply, done) => {
    httpObserver.record('http', reply.statusCode < 500 ? 'hit' : 'error', reply.elapsedTime)
    done()
  })
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => {
    if (err instanceof DemoError) {
      return reply.code(err.status).send({ error: err.code, message: err.message })
    }
    if (typeof err.statusCode === 'number' && err.statusCode < 500) {
      return reply.code(err.statusCode).send({ error: err.code ?? 'E_BAD_REQUEST', message: err.message })
    }
    app.log.error(err)
    return reply.code(500).send({ error: err.code ?? 'E_INTERNAL', message: err.message })
  })
  return app
}
