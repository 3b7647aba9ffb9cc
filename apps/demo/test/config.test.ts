import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../src/config.js'
import { ConfigError } from '../src/errors.js'

describe('loadConfig', () => {
  it('defaults: loopback, port 3000, SQLite under data/, Redis auto, the full seed', () => {
    const c = loadConfig({}, '/srv/demo')
    expect(c).toMatchObject({
      host: '127.0.0.1',
      port: 3000,
      databaseUrl: undefined,
      databaseSchema: 'public',
      sqlitePath: '/srv/demo/data/demo.sqlite',
      redisUrl: undefined,
      redisMode: 'auto',
      seedProducts: 100_000,
      seedUsers: 10_000,
      workerThreads: 2,
    })
  })

  it('reads every variable', () => {
    const c = loadConfig({
      PORT: '0',
      DATABASE_URL: 'postgres://127.0.0.1:5432/test',
      DATABASE_SCHEMA: 'demo_x',
      REDIS_URL: 'redis://127.0.0.1:6390',
      SEED_PRODUCTS: '10',
      L1_MAX: '5',
      DEMO_REDIS: 'off',
      LOG_LEVEL: 'silent',
    })
    expect(c).toMatchObject({
      port: 0,
      databaseUrl: 'postgres://127.0.0.1:5432/test',
      databaseSchema: 'demo_x',
      redisUrl: 'redis://127.0.0.1:6390',
      seedProducts: 10,
      l1Max: 5,
      redisMode: 'off',
      logLevel: 'silent',
    })
  })

  it.each([
    ['PORT', 'http', 'PORT must be an integer from 0 to 65535, got "http"'],
    ['PORT', '70000', 'PORT must be an integer from 0 to 65535, got "70000"'],
    ['DATABASE_URL', 'mysql://x', 'DATABASE_URL must be a URL (postgres: or postgresql:), got "mysql://x"'],
    ['DATABASE_URL', 'not a url', 'DATABASE_URL must be a URL (postgres: or postgresql:), got "not a url"'],
    ['REDIS_URL', 'http://x', 'REDIS_URL must be a URL (redis:, rediss: or redis+sentinel:), got "http://x"'],
    ['REDIS_CLIENT', 'hiredis', 'REDIS_CLIENT must be one of ioredis, node-redis, iovalkey, got "hiredis"'],
    ['REDIS_CLIENT', 'IOREDIS', 'REDIS_CLIENT must be one of ioredis, node-redis, iovalkey, got "IOREDIS"'],
    ['SEED_PRODUCTS', '0', 'SEED_PRODUCTS must be an integer from 1 to 10000000, got "0"'],
    ['WORKER_THREADS', '-2', 'WORKER_THREADS must be an integer from 1 to 64, got "-2"'],
    ['DEMO_REDIS', 'maybe', 'DEMO_REDIS must be one of auto, off, got "maybe"'],
    ['DATABASE_SCHEMA', 'x; drop', 'DATABASE_SCHEMA must be a lower-case SQL identifier, got "x; drop"'],
    [
      'LOG_LEVEL',
      'loud',
      'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "loud"',
    ],
  ])('%s=%s is refused with an error naming it', (name, value, message) => {
    let error: unknown
    try {
      loadConfig({ [name]: value })
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as ConfigError).code).toBe('E_CONFIG')
    expect((error as ConfigError).variable).toBe(name)
    expect((error as ConfigError).message).toBe(`invalid configuration: ${message}`)
  })

  const FORM =
    'a Sentinel URL is redis+sentinel://[user:password@]host:port[,host:port...]/<masterName>[/<db>]'
  it.each([
    ['redis+sentinel://127.0.0.1:26379', 'no master name (letters, digits, _ . -)'],
    ['redis+sentinel://127.0.0.1:26379/', 'no master name (letters, digits, _ . -)'],
    ['redis+sentinel:///mymaster', 'no sentinel address'],
    ['redis+sentinel://127.0.0.1:99999/mymaster', 'port 99999 is out of range'],
    ['redis+sentinel://127.0.0.1:26379,,x:1/mymaster', '"" is not host:port'],
    ['redis+sentinel://127.0.0.1:http/mymaster', '"127.0.0.1:http" is not host:port'],
    ['redis+sentinel://127.0.0.1:26379/mymaster/one', 'the database "one" is not an integer'],
    ['redis+sentinel://127.0.0.1:26379/mymaster/0/x', 'too many path segments'],
    ['redis+sentinel://127.0.0.1:26379/mymaster?db=1', 'not a Sentinel URL (no query or fragment)'],
  ])('REDIS_URL=%s is refused: %s', (value, why) => {
    expect(() => loadConfig({ REDIS_URL: value })).toThrow(
      new ConfigError('REDIS_URL', `${why}: ${FORM}, got "${value}"`),
    )
    let error: unknown
    try {
      loadConfig({ REDIS_URL: value })
    } catch (e) {
      error = e
    }
    expect(error).toMatchObject({ code: 'E_CONFIG', variable: 'REDIS_URL' })
  })

  it('a Sentinel URL is read into its sentinels, master, database and credentials, for ioredis and iovalkey', () => {
    const url = 'redis+sentinel://app:p%40ss@127.0.0.1:26379,[::1]:26380,sentinel-c/mymaster/2'
    for (const client of ['ioredis', 'iovalkey'] as const) {
      const c = loadConfig({ REDIS_URL: url, REDIS_CLIENT: client })
      expect(c.redisClient).toBe(client)
      expect(c.redisUrl).toBe(url)
      expect(c.redisTarget).toEqual({
        topology: 'sentinel',
        sentinels: [
          { host: '127.0.0.1', port: 26379 },
          { host: '::1', port: 26380 },
          { host: 'sentinel-c', port: 26379 },
        ],
        master: 'mymaster',
        db: 2,
        username: 'app',
        password: 'p@ss',
      })
    }
    expect(loadConfig({ REDIS_URL: 'redis+sentinel://h:1/m' }).redisTarget).toMatchObject({
      db: 0,
      username: undefined,
      password: undefined,
    })
  })

  it('REDIS_CLIENT defaults to ioredis; a redis:// URL is one Redis, through any client', () => {
    expect(loadConfig({}).redisClient).toBe('ioredis')
    expect(loadConfig({}).redisTarget).toBeUndefined()
    for (const client of ['ioredis', 'node-redis', 'iovalkey'] as const) {
      const c = loadConfig({ REDIS_URL: 'redis://127.0.0.1:6390/1', REDIS_CLIENT: client })
      expect(c.redisClient).toBe(client)
      expect(c.redisTarget).toEqual({ topology: 'standalone', url: 'redis://127.0.0.1:6390/1' })
    }
  })

  it('node-redis over a Sentinel URL is refused (E_CONFIG naming REDIS_CLIENT), with what to use instead', () => {
    let error: unknown
    try {
      loadConfig({ REDIS_URL: 'redis+sentinel://127.0.0.1:26379/mymaster', REDIS_CLIENT: 'node-redis' })
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(ConfigError)
    expect(error).toMatchObject({ code: 'E_CONFIG', variable: 'REDIS_CLIENT' })
    expect((error as ConfigError).message).toMatch(
      /^invalid configuration: REDIS_CLIENT node-redis cannot be used with a Sentinel URL .*use REDIS_CLIENT=ioredis or iovalkey/,
    )
  })

  it('the CLI exits with code 1 and one line naming the bad variable, before touching any database', () => {
    const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url))
    const r = spawnSync(process.execPath, ['--import', 'tsx', cli], {
      env: { ...process.env, PORT: 'eighty', SQLITE_PATH: '/nonexistent/dir/x.sqlite' },
      encoding: 'utf8',
      timeout: 60_000,
    })
    expect(r.status).toBe(1)
    expect(r.stderr.trim()).toBe(
      'invalid configuration: PORT must be an integer from 0 to 65535, got "eighty"',
    )
  })

  it('the CLI refuses a bad REDIS_CLIENT the same way, before connecting to anything', () => {
    const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url))
    const r = spawnSync(process.execPath, ['--import', 'tsx', cli], {
      env: { ...process.env, REDIS_CLIENT: 'valkey-glide', SQLITE_PATH: '/nonexistent/dir/x.sqlite' },
      encoding: 'utf8',
      timeout: 60_000,
    })
    expect(r.status).toBe(1)
    expect(r.stderr.trim()).toBe(
      'invalid configuration: REDIS_CLIENT must be one of ioredis, node-redis, iovalkey, got "valkey-glide"',
    )
  })
})
