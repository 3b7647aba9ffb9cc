/**
 * The two message decoders on their own (no server): the bus's payload on its channel, and Redis'
 * invalidation payload on `__redis__:invalidate`.
 */
import { describe, expect, it } from 'vitest'
import { decodeMessage, encodeMessage } from '../src/bus/wire.js'
import { decodeInvalidation } from '../src/tracking/messages.js'

describe('the bus message', () => {
  it('round-trips, leaving out empty lists', () => {
    expect(decodeMessage(encodeMessage('me', ['a', 'b'], ['t']))).toEqual({
      i: 'me',
      k: ['a', 'b'],
      t: ['t'],
    })
    expect(encodeMessage('me', ['a'], [])).toBe('{"i":"me","k":["a"]}')
    expect(encodeMessage('me', [], ['t'])).toBe('{"i":"me","t":["t"]}')
  })

  it('carries the versions of invalidated tags; versions that do not fit their tags are dropped, the tags kept', () => {
    const wire = encodeMessage('me', [], ['a', 'b'], { hard: [5, 6], soft: [0, 7] })
    expect(wire).toBe('{"i":"me","t":["a","b"],"v":[5,6],"s":[0,7]}')
    expect(decodeMessage(wire)).toEqual({ i: 'me', t: ['a', 'b'], v: [5, 6], s: [0, 7] })
    expect(encodeMessage('me', ['k'], [], { hard: [], soft: [] })).toBe('{"i":"me","k":["k"]}')
    for (const bad of ['"v":[5],"s":[0,7]', '"v":[5,-1],"s":[0,7]', '"v":[5,6],"s":["0","7"]', '"v":[5,6]']) {
      expect(decodeMessage(`{"i":"me","t":["a","b"],${bad}}`)).toEqual({ i: 'me', t: ['a', 'b'] })
    }
  })

  it('refuses what is not a bus message', () => {
    for (const payload of [
      '',
      'not json',
      'null',
      '42',
      '"s"',
      '{}',
      '{"i":1}',
      '{"i":"x","k":"a"}',
      '{"i":"x","t":[1]}',
    ]) {
      expect(decodeMessage(payload), payload).toBeUndefined()
    }
  })
})

describe('the invalidation payload of client-side caching', () => {
  it('maps the Redis keys to cache keys, dropping what toKey refuses and reporting what it throws', () => {
    const errors: unknown[] = []
    const toKey = (k: string): string | undefined => {
      if (k === 'boom') throw new Error('bad key')
      return k.startsWith('p:') ? k.slice(2) : undefined
    }
    expect(
      decodeInvalidation(['p:a', 'other', 'boom', 'p:', Buffer.from('p:b')], toKey, (e) => errors.push(e)),
    ).toEqual(['a', 'b'])
    expect(errors).toHaveLength(1)
    expect((errors[0] as Error).message).toBe('bad key')
  })

  it('a payload that is not a list of keys is a flush', () => {
    expect(
      decodeInvalidation(
        null,
        (k) => k,
        () => {},
      ),
    ).toBe('flush')
  })
})
