import { once } from 'node:events'
import { createServer, type Server } from 'node:net'
import { afterAll, describe, expect, it } from 'vitest'
import { spawnCli, testDb } from './helpers.js'

let blocker: Server | undefined
const db = testDb('sqlite')
afterAll(async () => {
  blocker?.close()
  await db.drop()
})

describe('the demo on a port that is taken', () => {
  it('says so in one line that names PORT=0, exits 1, and prints no stack trace', async () => {
    blocker = createServer()
    blocker.listen(0, '127.0.0.1')
    await once(blocker, 'listening')
    const address = blocker.address()
    const port = typeof address === 'object' && address !== null ? address.port : 0
    expect(port).toBeGreaterThan(0)

    const cli = spawnCli([], { ...db.env, PORT: String(port), DEMO_REDIS: 'off' })
    const code = await cli.exited
    const lines = cli
      .output()
      .split('\n')
      .filter((l) => l.trim() !== '')
    expect(code).toBe(1)
    const complaint = lines.filter((l) => l.includes(String(port)) && /in use/.test(l))
    expect(complaint).toHaveLength(1)
    expect(complaint[0]).toContain('PORT=0')
    expect(lines.filter((l) => /^\s+at /.test(l))).toEqual([])
    expect(cli.output()).not.toContain('EADDRINUSE')
  })
})
