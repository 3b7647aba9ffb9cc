/**
 * The Cloudflare purge client against a local server that enforces Cloudflare's documented limits (100 tags per
 * request, a token bucket per account answered by 429 + Retry-After): batching, the shared queue, retries with
 * backoff, and a report that keeps every tag not purged with its reason.
 */
import { afterEach, describe, expect, test } from 'vitest'
import {
  CLOUDFLARE_PURGE_LIMITS,
  CLOUDFLARE_TAGS_PER_REQUEST,
  createPurgeClient,
  type PurgeClientOptions,
} from '../src/cloudflare.js'
import { PurgeFailedError } from '../src/index.js'
import { type FakeCloudflare, type FakeCloudflareOptions, startFakeCloudflare } from './fake-cloudflare.js'
import { expectInvalidArgument, rejection, thrown } from './helpers.js'

let fake: FakeCloudflare | undefined
afterEach(async () => {
  await fake?.close()
  fake = undefined
})

async function setup(server: FakeCloudflareOptions = {}, client: Partial<PurgeClientOptions> = {}) {
  fake = await startFakeCloudflare(server)
  const purge = createPurgeClient({
    zoneId: 'zone1',
    apiToken: 'tok',
    baseUrl: fake.baseUrl,
    rate: { perSecond: 1000, burst: 1000 },
    retryDelay: 5,
    maxRetryDelay: 20,
    ...client,
  })
  return { fake, purge }
}

const tags = (n: number, prefix = 't'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`)

describe('Cloudflare limits', () => {
  test('the documented figures: 100 tags a request, a token bucket per plan', () => {
    expect(CLOUDFLARE_TAGS_PER_REQUEST).toBe(100)
    expect(CLOUDFLARE_PURGE_LIMITS).toEqual({
      free: { perSecond: 5 / 60, burst: 25 },
      pro: { perSecond: 5, burst: 25 },
      business: { perSecond: 10, burst: 50 },
      enterprise: { perSecond: 50, burst: 500 },
    })
  })

  test('250 tags (and duplicates) go in 3 requests of at most 100, all purged; the server refuses 101', async () => {
    const { fake, purge } = await setup()
    const given = [...tags(250), 't0', 't249']
    const report = await purge.purgeTags(given)
    expect(report.failed).toEqual([])
    expect(report.purged).toEqual(tags(250))
    expect(fake.requests.map((r) => [r.tags.length, r.status])).toEqual([
      [100, 200],
      [100, 200],
      [50, 200],
    ])
    // the fake does enforce the limit the client keeps to
    const res = await fetch(`${fake.baseUrl}/zones/zone1/purge_cache`, {
      method: 'POST',
      body: JSON.stringify({ tags: tags(101) }),
    })
    expect(res.status).toBe(400)
    expect(await res.json()).toMatchObject({ success: false, errors: [{ code: 1122 }] })
  })

  test('over the rate limit: 429 + Retry-After pauses the queue for it, then every tag is purged', async () => {
    // a bucket of 2 refilled 5 a second; the client believes it may send 1000 a second
    const { fake, purge } = await setup(
      { rate: { perSecond: 5, burst: 2 }, retryAfter: 1 },
      { batchSize: 10 },
    )
    const report = await purge.purgeTags(tags(60))
    expect(report.failed).toEqual([])
    expect(report.purged).toHaveLength(60)
    const limited = fake.requests.filter((r) => r.status === 429)
    expect(limited.length).toBeGreaterThan(0)
    expect(fake.requests.filter((r) => r.status === 200)).toHaveLength(6)
    // nothing was sent before a Retry-After had elapsed
    expect(fake.violations).toEqual([])
  })

  test("the client's own bucket keeps it under the account's limit: no 429 at all", async () => {
    const { fake, purge } = await setup(
      { rate: { perSecond: 10, burst: 3 } },
      // a burst one under the account's: a request delayed on its way (a busy machine) may reach the account's
      // bucket together with the next ones, which an equal burst would not absorb
      { batchSize: 5, rate: { perSecond: 8, burst: 2 } },
    )
    const report = await purge.purgeTags(tags(40))
    expect(report.purged).toHaveLength(40)
    expect(fake.requests.map((r) => r.status)).toEqual(Array(8).fill(200))
  })

  test('a Retry-After longer than maxRetryAfter fails the batch at once as rate-limited', async () => {
    const { fake, purge } = await setup(
      { override: () => ({ status: 429, retryAfter: '3600' }) },
      { maxRetryAfter: 1000 },
    )
    const report = await purge.purgeTags(['a', 'b'])
    expect(report.purged).toEqual([])
    expect(report.failed.map((f) => [f.tag, f.reason])).toEqual([
      ['a', 'rate-limited'],
      ['b', 'rate-limited'],
    ])
    expect(report.failed[0]!.error.message).toBe(
      'purgeTags ["a","b"]: Cloudflare asked to wait 3600000 ms (Retry-After), more than options.maxRetryAfter (1000 ms)',
    )
    expect(fake.requests).toHaveLength(1)
  })

  test('429 without Retry-After is retried with backoff, a bounded number of times', async () => {
    const { fake, purge } = await setup(
      { override: () => ({ status: 429, retryAfter: 'soon' }) },
      { attempts: 3 },
    )
    const report = await purge.purgeTags(['a'])
    expect(report.failed).toMatchObject([{ tag: 'a', reason: 'rate-limited', error: { status: 429 } }])
    expect(fake.requests).toHaveLength(3)
  })
})

describe('the queue', () => {
  test('concurrent calls share requests: tags waiting are merged, a tag in flight is sent again', async () => {
    let first = true
    const { fake, purge } = await setup({}, {})
    // hold the first request until the others are queued
    let open = (): void => {}
    const gate = new Promise<void>((resolve) => {
      open = resolve
    })
    const origFetch = globalThis.fetch
    const held = createPurgeClient({
      zoneId: 'zone1',
      apiToken: 'tok',
      baseUrl: fake.baseUrl,
      fetch: async (url, init) => {
        if (first) {
          first = false
          await gate
        }
        return origFetch(url, init)
      },
    })
    const a = held.purgeTags(['a', 'b'])
    const b = held.purgeTags(['b', 'c'])
    const c = held.purgeTags(['c', 'd', 'c'])
    expect(held.queued).toBe(3)
    open()
    const [ra, rb, rc] = await Promise.all([a, b, c])
    expect(fake.requests.map((r) => r.tags)).toEqual([
      ['a', 'b'],
      ['b', 'c', 'd'],
    ])
    expect([ra.purged, rb.purged, rc.purged]).toEqual([
      ['a', 'b'],
      ['b', 'c'],
      ['c', 'd'],
    ])
    expect(held.queued).toBe(0)
    expect(await purge.purgeTags([])).toEqual({ purged: [], hardened: [], failed: [] })
  })

  test('a full queue fails the tags beyond it (queue-full), the others are purged', async () => {
    const { purge } = await setup({}, { maxQueue: 2 })
    const report = await purge.purgeTags(['a', 'b', 'c', 'd'])
    expect(report.purged).toEqual(['a', 'b'])
    expect(report.failed.map((f) => [f.tag, f.reason, f.error.code])).toEqual([
      ['c', 'queue-full', 'E_PURGE_FAILED'],
      ['d', 'queue-full', 'E_PURGE_FAILED'],
    ])
  })
})

describe('failures are reported, never lost', () => {
  test('5xx and dropped connections are retried until they succeed', async () => {
    const { fake, purge } = await setup({
      override: (_tags, n) => (n === 0 ? { status: 503 } : n === 1 ? 'drop' : undefined),
    })
    const report = await purge.purgeTags(['a'])
    expect(report).toEqual({ purged: ['a'], hardened: [], failed: [] })
    expect(fake.requests.map((r) => r.status)).toEqual([503, 0, 200])
  })

  test('a batch still failing after the last attempt is reported with its reason; other batches are purged', async () => {
    const { fake, purge } = await setup(
      {
        override: (batch) =>
          batch.includes('bad') ? { status: 400 } : batch.includes('down') ? { status: 502 } : undefined,
      },
      { batchSize: 2, attempts: 3 },
    )
    const report = await purge.purgeTags(['ok1', 'bad', 'ok2', 'ok3', 'down', 'ok4'])
    expect(report.purged).toEqual(['ok2', 'ok3'])
    expect(report.failed.map((f) => [f.tag, f.reason, f.error.status, f.error.retryable])).toEqual([
      ['ok1', 'rejected', 400, false],
      ['bad', 'rejected', 400, false],
      ['down', 'unavailable', 502, true],
      ['ok4', 'unavailable', 502, true],
    ])
    expect(report.failed[0]!.error).toBeInstanceOf(PurgeFailedError)
    expect(report.failed[0]!.error.message).toBe(
      'purgeTags ["ok1","bad"]: Cloudflare answered HTTP 400: forced 400',
    )
    // the 400 is not retried, the 502 is, 3 attempts
    expect(fake.requests.map((r) => r.status)).toEqual([400, 200, 502, 502, 502])
  })

  test('no answer within timeout: reason timeout, after the last attempt', async () => {
    const { fake, purge } = await setup({ override: () => 'hang' }, { timeout: 50, attempts: 2 })
    const report = await purge.purgeTags(['late'])
    expect(report.failed).toMatchObject([
      {
        tag: 'late',
        reason: 'timeout',
        error: { status: 0, message: 'purgeTags ["late"]: no answer within 50 ms' },
      },
    ])
    expect(fake.requests).toHaveLength(2)
  })

  test('soft: Cloudflare has no soft purge by tag, so the tags are purged hard and listed in hardened', async () => {
    const { purge } = await setup()
    expect(await purge.purgeTags(['a', 'b'], { mode: 'soft' })).toEqual({
      purged: ['a', 'b'],
      hardened: ['a', 'b'],
      failed: [],
    })
  })
})

describe('hostile input', () => {
  test('__proto__ and constructor are tags like any other', async () => {
    const { fake, purge } = await setup()
    const report = await purge.purgeTags(['__proto__', 'constructor', 'toString'])
    expect(report.purged).toEqual(['__proto__', 'constructor', 'toString'])
    expect(fake.requests[0]!.tags).toEqual(['__proto__', 'constructor', 'toString'])
  })

  test('CR/LF, oversize and non-string tags, a bad mode: TierkitTypeError, nothing sent', async () => {
    const { fake, purge } = await setup()
    expectInvalidArgument(
      await rejection(purge.purgeTags(['ok', 'a\r\nX-Injected: 1'])),
      'PurgeClient.purgeTags: tags[1] must be a cache tag (1 to 1024 printable ASCII characters, no space or comma), got "a\\r\\nX-Injected: 1"',
    )
    const oversize = await rejection(purge.purgeTags(['x'.repeat(1025)]))
    expect(oversize).toMatchObject({ code: 'E_INVALID_ARGUMENT' })
    expect((oversize as Error).message).toMatch(
      /^PurgeClient\.purgeTags: tags\[0\] must be a cache tag \(1 to 1024 /,
    )
    expectInvalidArgument(
      await rejection(purge.purgeTags([1 as never])),
      'PurgeClient.purgeTags: tags[0] must be a cache tag (1 to 1024 printable ASCII characters, no space or comma), got 1',
    )
    expectInvalidArgument(
      await rejection(purge.purgeTags(['a'], { mode: 'medium' as never })),
      'PurgeClient.purgeTags: options.mode must be one of "hard", "soft", got "medium"',
    )
    expect(fake.requests).toHaveLength(0)
  })

  test('bad options: TierkitTypeError', () => {
    const base = { zoneId: 'z', apiToken: 't' }
    expectInvalidArgument(
      thrown(() => createPurgeClient({ ...base, plan: 'gold' as never })),
      'createPurgeClient: options.plan must be one of "free", "pro", "business", "enterprise", got "gold"',
    )
    expectInvalidArgument(
      thrown(() => createPurgeClient({ ...base, rate: { perSecond: 0, burst: 1 } })),
      'createPurgeClient: options.rate.perSecond must be a number of requests per second above 0, got 0',
    )
    expectInvalidArgument(
      thrown(() => createPurgeClient({ ...base, rate: { perSecond: 1, burst: 0.5 } })),
      'createPurgeClient: options.rate.burst must be an integer from 1 to 1000000, got 0.5',
    )
    expectInvalidArgument(
      thrown(() => createPurgeClient({ ...base, attempts: 0 })),
      'createPurgeClient: options.attempts must be an integer from 1 to 100, got 0',
    )
    expectInvalidArgument(
      thrown(() => createPurgeClient({ ...base, retryDelay: -1 })),
      'createPurgeClient: options.retryDelay must be a duration in ms, an integer from 0 to 2147483647, got -1',
    )
    expectInvalidArgument(
      thrown(() => createPurgeClient({ ...base, maxQueue: 0 })),
      'createPurgeClient: options.maxQueue must be an integer from 1 to 100000000, got 0',
    )
  })
})
