/**
 * ACL users for the permission tests (issue 20): `users.as(name, rules)` creates (or resets) a user granted
 * exactly `rules` (`ACL SETUSER <name> reset on ><password> <rules...>`) through an admin connection to the
 * server's plain port, and returns a client of the run's library logged in as it. Every client is closed by
 * `close()`.
 */
import type { RedisServer } from '@tierkit/testkit'
import { Redis } from 'ioredis'
import { redisClient } from './clients.js'

export interface AclUsers {
  /** A client of the run's library, logged in as `user` granted `rules` (space-separated). */
  as(user: string, rules: string): Promise<Redis>
  /** The admin connection (user `default`). */
  readonly admin: Redis
  close(): Promise<void>
}

export function aclUsers(server: RedisServer): AclUsers {
  const password = `pw-${process.pid}`
  const admin = new Redis(server.port, '127.0.0.1')
  const clients: Redis[] = []
  return {
    admin,
    async as(user, rules) {
      await admin.call('ACL', 'SETUSER', user, 'reset', 'on', `>${password}`, ...rules.split(' '))
      const r = redisClient({ host: '127.0.0.1', port: server.port, username: user, password })
      r.on?.('error', () => {})
      clients.push(r)
      return r
    },
    async close() {
      for (const r of clients) r.disconnect()
      admin.disconnect()
    },
  }
}
