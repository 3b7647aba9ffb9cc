// Dragonfly's CLIENT TRACKING has no REDIRECT, BCAST or PREFIX: the tracking channel detects it (INFO server)
// and refuses with a typed error naming the bus, never retrying forever or reporting nothing. There is no
// Dragonfly here: the test kit's stub answers INFO and CLIENT TRACKING as Dragonfly documents.
import { isTierkitError } from '@tierkit/contracts'
import { UnsupportedServerError } from '@tierkit/contracts/redis'
import { startDragonflyStub } from '@tierkit/testkit'
import { Redis } from 'ioredis'
import { afterAll, describe, expect, test } from 'vitest'
import { createTrackingInvalidator, type TrackingEvent } from '../src/index.js'

const clients: Redis[] = []
afterAll(() => {
  for (const c of clients) c.disconnect()
})

describe.each([true, false])('tracking on Dragonfly (noloop: %s)', (noloop) => {
  test('ready() rejects with E_UNSUPPORTED_SERVER naming the bus; no tracking was attempted', async () => {
    const stub = await startDragonflyStub()
    const redis = new Redis(stub.port, '127.0.0.1')
    clients.push(redis)
    const events: TrackingEvent[] = []
    const tracking = createTrackingInvalidator({
      redis,
      prefixes: ['ra:'],
      toKey: (k) => k,
      caches: [{ evictLocal: () => {} }],
      noloop,
      onEvent: (e) => events.push(e),
      readyTimeout: 20_000,
    })
    const error = await tracking.ready().then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(UnsupportedServerError)
    expect(isTierkitError(error, 'E_UNSUPPORTED_SERVER')).toBe(true)
    expect(error).toMatchObject({ server: 'dragonfly' })
    expect((error as UnsupportedServerError).alternative).toMatch(/createInvalidationBus/)
    expect(events).toContainEqual({ type: 'error', error })
    // a later call says the same at once
    await expect(tracking.ready({ timeout: 50 })).rejects.toBe(error)
    const sent = stub.commands.map((c) => c.join(' '))
    expect(sent).toContain('INFO server')
    expect(sent.filter((c) => /^CLIENT TRACKING on/i.test(c))).toEqual([])
    await tracking.close()
    await stub.close()
  })
})
