/** The anchor: a bare Fastify route returning the same JSON as the demo's product 1, from a constant. */
import Fastify from 'fastify'

const body = process.env.BODY ?? '{}'
const app = Fastify({ logger: false })
app.get('/api/public/products/:id', (_req, reply) => {
  reply.type('application/json; charset=utf-8').send(body)
})
await app.listen({ host: '127.0.0.1', port: 0 })
const a = app.server.address() as { port: number }
console.log(`listening on http://127.0.0.1:${a.port}`)
process.on('SIGTERM', () => {
  app.close().then(() => process.exit(0))
})
