/**
 * The `secure` run (TIERKIT_TEST_SECURE=1): the ACL user the suite's packages connect as, granted exactly the
 * commands of the README's `ACL SETUSER` line (read from the README itself, so the suite proves what it
 * states), on the key families of the package (`ra:*` the caches', `wb:{*` the queues', `tk:{*`, `tks:{*`,
 * `tkr:{*` the tags')
 * and every channel (the tests use many bus channels); nothing for the tests' own inspection, which goes
 * through the admin connection. The CA and the admin ports are kept in the environment, so that the child
 * processes of the multi-process tests (which inherit it) connect the same way.
 */
import { readFileSync } from 'node:fs'

export const SECURE: boolean = process.env.TIERKIT_TEST_SECURE === '1'

/** The commands of the README's `ACL SETUSER` line (`-@all +get ...`). */
export function readmeAclCommands(): string {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
  const line = /^ACL SETUSER app on >secret (.*)$/m.exec(readme)?.[1]
  if (line === undefined) throw new Error('README.md has no "ACL SETUSER app on >secret ..." line')
  return line
    .split(/\s+/)
    .filter((t) => t.startsWith('+') || t.startsWith('-'))
    .join(' ')
}

export const SECURE_USER = {
  name: 'tk',
  password: `pw-${process.pid}`,
  rules: `resetkeys ~ra:* ~wb:{* ~tk:{* ~tks:{* ~tkr:{* resetchannels &* ${readmeAclCommands()}`,
}

/** The secure servers of this run by TLS port: the plain admin port and the CA (each server has its own). */
type Servers = Record<string, { admin: number; ca: string }>

function servers(): Servers {
  return JSON.parse(process.env.TIERKIT_TEST_SECURE_SERVERS ?? '{}') as Servers
}

function serverOf(url: string): { admin: number; ca: string } {
  const u = new URL(url)
  const s = servers()[u.port]
  if (s === undefined) throw new Error(`no secure server known at ${u.host}`)
  return s
}

/** Records a secure server (its TLS port → its plain admin port and CA) for this process and its children. */
export function noteSecureServer(tlsPort: number, adminPort: number, ca: string): void {
  process.env.TIERKIT_TEST_SECURE_SERVERS = JSON.stringify({
    ...servers(),
    [String(tlsPort)]: { admin: adminPort, ca },
  })
}

/** The plain admin URL (user `default`) of a secure server's `rediss://` URL; any other URL as it is. */
export function adminUrlOf(url: string): string {
  if (!url.startsWith('rediss://')) return url
  return `redis://${new URL(url).hostname}:${serverOf(url).admin}`
}

/** node-redis's `createClient` options for `url`: a `rediss://` URL of a secure server with its CA. */
export function nodeRedisOptionsOf(url: string): { url: string; socket?: { tls: true; ca: string } } {
  return url.startsWith('rediss://') ? { url, socket: { tls: true, ca: serverOf(url).ca } } : { url }
}

/** ioredis-style constructor arguments with the secure server's CA added to a `rediss://` URL. */
export function withTls(args: unknown[]): unknown[] {
  if (typeof args[0] !== 'string' || !args[0].startsWith('rediss://')) return args
  const options = (typeof args[1] === 'object' && args[1] !== null ? args[1] : {}) as Record<string, unknown>
  return [args[0], { ...options, tls: { ca: serverOf(args[0]).ca } }, ...args.slice(2)]
}

/**
 * The URL of the server at `url` reached through a proxy at `via` (a TCP proxy passes TLS through): the same
 * user and scheme, the proxy's address (recorded as the same server, for its CA and admin port).
 */
export function urlThrough(url: string, via: { host: string; port: number }): string {
  const u = new URL(url)
  if (u.protocol === 'rediss:') {
    process.env.TIERKIT_TEST_SECURE_SERVERS = JSON.stringify({
      ...servers(),
      [String(via.port)]: serverOf(url),
    })
  }
  u.hostname = via.host
  u.port = String(via.port)
  return u.toString()
}
