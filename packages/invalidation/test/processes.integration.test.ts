import { setTimeout as sleep } from 'node:timers/promises'
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

describe('three processes, Redis stopped and restarted with its data (issue 15, defect 9)', () => {
  for (const mode of ['bus', 'tracking'] as const) {
    it(`${mode}: writes whose invalidation failed during the outage reach the other two processes once Redis is back`, async () => {
      const redis = await startRedis({ appendonly: true })
      const keys = Array.from({ length: 10 }, (_, i) => `user:${i}`)
      for (const k of keys) await store.save(`${mode}:${k}`, { v: 1 }, { version: undefined })
      const env = {
        REDIS_URL: redis.url,
        TABLE: store.table,
        MODE: mode,
        CHANNEL: `inv:stale:${mode}`,
        NAMESPACE: `st${mode}`,
      }
      const procs = await Promise.all([0, 1, 2].map(() => spawnChild('stale-instance', env)))
      children.push(...procs)
      const a = procs[0]!
      for (const p of procs)
        for (const k of keys) expect(await p.call('read', { key: `${mode}:${k}` })).toEqual({ v: 1 })

      await redis.stop()
      const results = await Promise.all(
        keys.map((k) => a.call<string>('write', { key: `${mode}:${k}`, value: { v: 2 } })),
      )
      // loud: no write claims success while the cache could not be invalidated
      expect(results.filter((r) => r === 'ok')).toEqual([])
      expect(await a.call('stats')).toMatchObject({ pendingRepairs: keys.length })
      await redis.restart()
      const t0 = Date.now()
      // bounded wait (it only turns a hang into a failure): every process reads the new value of every key
      const stale = new Set(procs.flatMap((_, i) => keys.map((k) => `${i}/${k}`)))
      while (stale.size > 0 && Date.now() - t0 < 20_000) {
        for (const entry of [...stale]) {
          const [i, k] = entry.split('/') as [string, string]
          const got = await procs[Number(i)]!.call('read', { key: `${mode}:${k}` }).catch(() => undefined)
          if ((got as { v?: number } | undefined)?.v === 2) stale.delete(entry)
        }
        if (stale.size > 0) await sleep(100)
      }
      console.log(`[staleness] ${mode}, 3 processes: converged ${Date.now() - t0} ms after Redis was back`)
      expect([...stale]).toEqual([])
      expect(await a.call('stats')).toMatchObject({ pendingRepairs: 0, repaired: keys.length })
    })
  }
})
