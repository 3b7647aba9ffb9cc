/**
 * Issue 15, defect 3, in the demo: `/api/users/:id` is per-user data. Whatever encoding of its path a client
 * sends (Fastify decodes `/api/%75sers/5` to the users route), every answer of that route, errors included, is
 * `Cache-Control: private, no-store`, and through nginx no variant is stored or served to another client.
 */
import * as http from 'node:http'
import { startRedis } from '@tierkit/testkit'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { Demo } from '../src/app.js'
import { type Cdn, startCdn } from '../src/cdn.js'
import { userToken } from '../src/db/seed.js'
import { startDemo, type TestDb, testDb } from './helpers.js'

/** Encodings of `/api/users/5` a client may send; the router reaches the users handler through several. */
const VARIANTS: readonly string[] = [
  '/api/users/5',
  '/api/%75sers/5',
  '/%61pi/users/5',
  '/api/users/%35',
  '/%61%70%69/%75%73%65%72%73/%35',
  '/API/USERS/5',
  '/api/users/5/',
  '//api/users/5',
  '/api//users/5',
  '/api/./users/5',
  '/x/../api/users/5',
  '/x/%2e%2e/api/users/5',
  '/api/users%2F5',
  '/api/users/5;jsessionid=1',
  '/api;x=1/users/5',
  '/api/users/5?x=1',
  '/api/users/5#f',
  '/api/users/%2535',
  '/api/users/%zz',
  '/api/users/5%',
  '/api/users/5%00',
  '/api/users/%c0%af',
  '/api/users/5%e0%80',
  `/api/users/${'5'.repeat(200)}`, // over Fastify's maxParamLength: its own 414
  `/api/users/5/${'a'.repeat(9000)}`,
  'http://example.com/api/users/5',
]

interface Answer {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
}

function send(base: string, target: string, headers: Record<string, string> = {}): Promise<Answer> {
  const u = new URL(base)
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, path: target, headers, agent: false },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        )
      },
    )
    req.on('error', reject)
    req.end()
  })
}

describe('the users route, whatever the encoding of its path', () => {
  let db: TestDb
  let demo: Demo
  let cdn: Cdn
  let stopRedis: () => Promise<void>
  let email: string
  const owner = { authorization: `Bearer ${userToken(5)}` }

  beforeAll(async () => {
    const redis = await startRedis()
    stopRedis = () => redis.stop()
    db = testDb('sqlite')
    demo = await startDemo({ ...db.env, REDIS_URL: redis.url }, { cdn: true })
    cdn = await startCdn({ upstreams: [demo.url] })
    demo.setPurger(cdn)
    email = (await demo.store.getUser(5))!.email
  })
  afterAll(async () => {
    await cdn?.close()
    await demo?.close()
    await db?.drop()
    await stopRedis?.()
  })

  test('every answer at the origin is private, no-store: the owner’s 200, the 401, the 400/404/414', async () => {
    const wrong: string[] = []
    let ownerServed = 0
    let unauthorized = 0
    for (const target of VARIANTS) {
      for (const [who, headers] of [
        ['owner', owner],
        ['anonymous', {}],
      ] as const) {
        const r = await send(demo.url, target, headers)
        if (r.body.includes(email)) ownerServed++
        if (r.status === 401) unauthorized++
        const cc = [r.headers['cache-control'], r.headers['cdn-cache-control']]
        if (cc[0] !== 'private, no-store' || cc[1] !== 'no-store')
          wrong.push(`${who} ${target}: ${r.status} Cache-Control ${cc[0]}, CDN-Cache-Control ${cc[1]}`)
      }
    }
    expect(wrong).toEqual([])
    // not vacuous: the router reached the users handler through several encodings, with and without the token
    expect(ownerServed).toBeGreaterThanOrEqual(4)
    expect(unauthorized).toBeGreaterThanOrEqual(4)
  })

  test('through nginx: no variant is stored, none reaches another client', async () => {
    const leaks: string[] = []
    for (const target of VARIANTS) {
      await send(cdn.url, target, owner)
      const a2 = await send(cdn.url, target, owner)
      const anon = await send(cdn.url, target)
      const anon2 = await send(cdn.url, target)
      if (a2.headers['x-cache-status'] === 'HIT') leaks.push(`${target}: the owner's answer was stored`)
      for (const b of [anon, anon2]) {
        if (b.body.includes(email)) leaks.push(`${target}: the owner's data reached an anonymous client`)
      }
      // nor is the 401 (or any refusal) stored for the next client
      if (anon2.headers['x-cache-status'] === 'HIT')
        leaks.push(`${target}: the anonymous answer (${anon2.status}) was stored`)
    }
    expect(leaks).toEqual([])
  })
})
