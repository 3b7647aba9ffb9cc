import { tracingChannel } from 'node:diagnostics_channel'
import { describe, expect, test } from 'vitest'
import { TRACING_CHANNEL_NAMES, type TraceMessage, traced, tracingChannels } from '../src/index.js'

describe('tracing channels', () => {
  test('one channel per operation, named tierkit:<operation>', () => {
    expect(Object.keys(tracingChannels).sort()).toEqual(Object.keys(TRACING_CHANNEL_NAMES).sort())
    for (const [op, name] of Object.entries(TRACING_CHANNEL_NAMES)) {
      expect(name).toBe(`tierkit:${op}`)
      expect(tracingChannel(name).asyncEnd).toBe(tracingChannels[op as keyof typeof tracingChannels].asyncEnd)
    }
    expect(Object.isFrozen(TRACING_CHANNEL_NAMES)).toBe(true)
  })

  test('nobody listening: the message is never built and fn gets undefined', async () => {
    let built = 0
    const result = await traced(
      tracingChannels.getOrLoad,
      () => {
        built++
        return { package: 'p', operation: 'getOrLoad' }
      },
      async (m) => m,
    )
    expect(result).toBeUndefined()
    expect(built).toBe(0)
  })

  test('someone listening: fn fills the message the subscriber receives at asyncEnd', async () => {
    const ends: TraceMessage[] = []
    const handlers = {
      start() {},
      end() {},
      asyncStart() {},
      asyncEnd(m: TraceMessage) {
        ends.push({ ...m })
      },
      error() {},
    }
    tracingChannels.getOrLoad.subscribe(handlers)
    try {
      const value = await traced(
        tracingChannels.getOrLoad,
        (): TraceMessage => ({ package: 'p', operation: 'getOrLoad', namespace: 'n' }),
        async (m) => {
          m!.layer = 'l2'
          m!.outcome = 'hit'
          return 7
        },
      )
      expect(value).toBe(7)
    } finally {
      tracingChannels.getOrLoad.unsubscribe(handlers)
    }
    expect(ends).toEqual([
      { package: 'p', operation: 'getOrLoad', namespace: 'n', layer: 'l2', outcome: 'hit', result: 7 },
    ])
  })
})
