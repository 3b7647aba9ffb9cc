/**
 * One real Redis per test file (from the test kit) and the clients made on it, all closed when the file ends.
 * Call at the top level of a test file: it registers the file's beforeAll/afterAll hooks.
 */

import { startRedis } from '@tierkit/testkit'
import type { Redis } from 'ioredis'
import { afterAll, beforeAll } from 'vitest'
import { adminClient, redisClient } from './clients.js'

export interface RedisFixture {
  /** The server's URL (set once the file's beforeAll has run). */
  url(): string
  /** Run at the end of the file, last registered first. */
  readonly closers: Array<() => Promise<unknown>>
  /** A new ioredis client on the server (one retry per request, errors swallowed), closed with the file. */
  client(): Redis
  /**
   * The client of the test's own doings (fault injection, KEYS, inspecting streams), one per file, closed
   * with it: in the `secure` run the admin connection (helpers/clients.ts `adminClient`), else as {@link client}.
   */
  admin(): Redis
}

export function useRedisFixture(): RedisFixture {
  let url = ''
  let admin: Redis | undefined
  const closers: Array<() => Promise<unknown>> = []
  beforeAll(async () => {
    url = (await startRedis()).url
  })
  afterAll(async () => {
    for (const c of closers.reverse()) await c().catch(() => {})
  })
  return {
    url: () => url,
    closers,
    client() {
      const r = redisClient(url, { maxRetriesPerRequest: 1 })
      r.on('error', () => {})
      closers.push(() => r.quit())
      return r
    },
    admin() {
      if (admin === undefined) {
        const r = adminClient(url, { maxRetriesPerRequest: 1 })
        r.on('error', () => {})
        closers.push(() => r.quit())
        admin = r
      }
      return admin
    },
  }
}
