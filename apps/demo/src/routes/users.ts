/** `GET /api/users/:id`: an authenticated read, cache-aside through the users cache. */
import type { FastifyInstance } from 'fastify'
import type { DemoStore, User } from '../db/types.js'
import { UnauthorizedError } from '../errors.js'
import type { ReadCache } from '../l1-only.js'
import { bearer, parseId, sameToken } from '../requests.js'

/** Registers the user read; a missing or wrong token and an unknown user are the same 401. */
export function registerUsers(app: FastifyInstance, store: DemoStore, users: ReadCache<User | null>): void {
  app.get('/api/users/:id', async (req) => {
    const token = bearer(req.headers.authorization)
    if (token === undefined) throw new UnauthorizedError()
    const id = parseId((req.params as { id: string }).id)
    // cache-aside (get, else load and store with a TTL, return) with a 300 s TTL
    const user = await users.getOrLoad(`u:${id}`, async () => (await store.getUser(id)) ?? null, {
      ttl: 300_000,
    })
    if (user === null || user === undefined || !sameToken(token, user.apiToken)) throw new UnauthorizedError()
    return { id: user.id, name: user.name, email: user.email, createdAt: user.createdAt }
  })
}
