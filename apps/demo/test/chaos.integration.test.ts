import { startRedis } from '@tierkit/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Demo } from '../src/app.js'
import { userToken } from '../src/db/seed.js'
import { json, startDemo, type TestDb, testDb, until } from './helpers.js'

describe('chaos: Redis stops in the middle of the traffic and comes back', () => {
  let db: TestDb
  let demo: Demo
  let redis: Awaited<ReturnType<typeof startRedis>>

  beforeAll(async () => {
    redis = await startRedis()
    db = testDb('sqlite')
    demo = await startDemo({ ...db.env, REDIS_URL: redis.url })
  })
  afterAll(async () => {
    await demo?.close()
    await db?.drop()
    await redis?.stop()
  })

  it('no request fails; the circuit opens while Redis is down and closes after it is back', async () => {
    const statuses = new Map<number, number>()
    let n = 0
    let stop = false
    const client = async (seed: number): Promise<void> => {
      let x = seed
      while (!stop) {
        x = (x * 1103515245 + 12345) % 2147483648
        const id = 1 + (x % 2000)
        const r =
          x % 5 === 0
            ? await fetch(`${demo.url}/api/users/${1 + (id % 200)}`, {
                headers: { authorization: `Bearer ${userToken(1 + (id % 200))}` },
              })
            : await fetch(`${demo.url}/api/public/products/${id}`)
        await r.arrayBuffer()
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1)
        n++
      }
    }
    const clients = [1, 2, 3, 4].map(client)
    await until(() => n > 300, 'traffic before the fault')
    await redis.stop()
    const downAt = n
    await until(
      () => demo.metrics.snapshot().byLayer.l2!.errors > 0 && n > downAt + 300,
      'traffic while Redis is down',
    )
    await until(
      async () =>
        (await json(`${demo.url}/api/stats`)).body.circuit.some((c: { state: string }) => c.state === 'open'),
      'the circuit to open',
    )
    await redis.restart()
    await until(
      async () => (await json(`${demo.url}/api/stats`)).body.redis.breaker === 'closed',
      'the circuit to close',
    )
    const upAt = n
    await until(() => n > upAt + 300, 'traffic after the fault')
    stop = true
    await Promise.all(clients)
    expect([...statuses.keys()]).toEqual([200])
    const circuit = (await json(`${demo.url}/api/stats`)).body.circuit as Array<{ state: string; at: number }>
    const opened = circuit.findIndex((c) => c.state === 'open')
    expect(opened).toBeGreaterThanOrEqual(0)
    expect(circuit.slice(opened).some((c) => c.state === 'closed')).toBe(true)
  })
})
