/**
 * Defect 3 of issue 15: a private route reached through an encoding of its path must never be answered as public.
 * The router (find-my-way under Fastify, Express' router) decodes, folds case, ignores a trailing slash...; the
 * policy must see the path as the router does, and fail closed where it cannot tell.
 */
import * as http from 'node:http'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import {
  expressApp,
  fastifyApp,
  hostileVariants,
  KEY,
  PRIVATE_HANDLERS,
  PRIVATE_PATHS,
  secretOf,
} from './hostile.js'

interface Answer {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 8 })

/** Sends `target` byte for byte as the request target (no URL parsing on the client side). */
function send(port: number, target: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: target, headers, agent }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      )
    })
    req.on('error', reject)
    req.end()
  })
}

const table = PRIVATE_PATHS.flatMap(({ path }) =>
  hostileVariants(path).map(([label, target]) => ({ path, label, target })),
)

const apps: Record<string, { port: number; close(): Promise<void> }> = {}
beforeAll(async () => {
  apps.fastify = await fastifyApp()
  apps.express = await expressApp()
})
afterAll(async () => {
  agent.destroy()
  await Promise.all(Object.values(apps).map((a) => a.close()))
})

describe.each(['fastify', 'express'])('hostile encodings of private paths through the %s adapter', (name) => {
  test.each(table)('$path, $label ($target): private, no-store', async ({ target }) => {
    const r = await send(apps[name]!.port, target, { 'x-api-key': KEY })
    expect({
      status: r.status,
      cacheControl: r.headers['cache-control'],
      cdnCacheControl: r.headers['cdn-cache-control'],
    }).toEqual({ status: r.status, cacheControl: 'private, no-store', cdnCacheControl: 'no-store' })
  })

  test('the 401 of a private route (no key), plain and encoded, is private, no-store', async () => {
    const reached: string[] = []
    for (const target of ['/api/users/1', '/api/%75sers/1', '/api/me', '/api/m%65', '/account/settings']) {
      const r = await send(apps[name]!.port, target)
      const handler = String(r.headers['x-handler'])
      if (PRIVATE_HANDLERS.has(handler)) reached.push(target)
      // whichever handler the router chose (Express does not decode the path before routing: the catch-all
      // answers its encoded forms), the answer is private
      expect([target, PRIVATE_HANDLERS.has(handler) ? r.status : 401, r.headers['cache-control']]).toEqual([
        target,
        401,
        'private, no-store',
      ])
    }
    expect(reached).toEqual(
      expect.arrayContaining(
        name === 'fastify'
          ? ['/api/users/1', '/api/%75sers/1', '/api/me', '/api/m%65', '/account/settings']
          : ['/api/users/1', '/api/me', '/account/settings'],
      ),
    )
  })

  test('the table reaches the private handlers: the case is not vacuous', async () => {
    const reached: string[] = []
    for (const { target } of table) {
      const r = await send(apps[name]!.port, target, { 'x-api-key': KEY })
      if (PRIVATE_HANDLERS.has(String(r.headers['x-handler'])) && r.body.includes(secretOf(KEY)))
        reached.push(target)
    }
    // as is, and at least the percent-encoded letters reach the handlers on both routers
    expect(reached).toEqual(expect.arrayContaining(['/api/users/1', '/api/me', '/account/settings']))
    expect(reached.length).toBeGreaterThan(PRIVATE_PATHS.length)
  })

  test('public paths stay public (also through harmless encodings that agree)', async () => {
    for (const target of ['/api/public/items/1', '/api/public/items/%31', '/api/public/items/1?x=%2F']) {
      const r = await send(apps[name]!.port, target)
      expect([target, r.status, r.headers['cache-control']]).toEqual([target, 200, 'public, max-age=600'])
    }
    const page = await send(apps[name]!.port, '/about')
    expect([page.status, page.headers['cache-control']]).toEqual([200, 'public, max-age=300'])
  })
})

/**
 * Any encoding of one character of a path, mostly the character itself (so that a good share of the samples is
 * still routed to the private handler by one router or the other).
 */
const charEncoding = (c: string): fc.Arbitrary<string> => {
  const h = c.charCodeAt(0).toString(16).padStart(2, '0')
  const w = (weight: number, v: string) => ({ weight, arbitrary: fc.constant(v) })
  const options = [w(30, c), w(2, `%${h.toUpperCase()}`), w(2, `%${h}`)]
  if (/[a-z]/.test(c)) {
    const up = c.toUpperCase()
    options.push(w(2, up), w(1, `%${up.charCodeAt(0).toString(16).toUpperCase()}`))
  }
  if (c === '/')
    for (const v of ['//', '/./', '/%2e/', '/x/../', '/x/%2e%2e/', '%2F', '\\', ';p=1/'])
      options.push(w(1, v))
  return fc.oneof(...options)
}

const tails = fc.oneof(
  { weight: 10, arbitrary: fc.constant('') },
  ...['/', '?q=1'].map((v) => ({ weight: 2, arbitrary: fc.constant(v) })),
  ...['#f', ';jsessionid=1', '//', '%00', '%', '%zz', '%c0%af'].map((v) => ({
    weight: 1,
    arbitrary: fc.constant(v),
  })),
)

const encodedPath = fc.constantFrom(...PRIVATE_PATHS.map((p) => p.path)).chain((path) =>
  fc
    .tuple(
      // the leading "/" stays: Node's HTTP parser itself refuses a target without one (400, before any handler)
      fc.tuple(...[...path.slice(1)].map(charEncoding)),
      tails,
    )
    .map(([chars, tail]) => `/${chars.join('')}${tail}`),
)

describe.each(['fastify', 'express'])(
  'property, %s: whatever the encoding, a private handler never answers public',
  (name) => {
    test('fast-check, 400 encodings of the private paths', async () => {
      let reachedPrivate = 0
      await fc.assert(
        fc.asyncProperty(encodedPath, async (target) => {
          const r = await send(apps[name]!.port, target, { 'x-api-key': KEY })
          const cc = [r.headers['cache-control'], r.headers['cdn-cache-control']]
          if (PRIVATE_HANDLERS.has(String(r.headers['x-handler']))) {
            reachedPrivate++
            // the property: whatever the encoding, when the router resolved it to a private route, never public
            expect(cc, `answered by the private handler "${r.headers['x-handler']}"`).toEqual([
              'private, no-store',
              'no-store',
            ])
          }
          // and failing closed: an encoding of a private path is never shared-cacheable, wherever it lands
          expect(cc).toEqual(['private, no-store', 'no-store'])
        }),
        { numRuns: 400, seed: 15_003 },
      )
      // the generator reaches the private handlers through the router (not only 400s and 404s)
      expect(reachedPrivate).toBeGreaterThan(name === 'fastify' ? 40 : 20)
    })
  },
)
