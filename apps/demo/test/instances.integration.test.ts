import { startRedis } from '@tierkit/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDemo, type Demo } from '../src/app.js'
import { type DbKind, json, type TestDb, testConfig, testDb, until } from './helpers.js'

describe.each<DbKind>(['sqlite', 'postgres'])('two instances on one Redis and one %s database', (kind) => {
  let db: TestDb
  let a: Demo
  let b: Demo
  let stopRedis: () => Promise<void>

  beforeAll(async () => {
    const redis = await startRedis()
    stopRedis = () => redis.stop()
    db = testDb(kind)
    const env = { ...db.env, REDIS_URL: redis.url }
    ;[a, b] = await Promise.all([
      createDemo({ ...testConfig(env), instanceId: 'A' }, { log: () => {} }),
      createDemo({ ...testConfig(env), instanceId: 'B' }, { log: () => {} }),
    ])
  })
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()])
    await db?.drop()
    await stopRedis?.()
  })

  it('an update through A evicts the product from B’s L1 (delete-on-update + bus)', async () => {
    expect((await json(`${a.url}/api/public/products/40`)).body.version).toBe(1)
    expect((await json(`${b.url}/api/public/products/40`)).body.version).toBe(1)
    const l1 = b.metrics.snapshot().byLayer.l1!.hits
    expect((await json(`${b.url}/api/public/products/40`)).body.version).toBe(1)
    expect(b.metrics.snapshot().byLayer.l1!.hits - l1).toBe(1) // B serves it from its own L1

    const put = await json(`${a.url}/api/products/40`, { method: 'PUT', body: { stock: 4 } })
    expect(put.body).toMatchObject({ version: 2, stock: 4 })
    await until(
      async () =>
        (await json(`${b.url}/api/stats`)).body.invalidations.some(
          (e: { kind: string; keys: string[] }) => e.kind === 'remote' && e.keys.includes('p:40'),
        ),
      'B to receive the invalidation',
    )
    const seen = await json(`${b.url}/api/public/products/40`)
    expect(seen.body).toMatchObject({ version: 2, stock: 4 })
    const stats = (await json(`${b.url}/api/stats`)).body
    expect(stats.invalidations.find((e: { kind: string }) => e.kind === 'remote')).toMatchObject({
      from: 'A',
      keys: ['p:40'],
    })
    expect(stats.bus.received).toBeGreaterThanOrEqual(1)
  })

  it('and the other way round, for users too: B updates, A serves the new value', async () => {
    await json(`${a.url}/api/public/products/41`)
    await json(`${a.url}/api/public/products/41`)
    await json(`${b.url}/api/products/41`, { method: 'PUT', body: { name: 'From B' } })
    await until(
      async () => (await json(`${a.url}/api/public/products/41`)).body.name === 'From B',
      'A to serve the update',
    )
    expect((await json(`${a.url}/api/public/products/41`)).body.version).toBe(2)
  })
})
