import { describe, expect, it } from 'vitest'
import {
  AbortedError,
  ClosedError,
  CorruptPayloadError,
  checkDuration,
  checkFunction,
  checkInteger,
  checkLimit,
  checkMethods,
  checkNumber,
  checkObject,
  checkOneOf,
  checkSignal,
  checkString,
  checkStrings,
  checkTimeout,
  checkTtl,
  closeTimeout,
  describeValue,
  errors,
  isTierkitError,
  MAX_TTL_MS,
  oneOfRule,
  PermissionError,
  refuseRenamed,
  TierkitError,
  TierkitTypeError,
  UnserializableValueError,
} from '../src/index.js'

describe('the error base', () => {
  it('every error has a stable code, its class name, and keeps its cause', () => {
    const cause = new Error('socket closed')
    const e = new TierkitError('E_SOMETHING', 'it broke', { cause })
    expect([e.code, e.name, e.message, e.cause]).toEqual(['E_SOMETHING', 'TierkitError', 'it broke', cause])
    class SubError extends TierkitError<'E_SUB'> {
      constructor() {
        super('E_SUB', 'sub')
      }
    }
    const sub = new SubError()
    expect(sub.name).toBe('SubError')
    expect(sub).toBeInstanceOf(TierkitError)
    expect('cause' in sub).toBe(false)
  })

  it('the shared errors carry their context, and the errors map names each class by its code', () => {
    expect(new ClosedError('the cache "users"')).toMatchObject({
      code: 'E_CLOSED',
      resource: 'the cache "users"',
      message: 'the cache "users" is closed',
    })
    const u = new UnserializableValueError('$.a', 'a function', 'k')
    expect(u).toMatchObject({ code: 'E_UNSERIALIZABLE', path: '$.a', reason: 'a function', key: 'k' })
    expect(u.message).toBe('cannot serialize a function at $.a (key "k")')
    const cause = new RangeError('deep')
    expect(new UnserializableValueError('$', 'deep', undefined, { cause }).cause).toBe(cause)
    const a = new AbortedError('getOrLoad', 'gone', 'k')
    expect([a.name, a.code, a.cause, a.key]).toEqual(['AbortError', 'E_ABORTED', 'gone', 'k'])
    expect(new CorruptPayloadError('bad tag').message).toBe('corrupt payload: bad tag')
    const reply = new Error("NOPERM this user has no permissions to run the 'get' command")
    expect(new PermissionError('get', 'command', reply)).toMatchObject({
      name: 'PermissionError',
      code: 'E_REDIS_NOPERM',
      command: 'get',
      denied: 'command',
      cause: reply,
      message:
        "Redis ACL denied the command 'get' (command): NOPERM this user has no permissions to run the 'get' command",
    })
    for (const [code, Class] of Object.entries(errors))
      expect(new (Class as new (...a: never[]) => { code: string })().code).toBe(code)
    expect(Object.keys(errors).sort()).toEqual([
      'E_ABORTED',
      'E_CLOSED',
      'E_CORRUPT_PAYLOAD',
      'E_INVALID_ARGUMENT',
      'E_REDIS_NOPERM',
      'E_UNSERIALIZABLE',
    ])
    expect(isTierkitError(new ClosedError('x'), 'E_CLOSED')).toBe(true)
    expect(isTierkitError(new ClosedError('x'), 'E_ABORTED')).toBe(false)
    expect(isTierkitError(new TierkitTypeError('m'))).toBe(true)
    expect(isTierkitError(Object.assign(new Error('x'), { code: 'E_CLOSED' }))).toBe(false)
  })
})

describe('argument checks: one message shape, `<where>: <what> must be <rule>, got <value>`', () => {
  const threw = (fn: () => unknown): TierkitTypeError => {
    let thrown: unknown
    try {
      fn()
    } catch (e) {
      thrown = e
    }
    expect(thrown).toBeInstanceOf(TierkitTypeError)
    expect(thrown).toBeInstanceOf(TypeError)
    expect((thrown as TierkitTypeError).code).toBe('E_INVALID_ARGUMENT')
    return thrown as TierkitTypeError
  }

  it('integers, durations and TTLs refuse fractions, non-finite numbers, strings and out-of-range values', () => {
    for (const bad of [1.5, Number.NaN, Number.POSITIVE_INFINITY, -1, '10', 1e300, undefined, null])
      threw(() => checkTtl('createCache', 'ttl', bad))
    expect(threw(() => checkTtl('createCache', 'ttl', 1.5)).message).toBe(
      `createCache: ttl must be a duration in ms, an integer from 1 to ${MAX_TTL_MS}, got 1.5`,
    )
    expect(threw(() => checkDuration('L1Cache', 'options.grace', '5')).message).toBe(
      'L1Cache: options.grace must be a duration in ms, an integer from 0 to 2147483647, got "5"',
    )
    expect(threw(() => checkInteger('createPool', 'maxThreads', 0, 1, 64)).message).toBe(
      'createPool: maxThreads must be an integer from 1 to 64, got 0',
    )
    expect(checkTtl('x', 'ttl', MAX_TTL_MS)).toBe(MAX_TTL_MS)
    expect(checkDuration('x', 'timeout', 0)).toBe(0)
    expect(checkInteger('x', 'n', 64, 1, 64)).toBe(64)
  })

  it('numbers, strings, functions, objects and signals', () => {
    expect(checkNumber('x', 'jitter', 0.25, 0, 1)).toBe(0.25)
    expect(threw(() => checkNumber('x', 'jitter', 2, 0, 1)).message).toBe(
      'x: jitter must be a number from 0 to 1, got 2',
    )
    expect(threw(() => checkString('get', 'key', '')).message).toBe(
      'get: key must be a non-empty string of at most 65536 characters, got ""',
    )
    expect(threw(() => checkString('get', 'key', 'x'.repeat(100), 10)).message).toContain('got "xxxx')
    expect(threw(() => checkFunction('getOrLoad', 'loader', 5)).message).toBe(
      'getOrLoad: loader must be a function, got 5',
    )
    expect(threw(() => checkObject('createCache', 'options', [])).message).toBe(
      'createCache: options must be an object, got an array',
    )
    expect(() => checkObject('createCache', 'options', undefined, true)).not.toThrow()
    expect(threw(() => checkSignal('getOrLoad', 'options.signal', { aborted: 'no' })).message).toBe(
      'getOrLoad: options.signal must be an AbortSignal, got an object',
    )
    const signal = new AbortController().signal
    expect(checkSignal('x', 'signal', signal)).toBe(signal)
    expect(threw(() => checkObject('x', 'o', new Map())).message).toBe(
      'x: o must be an object, got an instance of Map',
    )
    class Options {
      ttl = 1
    }
    expect(threw(() => checkObject('x', 'o', new Options())).message).toBe(
      'x: o must be an object, got an instance of Options',
    )
    for (const plain of [{}, Object.create(null), { constructor: 5 }, { ttl: 1 }])
      expect(() => checkObject('x', 'o', plain)).not.toThrow()
    expect(threw(() => checkObject('x', 'o', null, true)).message).toBe('x: o must be an object, got null')
  })

  it('close(options?) takes { timeout } only', () => {
    expect(closeTimeout('cache.close', undefined, 2000)).toBe(2000)
    expect(closeTimeout('cache.close', {}, 2000)).toBe(2000)
    expect(closeTimeout('cache.close', { timeout: 50 }, 2000)).toBe(50)
    expect(threw(() => closeTimeout('cache.close', 5000, 2000)).message).toBe(
      'cache.close: options must be an object, got 5000',
    )
    expect(threw(() => closeTimeout('cache.close', { timeout: -1 }, 2000)).message).toBe(
      'cache.close: options.timeout must be a duration in ms, an integer from 0 to 2147483647, got -1',
    )
  })
})

describe('the checks for arrays, choices, shapes and renamed options', () => {
  const message = (fn: () => unknown): string => {
    let thrown: unknown
    try {
      fn()
    } catch (e) {
      thrown = e
    }
    expect(thrown).toBeInstanceOf(TierkitTypeError)
    return (thrown as Error).message
  }
  it('name the bad element, the choices, the missing methods and the replacement', () => {
    expect(checkStrings('deleteMany', 'keys', ['a', 'b'])).toEqual(['a', 'b'])
    expect(message(() => checkStrings('deleteMany', 'keys', ['a', 3]))).toBe(
      'deleteMany: keys[1] must be a non-empty string of at most 65536 characters, got 3',
    )
    expect(message(() => checkStrings('publish', 'tags', [], true))).toBe(
      'publish: tags must be a non-empty array of non-empty strings, got an array',
    )
    expect(checkOneOf('L1Cache', 'options.policy', 'lru', ['lru', 'tinylfu'])).toBe('lru')
    expect(message(() => checkOneOf('L1Cache', 'options.policy', 'lfu', ['lru', 'tinylfu']))).toBe(
      'L1Cache: options.policy must be one of "lru", "tinylfu", got "lfu"',
    )
    expect(() =>
      checkMethods('createCache', 'options.l1', new Map(), ['get', 'set', 'delete', 'clear']),
    ).not.toThrow()
    expect(message(() => checkMethods('createCache', 'options.l1', { get() {} }, ['get', 'set']))).toBe(
      'createCache: options.l1 must be an object with get, set methods, got an object',
    )
    expect(() =>
      refuseRenamed('createCache', { cooldown: 1 }, { coolDown: 'renamed cooldown' }),
    ).not.toThrow()
    expect(
      message(() =>
        refuseRenamed('createCache', { coolDown: 1 }, { coolDown: 'renamed cooldown' }, 'breaker.'),
      ),
    ).toBe('createCache: breaker.coolDown must be left out (renamed cooldown), got 1')
    expect(oneOfRule(['strong', 'weak', false])).toBe('one of "strong", "weak", false')
    const nine = Array.from({ length: 9 }, (_, i) => `l${i}`)
    expect(oneOfRule(nine.slice(0, 8))).toBe('one of "l0", "l1", "l2", "l3", "l4", "l5", "l6", "l7"')
    expect(message(() => checkOneOf('createCacheMetrics', 'options.baseline', 'x', nine))).toBe(
      'createCacheMetrics: options.baseline must be one of "l0", "l1", "l2", "l3", "l4", "l5", "l6", "l7", ..., got "x"',
    )
    expect(() =>
      checkMethods(
        'x',
        'source',
        Object.assign(() => 1, { stats() {} }),
        ['stats'],
      ),
    ).not.toThrow()
    for (const bad of [null, undefined, 5, 'stats'])
      expect(
        message(() => checkMethods('x', 'source', bad, ['stats'], 'an object with a stats() method')),
      ).toBe(`x: source must be an object with a stats() method, got ${describeValue(bad)}`)
  })

  it('an optional function, a timeout or a limit that may be Infinity', () => {
    expect(() => checkFunction('createPool', 'onEvent', undefined, true)).not.toThrow()
    expect(message(() => checkFunction('createPool', 'onEvent', undefined))).toBe(
      'createPool: onEvent must be a function, got undefined',
    )
    expect(message(() => checkFunction('createPool', 'onEvent', 'log', true))).toBe(
      'createPool: onEvent must be a function, got "log"',
    )
    expect(checkTimeout('run', 'options.timeout', Number.POSITIVE_INFINITY, 1)).toBe(Number.POSITIVE_INFINITY)
    expect(checkTimeout('run', 'options.timeout', 2_147_483_647, 1)).toBe(2_147_483_647)
    expect(checkTimeout('run', 'options.timeout', 0)).toBe(0)
    for (const bad of [0, 1.5, Number.NaN, Number.NEGATIVE_INFINITY, 2_147_483_648, '10', null])
      expect(message(() => checkTimeout('run', 'options.timeout', bad, 1))).toBe(
        `run: options.timeout must be a duration in ms, an integer from 1 to 2147483647, or Infinity, got ${describeValue(bad)}`,
      )
    expect(checkLimit('createPool', 'maxQueue', Number.POSITIVE_INFINITY, 0)).toBe(Number.POSITIVE_INFINITY)
    expect(checkLimit('createPool', 'maxQueue', 0, 0)).toBe(0)
    expect(checkLimit('x', 'n', 100, 1, 100)).toBe(100)
    for (const bad of [-1, 0.5, Number.NaN, 2_147_483_648, '3', undefined])
      expect(message(() => checkLimit('mapLimit', 'limit', bad, 0))).toBe(
        `mapLimit: limit must be an integer from 0 to 2147483647, or Infinity, got ${describeValue(bad)}`,
      )
    expect(message(() => checkLimit('x', 'n', 101, 1, 100))).toBe(
      'x: n must be an integer from 1 to 100, or Infinity, got 101',
    )
  })
})
