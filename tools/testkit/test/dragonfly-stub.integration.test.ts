// The stub answers real clients the way Dragonfly documents: INFO names it, CLIENT TRACKING has no REDIRECT,
// BCAST or PREFIX and needs RESP3.
import { Redis } from 'ioredis'
import { afterAll, describe, expect, test } from 'vitest'
import { startDragonflyStub } from '../src/index.js'

describe('startDragonflyStub', () => {
  const clients: Redis[] = []
  afterAll(() => {
    for (const c of clients) c.disconnect()
  })

  test('INFO says dragonfly_version; tracking with REDIRECT/BCAST/PREFIX or over RESP2 is refused', async () => {
    const stub = await startDragonflyStub()
    const r = new Redis(stub.port, '127.0.0.1', { maxRetriesPerRequest: 1, protocol: 2 })
    clients.push(r)
    expect(await r.call('PING')).toBe('PONG')
    expect(String(await r.call('INFO', 'server'))).toMatch(/^dragonfly_version:df-v1\.40\.1$/m)
    const id = Number(await r.call('CLIENT', 'ID'))
    expect(id).toBeGreaterThan(0)
    await expect(r.call('CLIENT', 'TRACKING', 'on', 'REDIRECT', id, 'BCAST')).rejects.toThrow(/syntax error/)
    await expect(r.call('CLIENT', 'TRACKING', 'on', 'PREFIX', 'a:')).rejects.toThrow(/syntax error/)
    await expect(r.call('CLIENT', 'TRACKING', 'on')).rejects.toThrow(/only supported with RESP3/)
    await expect(r.call('CLIENT', 'TRACKINGINFO')).rejects.toThrow(/Unknown subcommand/)
    expect(await r.call('HELLO', '3')).toBeTruthy()
    expect(await r.call('CLIENT', 'TRACKING', 'on', 'NOLOOP')).toBe('OK')
    expect(stub.commands.map((c) => c.slice(0, 2).join(' '))).toContain('CLIENT TRACKING')
    await stub.close()
    await stub.close()
  })
})
