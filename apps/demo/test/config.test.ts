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
    ['REDIS_URL', 'http://x', 'REDIS_URL must be a URL (redis: or rediss:), got "http://x"'],
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
})
