/**
 * Shared by the hostile-path tests: a route table with private routes (authenticated by a custom header, so no
 * `Authorization` rescues them) and a public catch-all, the same app on Fastify and on Express, and hostile
 * encodings of every private path.
 */
import express from 'express'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import { failClosedFrameworkErrors, fastifyCdnHeaders } from '../src/fastify.js'
import { type CachePolicyTable, definePolicy } from '../src/index.js'
import { cacheHeaders } from '../src/node.js'
import { listen } from './helpers.js'

/** Private routes first, a public API, then the catch-all that must never apply to a private route. */
export const hostilePolicy: CachePolicyTable = definePolicy([
  { name: 'users', path: '/api/users/*', authenticated: true },
  { name: 'me', path: '/api/me', authenticated: true },
  { name: 'account', path: '/account/*', authenticated: true },
  { name: 'public api', path: '/api/public/*', maxAge: 600, cdnMaxAge: 600 },
  { name: 'catch-all', path: '/*', maxAge: 300 },
])

/** The private paths the apps serve, each with the handler name it answers with (`x-handler`). */
export const PRIVATE_PATHS: readonly { path: string; handler: string }[] = [
  { path: '/api/users/1', handler: 'users' },
  { path: '/api/me', handler: 'me' },
  { path: '/account/settings', handler: 'account' },
]
export const PRIVATE_HANDLERS: ReadonlySet<string> = new Set(['users', 'me', 'account'])

/** The per-user secret in a private answer for `key`. */
export const secretOf = (key: string): string => `secret-of-${key}`
export const KEY = 'key-1'

/** The private handlers: a custom header authenticates (nothing a cache recognises as a credential). */
function privateAnswer(handler: string, key: unknown): { status: number; body: unknown } {
  if (key !== KEY) return { status: 401, body: { error: 'E_UNAUTHORIZED', handler } }
  return { status: 200, body: { handler, user: 1, secret: secretOf(KEY) } }
}

export async function fastifyApp(): Promise<{ url: string; port: number; close(): Promise<void> }> {
  const app: FastifyInstance = Fastify({ frameworkErrors: failClosedFrameworkErrors })
  await app.register(fastifyCdnHeaders, { policy: hostilePolicy })
  const priv = (handler: string) => async (req: FastifyRequest, reply: FastifyReply) => {
    const r = privateAnswer(handler, req.headers['x-api-key'])
    reply.header('x-handler', handler).code(r.status)
    return r.body
  }
  app.get('/api/users/:id', priv('users'))
  app.get('/api/me', priv('me'))
  app.get('/account/settings', priv('account'))
  app.get('/api/public/items/:id', async (_req, reply) => {
    reply.header('x-handler', 'public')
    return { item: 1 }
  })
  app.get('/*', async (_req, reply) => {
    reply.header('x-handler', 'page')
    return 'a page for everyone'
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as { port: number }).port
  return { url: `http://127.0.0.1:${port}`, port, close: () => app.close() }
}

export async function expressApp(): Promise<{ url: string; port: number; close(): Promise<void> }> {
  const app = express()
  app.set('etag', false)
  app.use(cacheHeaders(hostilePolicy))
  const priv = (handler: string) => (req: express.Request, res: express.Response) => {
    const r = privateAnswer(handler, req.headers['x-api-key'])
    res.setHeader('x-handler', handler)
    res.status(r.status).json(r.body)
  }
  app.get('/api/users/:id', priv('users'))
  app.get('/api/me', priv('me'))
  app.get('/account/settings', priv('account'))
  app.get('/api/public/items/:id', (_req, res) => {
    res.setHeader('x-handler', 'public')
    res.json({ item: 1 })
  })
  app.use((_req: express.Request, res: express.Response) => {
    res.setHeader('x-handler', 'page')
    res.type('text/plain').send('a page for everyone')
  })
  // Express' default error handler answers a param it cannot decode (400); keep its status
  app.use((err: { status?: number }, _req: express.Request, res: express.Response, _next: unknown) => {
    res
      .status(err.status ?? 500)
      .type('text/plain')
      .send('error')
  })
  return listen(app)
}

const hex = (c: string, lower: boolean): string => {
  const h = c.charCodeAt(0).toString(16).padStart(2, '0')
  return `%${lower ? h : h.toUpperCase()}`
}
const encodeAll = (p: string, lower = false): string =>
  p
    .split('/')
    .map((s) => [...s].map((c) => hex(c, lower)).join(''))
    .join('/')

/**
 * Hostile encodings of one private path, each with a label: percent-encoding (upper and lower hex, one letter or
 * all), case, trailing and duplicate slashes, dot segments (plain and encoded), encoded slashes and backslashes,
 * `;` parameters, query strings and fragments, double encoding, malformed and overlong UTF-8 escapes, NUL and
 * control characters, an overlong path, and the absolute form.
 */
export function hostileVariants(path: string): [label: string, target: string][] {
  const segs = path.split('/').slice(1)
  const last = segs.length - 1
  const first = segs[0]!
  const rest = `/${segs.slice(1).join('/')}`
  const withSeg = (i: number, s: string): string => `/${segs.map((x, j) => (j === i ? s : x)).join('/')}`
  const upperFirst = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1)
  const out: [string, string][] = [
    ['as is', path],
    ['first letter percent-encoded', withSeg(last, hex(segs[last]!.charAt(0), false) + segs[last]!.slice(1))],
    [
      'a letter of the first segment percent-encoded',
      `/${hex(first.charAt(0), false)}${first.slice(1)}${rest}`,
    ],
    ['lower-case hex escape', withSeg(last, hex(segs[last]!.charAt(0), true) + segs[last]!.slice(1))],
    ['every character percent-encoded', encodeAll(path)],
    ['every character percent-encoded, lower-case hex', encodeAll(path, true)],
    ['upper case', path.toUpperCase()],
    ['one segment capitalised', withSeg(0, upperFirst(first))],
    ['encoded upper-case letter', withSeg(0, hex(first.charAt(0).toUpperCase(), false) + first.slice(1))],
    ['trailing slash', `${path}/`],
    ['two trailing slashes', `${path}//`],
    ['leading double slash', `/${path}`],
    ['every slash doubled', path.replace(/\//g, '//')],
    ['dot segment', `/./${path.slice(1)}`],
    ['dot-dot segment', `/x/..${path}`],
    ['encoded dot segment', `/%2e${path}`],
    ['encoded dot-dot segment', `/x/%2E%2E${path}`],
    ['half-encoded dot-dot', `/x/.%2e${path}`],
    ['dot-dot with a parameter', `/x/..;${path}`],
    ['encoded slash', segs.length > 1 ? `/${segs.slice(0, -1).join('/')}%2F${segs[last]}` : `%2F${first}`],
    [
      'encoded slash, lower case',
      segs.length > 1 ? `/${segs.slice(0, -1).join('/')}%2f${segs[last]}` : `%2f${first}`,
    ],
    ['leading encoded slash', `/%2F${path.slice(1)}`],
    ['encoded backslash', `${path}%5C`],
    ['raw backslash', `${path.slice(0, path.lastIndexOf('/'))}\\${segs[last]}`],
    ['semicolon parameter at the end', `${path};jsessionid=1`],
    ['semicolon parameter in a segment', withSeg(0, `${first};x=1`)],
    ['query string', `${path}?a=1`],
    ['query string with a path in it', `${path}?/../../api/public/x`],
    ['fragment', `${path}#top`],
    [
      'double-encoded letter',
      withSeg(last, `%25${hex(segs[last]!.charAt(0), false).slice(1)}${segs[last]!.slice(1)}`),
    ],
    ['lone percent', `${path}%`],
    ['malformed escape', `${path}%zz`],
    ['truncated UTF-8 escape', `${path}%e0%80`],
    ['overlong UTF-8 slash', `${path}%c0%af`],
    ['overlong UTF-8 dot segment', `/x/%c0%ae%c0%ae${path}`],
    ['UTF-16 surrogate escape', `${path}%ed%a0%80`],
    ['NUL', `${path}%00`],
    ['CR LF', `${path}%0d%0a`],
    ['overlong path', `${path}/${'a'.repeat(9000)}`],
    ['absolute form', `http://example.com${path}`],
  ]
  return out
}
