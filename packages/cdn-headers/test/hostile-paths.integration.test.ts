/**
 * Defect 3 of issue 15 through a real nginx (the testkit's, honouring CDN-Cache-Control, cache key = the raw
 * request URI): no encoded variant of a private URL is stored, and none is served to another client. The private
 * routes authenticate with a custom header, so nginx's own `Authorization` bypass does not protect them: only the
 * origin's headers do.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import * as http from 'node:http'
import { join } from 'node:path'
import { type NginxServer, startNginx } from '@tierkit/testkit/nginx'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { expressApp, fastifyApp, hostileVariants, KEY, PRIVATE_PATHS, secretOf } from './hostile.js'

interface Answer {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
}

/** One request with `target` sent as is, on a fresh connection (nginx closes some after a 400). */
function send(port: number, target: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: target, headers, agent: false }, (res) => {
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

/** Every file under `dir`. */
function filesUnder(dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out.push(...filesUnder(p))
    else out.push(p)
  }
  return out
}

const table = PRIVATE_PATHS.flatMap(({ path }) =>
  hostileVariants(path).map(([label, target]) => ({ label, target })),
)

describe.each(['fastify', 'express'])('nginx in front of the %s adapter', (name) => {
  let origin: { port: number; close(): Promise<void> }
  let nginx: NginxServer
  beforeAll(async () => {
    origin = name === 'fastify' ? await fastifyApp() : await expressApp()
    nginx = await startNginx({ upstream: origin.port })
  })
  afterAll(async () => {
    await nginx?.stop()
    await origin?.close()
  })

  test('no encoded variant of a private URL is stored, or served to another client', async () => {
    const leaks: string[] = []
    let served = 0
    for (const { label, target } of table) {
      // the owner asks twice: the second answer must come from the origin again
      const a = await send(nginx.port, target, { 'x-api-key': KEY })
      const a2 = await send(nginx.port, target, { 'x-api-key': KEY })
      // another client, without the key, asks for the same URL
      const b = await send(nginx.port, target)
      if (a.body.includes(secretOf(KEY))) served++
      if (a2.headers['x-cache-status'] === 'HIT')
        leaks.push(`${label} (${target}): stored (owner's second read HIT)`)
      if (b.body.includes(secretOf(KEY)))
        leaks.push(`${label} (${target}): served to another client (${b.headers['x-cache-status']})`)
    }
    expect(leaks).toEqual([])
    // not vacuous: nginx passed variants on to the private handlers, which answered with the secret
    expect(served).toBeGreaterThan(PRIVATE_PATHS.length)
    // and nothing in nginx's cache folder holds the secret
    const cached = filesUnder(join(nginx.dir, 'cache')).filter((f) => readFileSync(f).includes(secretOf(KEY)))
    expect(cached).toEqual([])
  })

  test('the private routes’ 401 is never stored either (plain and encoded)', async () => {
    for (const target of ['/api/users/1', '/api/%75sers/1', '/api/m%65', '/%61ccount/settings']) {
      await send(nginx.port, target)
      const again = await send(nginx.port, target)
      expect([target, again.headers['x-cache-status']]).not.toEqual([target, 'HIT'])
      expect([target, again.headers['cache-control']]).toEqual([target, 'private, no-store'])
    }
  })

  test('public URLs are still stored (the safety is not "cache nothing")', async () => {
    await send(nginx.port, '/api/public/items/1')
    const again = await send(nginx.port, '/api/public/items/1')
    expect(again.headers['x-cache-status']).toBe('HIT')
  })
})
