// The client factory of `@tierkit/testkit/clients` with node-redis: what it returns can be the result of an
// async function. `await` asks any value for `then`; the proxy used to answer with a command (`THEN`, sent
// with the promise's callbacks as arguments), which broke node-redis's handshake and hung the connection.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { redisClientFactory } from '../src/clients.js'
import { type RedisServer, startRedis } from '../src/index.js'

let server: RedisServer
const saved = process.env.TIERKIT_TEST_CLIENT
beforeAll(async () => {
  server = await startRedis()
})
afterAll(async () => {
  process.env.TIERKIT_TEST_CLIENT = saved
  await server.stop()
})

/** A stand-in for contracts' toRedisLike (the kit cannot depend on contracts): connects, `call` by sendCommand. */
const toRedisLike = (raw: unknown) => {
  const c = raw as {
    connect(): Promise<unknown>
    sendCommand(args: Array<string | Buffer>): Promise<unknown>
    quit(): Promise<unknown>
  }
  const connected = c.connect()
  return {
    call: async (command: string, ...args: Array<string | number | Buffer>) => {
      await connected
      return c.sendCommand([command, ...args.map((a) => (Buffer.isBuffer(a) ? a : String(a)))])
    },
    quit: () => c.quit(),
  }
}

for (const name of ['node-redis', 'node-redis5']) {
  it(`${name}: a client returned by an async function answers (the proxy has no then)`, async () => {
    process.env.TIERKIT_TEST_CLIENT = name
    const make = redisClientFactory(toRedisLike)
    const client = await (async () => make({ host: '127.0.0.1', port: server.port }))()
    expect((client as unknown as { then?: unknown }).then).toBeUndefined()
    await client.set('k', 'v')
    expect(await client.get('k')).toBe('v')
    await client.quit()
  })
}

for (const name of ['node-redis', 'node-redis5']) {
  it(`${name}: a command node-redis has a method for takes ioredis' arguments (del of two keys, copy ... REPLACE)`, async () => {
    process.env.TIERKIT_TEST_CLIENT = name
    const make = redisClientFactory(toRedisLike)
    const client = make({ host: '127.0.0.1', port: server.port })
    await client.set(`${name}:a`, '1')
    await client.set(`${name}:b`, '2')
    await client.set(`${name}:c`, '3')
    expect(await client.copy(`${name}:a`, `${name}:c`, 'REPLACE')).toBe(1)
    expect(await client.get(`${name}:c`)).toBe('1')
    expect(await client.del(`${name}:a`, `${name}:b`)).toBe(2)
    expect(await client.exists(`${name}:a`, `${name}:b`, `${name}:c`)).toBe(1)
    await client.quit()
  })
}

for (const name of ['node-redis', 'node-redis5']) {
  it(`${name}: ioredis's pipeline() and getBuffer()`, async () => {
    process.env.TIERKIT_TEST_CLIENT = name
    const make = redisClientFactory(toRedisLike)
    const client = make({ host: '127.0.0.1', port: server.port })
    const bytes = Buffer.from([0xff, 0x00, 0xc3, 0x28])
    const replies = await client.pipeline().set(`${name}:p1`, bytes).set(`${name}:p2`, '2').exec()
    expect(replies).toEqual([
      [null, 'OK'],
      [null, 'OK'],
    ])
    expect(await client.getBuffer(`${name}:p1`)).toEqual(bytes)
    await client.quit()
  })
}
