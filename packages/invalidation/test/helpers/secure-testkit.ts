/**
 * The test kit of the `secure` run (TIERKIT_TEST_SECURE=1, tools/scripts/client-matrix.mjs): vitest.config.ts
 * resolves `@tierkit/testkit` to this module then, so that every test file runs unchanged as managed Redis runs
 * it. `startRedis()` starts a redis-server with TLS (a CA and certificates generated at start, testkit's
 * `startSecureRedis`) and the ACL user of helpers/secure.ts, granted exactly the README's commands; the server's
 * `url` is that user's `rediss://` URL (what the tests hand the package), while `host`/`port` stay the plain
 * port of the `default` user: the admin connection fault injection keeps (helpers/clients.ts `adminClient`).
 */
import {
  type RedisServer,
  type StartRedisOptions,
  startSecureRedis,
} from '../../../../tools/testkit/src/index.js'
import { noteSecureServer, SECURE_USER } from './secure.js'

export * from '../../../../tools/testkit/src/index.js'

export async function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  const { password: _ignored, ...rest } = options
  const server = await startSecureRedis({ ...rest, users: [SECURE_USER] })
  const url = server.urlFor(SECURE_USER.name)
  noteSecureServer(server.tlsPort, server.port, server.ca)
  return Object.defineProperty(server, 'url', { value: url, enumerable: true })
}
