import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  answers,
  type CliProcess,
  type DbKind,
  json,
  spawnCli,
  type TestDb,
  testDb,
  until,
} from './helpers.js'

// `start --instances 2` as a user runs it: a supervisor process that starts the shared redis-server and forks two
// instances, each its own Node process, on one Redis and one database. Everything is observed over HTTP.
describe.each<DbKind>(['sqlite', 'postgres'])(
  '--instances 2: two processes on one Redis and one %s database',
  (kind) => {
    let db: TestDb
    let cli: CliProcess
    let a: string
    let b: string
    let redisPort: number

    beforeAll(async () => {
      db = testDb(kind)
      // no REDIS_URL: the supervisor starts the redis-server the instances share
      cli = spawnCli(['--instances', '2'], { ...db.env, DEMO_REDIS: 'auto', REDIS_URL: '' })
      a = (await cli.waitFor(/instance 1 listening on (http:\/\/\S+)/, 'instance 1 to listen'))[0]![1]!
      b = (await cli.waitFor(/instance 2 listening on (http:\/\/\S+)/, 'instance 2 to listen'))[0]![1]!
      redisPort = Number((await cli.waitFor(/redis-server at redis:\/\/127\.0\.0\.1:(\d+)/, 'redis'))[0]![1])
    })
    afterAll(async () => {
      cli?.proc.kill('SIGKILL')
      await cli?.exited
      await db?.drop()
    })

    it('the instances are separate processes, distinct from the supervisor, on the same Redis', async () => {
      const [sa, sb] = [(await json(`${a}/api/stats`)).body, (await json(`${b}/api/stats`)).body]
      expect(sa.pid).not.toBe(sb.pid)
      expect([sa.pid, sb.pid]).not.toContain(cli.proc.pid)
      expect(sa.redis.mode).toBe('url')
      expect(sb.redis.mode).toBe('url')
      expect(sa.database).toBe(kind)
    })

    it('an update through A evicts the product from B’s L1 (delete-on-update + bus), seen over HTTP', async () => {
      expect((await json(`${a}/api/public/products/40`)).body.version).toBe(1)
      expect((await json(`${b}/api/public/products/40`)).body.version).toBe(1)
      const l1 = (await json(`${b}/api/stats`)).body.layers.l1.hits
      expect((await json(`${b}/api/public/products/40`)).body.version).toBe(1)
      expect((await json(`${b}/api/stats`)).body.layers.l1.hits - l1).toBe(1) // B serves it from its own L1

      // hard: B's copy is gone at once (soft, the default, is in invalidation.integration.test.ts)
      const put = await json(`${a}/api/products/40?invalidate=hard`, { method: 'PUT', body: { stock: 4 } })
      expect(put.body).toMatchObject({ version: 2, stock: 4 })
      await until(async () => {
        const inv = (await json(`${b}/api/stats`)).body.invalidations as Array<{
          kind: string
          keys: string[]
          tags: string[]
        }>
        const remote = inv.filter((e) => e.kind === 'remote')
        return (
          remote.some((e) => e.keys.includes('p:40')) && remote.some((e) => e.tags.includes('product:40'))
        )
      }, 'B to receive the invalidations (the key, and the tags)')
      expect((await json(`${b}/api/public/products/40`)).body).toMatchObject({ version: 2, stock: 4 })
      const stats = (await json(`${b}/api/stats`)).body
      const keyed = stats.invalidations.find(
        (e: { kind: string; keys: string[] }) => e.kind === 'remote' && e.keys.length > 0,
      )
      expect(keyed).toMatchObject({ keys: ['p:40'] })
      expect(keyed.from).toMatch(/-1$/)
      expect(stats.bus.received).toBeGreaterThanOrEqual(1)
    })

    it('and the other way round: B updates, A serves the new value', async () => {
      await json(`${a}/api/public/products/41`)
      await json(`${a}/api/public/products/41`)
      await json(`${b}/api/products/41`, { method: 'PUT', body: { name: 'From B' } })
      await until(
        async () => (await json(`${a}/api/public/products/41`)).body.name === 'From B',
        'A to serve the update',
      )
      expect((await json(`${a}/api/public/products/41`)).body.version).toBe(2)
    })

    it('a SIGKILLed supervisor orphans nothing: both instances and the redis-server stop', async () => {
      expect(await answers(redisPort)).toBe(true)
      cli.proc.kill('SIGKILL')
      expect(await cli.exited).toBe('SIGKILL')
      const ports = [a, b].map((u) => Number(new URL(u).port))
      await until(
        async () => !(await answers(redisPort)) && !(await answers(ports[0]!)) && !(await answers(ports[1]!)),
        'the instances and the redis-server to stop',
      )
    })
  },
)
