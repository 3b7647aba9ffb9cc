/**
 * `startSecureRedis`: a real redis-server as managed Redis runs it, TLS on one port and ACL users, for the
 * least-privilege suites. A CA and a server certificate (for 127.0.0.1 and localhost) are generated at start with
 * `openssl`; the plain port stays open for the `default` user, the admin connection fault injection keeps.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './ports.js'
import { trackDir } from './processes.js'
import { type RedisServer, type StartRedisOptions, startRedis } from './redis.js'

/** An ACL user: `rules` in `ACL SETUSER` syntax, e.g. `'~tk:* &tk:* -@all +get +set'`. */
export interface AclUser {
  name: string
  password: string
  rules: string
}

/** Files of {@link makeTlsFiles}. */
export interface TlsFiles {
  caFile: string
  certFile: string
  keyFile: string
  /** The CA certificate (PEM), what a client passes as `tls.ca`. */
  ca: string
}

/** Options of {@link startSecureRedis}: those of `startRedis` (not `password`), plus the ACL users. */
export interface StartSecureRedisOptions extends Omit<StartRedisOptions, 'password'> {
  /** ACL users besides `default` (which keeps every permission, for the admin connection). @default [] */
  users?: AclUser[]
}

/** A running TLS + ACL redis-server; `port`/`url` are the plain admin port (user `default`). */
export interface SecureRedisServer extends RedisServer {
  /** The TLS port. */
  readonly tlsPort: number
  /** The CA certificate (PEM) that signed the server's certificate. */
  readonly ca: string
  /** `rediss://user:password@127.0.0.1:tlsPort` for one of the ACL users. */
  urlFor(user: string): string
}

function openssl(dir: string, args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' })
  if (r.error !== undefined)
    throw new Error(`openssl could not run (install Debian's openssl): ${r.error.message}`)
  if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`)
}

/** Generates a CA and a server certificate for 127.0.0.1 / localhost in `dir` (valid two days). */
export function makeTlsFiles(dir: string): TlsFiles {
  openssl(
    dir,
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '2',
    ].concat(['-subj', '/CN=tierkit test CA']),
  )
  openssl(dir, [
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    '/CN=127.0.0.1',
  ])
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n')
  openssl(
    dir,
    ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial'].concat([
      '-out',
      'server.crt',
      '-days',
      '2',
      '-extfile',
      'ext.cnf',
    ]),
  )
  const caFile = join(dir, 'ca.crt')
  return {
    caFile,
    certFile: join(dir, 'server.crt'),
    keyFile: join(dir, 'server.key'),
    ca: readFileSync(caFile, 'utf8'),
  }
}

function aclLines(users: readonly AclUser[]): string {
  const lines = ['user default on nopass ~* &* +@all']
  for (const u of users) {
    if (!/^[A-Za-z0-9_.-]+$/.test(u.name) || u.name === 'default')
      throw new TypeError(
        `startSecureRedis: user name ${JSON.stringify(u.name)} must be [A-Za-z0-9_.-]+ and not default`,
      )
    if (!/^[^\s>#]+$/.test(u.password))
      throw new TypeError(`startSecureRedis: the password of ${u.name} must have no spaces, > or #`)
    if (/[\r\n]/.test(u.rules))
      throw new TypeError(`startSecureRedis: the rules of ${u.name} must be one line`)
    lines.push(`user ${u.name} on >${u.password} ${u.rules}`)
  }
  return `${lines.join('\n')}\n`
}

/**
 * Starts a redis-server with TLS on a free port (besides its plain port) and the given ACL users.
 * @example
 * const redis = await startSecureRedis({ users: [{ name: 'app', password: 'pw', rules: '~tk:* -@all +get' }] })
 * const client = new Redis(redis.urlFor('app'), { tls: { ca: redis.ca } })
 */
export async function startSecureRedis(options: StartSecureRedisOptions = {}): Promise<SecureRedisServer> {
  const { users = [], args = [], ...rest } = options
  const dir = mkdtempSync(join(tmpdir(), 'tierkit-tls-'))
  trackDir(dir, { reapOnSignal: rest.reapOnSignal !== false })
  const acl = join(dir, 'users.acl')
  writeFileSync(acl, aclLines(users))
  const files = makeTlsFiles(dir)
  const tlsPort = await freePort()
  const tlsArgs = [
    '--tls-port',
    String(tlsPort),
    '--tls-cert-file',
    files.certFile,
    '--tls-key-file',
    files.keyFile,
  ]
  const server = await startRedis({
    ...rest,
    args: [
      ...tlsArgs,
      '--tls-ca-cert-file',
      files.caFile,
      '--tls-auth-clients',
      'no',
      '--aclfile',
      acl,
      ...args,
    ],
  })
  const passwords = new Map(users.map((u) => [u.name, u.password]))
  return Object.assign(Object.create(server) as RedisServer, {
    tlsPort,
    ca: files.ca,
    urlFor(user: string): string {
      const pw = passwords.get(user)
      if (pw === undefined) throw new TypeError(`startSecureRedis: no ACL user ${JSON.stringify(user)}`)
      return `rediss://${encodeURIComponent(user)}:${encodeURIComponent(pw)}@127.0.0.1:${tlsPort}`
    },
  })
}
