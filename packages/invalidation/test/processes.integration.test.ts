import { startRedis } from '@tierkit/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Child, spawnChild } from './helpers/child.js'
import { PgStore } from './helpers/pg-store.js'

let store: PgStore
let children: Child[] = []
beforeAll(async () => {
  store = await PgStore.create('bus3')
})
afterAll(async () => {
  await Promise.all(children.map((c) => c.call('exit').catch(() => {})))
  await Promise.all(children.map((c) => c.exited))
  await store.drop()
})

describe('three processes on one Redis', () => {
  it('after deleteOnUpdate resolves in one, the other two stop serving the old value once the bus message arrives', async () => {
    const redis = await startRedis()
    await store.save('user:1', { name: 'v1' }, { version: 1 })
    const env = { REDIS_URL: redis.url, TABLE: store.table, CHANNEL: 'inv:bus3', NAMESPACE: 'users' }
    children = await Promise.all([0, 1, 2].map(() => spawnChild('instance', env)))
    const [a, b, c] = children as [Child, Child, Child]

    for (const p of children) expect(await p.call('read', { key: 'user:1' })).toEqual({ name: 'v1' })
    // the database changes behind the cache: every instance keeps serving the cached copy
    await store.save('user:1', { name: 'v2' }, { version: 2 })
    for (const p of children) expect(await p.call('read', { key: 'user:1' })).toEqual({ name: 'v1' })

    await a.call('update', { key: 'user:1', value: { name: 'v3' } })
    expect(await a.call('read', { key: 'user:1' })).toEqual({ name: 'v3' })
    for (const p of [b, c]) {
      await p.call('waitFor', { key: 'user:1' })
      expect(await p.call('read', { key: 'user:1' })).toEqual({ name: 'v3' })
    }
    // B updates another key; once A got it, A had already seen (and ignored) its own message
    await b.call('update', { key: 'user:2', value: { name: 'w' } })
    await a.call('waitFor', { key: 'user:2' })
    await c.call('waitFor', { key: 'user:2' })
    expect(await a.call('stats')).toMatchObject({ published: 1, received: 1, ignoredOwn: 1 })
    expect(await b.call('stats')).toMatchObject({ published: 1, received: 1 })
    expect(await c.call('stats')).toMatchObject({ published: 0, received: 2, ignoredOwn: 0 })
    expect(await store.load('user:2')).toEqual({ name: 'w' })
  })
})
