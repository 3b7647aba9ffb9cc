/**
 * The nginx purger against Debian's nginx (started by the test kit with the purger's own config snippet): hard
 * purge makes the next request a MISS, soft purge makes it a HIT with the new content, a failed re-fetch falls
 * back to hard; hostile log lines and tags are ignored or refused, never a crash.
 */
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startNginxWithHttp } from '@tierkit/testkit'
import { afterAll, describe, expect, test } from 'vitest'
import { createNginxPurger, type NginxPurger, nginxPurgeConfig } from '../src/nginx.js'
import { cacheFile } from '../src/nginx-log.js'
import { expectInvalidArgument, listen, rejection, request, thrown } from './helpers.js'

const version = new Map<string, number>()
const originHits: string[] = []
let failRefetch = false
const origin = await listen((req, res) => {
  const path = req.url ?? '/'
  originHits.push(`${path}${req.headers['x-tierkit-purge'] ? ' (purge)' : ''}`)
  if (failRefetch && req.headers['x-tierkit-purge']) {
    res.statusCode = 503
    res.end('down')
    return
  }
  const tags: Record<string, string> = {
    '/p/42': 'product:42,products',
    '/p/43': 'product:43,products',
    '/list': 'products',
    '/s/1': 'soft:1',
    '/f/1': 'fail:1',
    '/proto': '__proto__,a b',
  }
  res.setHeader('cache-control', 'public, max-age=300')
  const tag = tags[path.split('?')[0] ?? '']
  if (tag !== undefined) res.setHeader('cache-tag', tag)
  res.end(`${path} v${version.get(path) ?? 1}`)
})
const logDir = mkdtempSync(join(tmpdir(), 'tierkit-purge-log-'))
const accessLog = join(logDir, 'access.log')
const conf = nginxPurgeConfig({ accessLog })
const nginx = await startNginxWithHttp({
  upstream: origin.url,
  http: conf.http,
  config: { extra: conf.location },
})
afterAll(async () => {
  await nginx.stop()
  await origin.close()
})
const purger: NginxPurger = createNginxPurger({
  url: nginx.url,
  cacheDir: join(nginx.dir, 'cache'),
  accessLog,
  cacheKey: '$request_uri', // the test kit's proxy_cache_key
})

let sent = 0

/** GETs `path` through nginx on a fresh connection. */
async function get(path: string, headers: Record<string, string> = {}) {
  sent++
  const r = await request(nginx.url, path, { fresh: true, headers })
  return { status: r.headers['x-cache-status'], body: r.body }
}

/** Waits until nginx has logged every request sent (it writes a line once the answer is sent). */
async function logged(): Promise<void> {
  let lines = 0
  for (let i = 0; i < 200; i++) {
    lines = readFileSync(accessLog, 'latin1').split('\n').length - 1
    if (lines >= sent) break
    await new Promise((r) => setTimeout(r, 10))
  }
  expect(lines).toBe(sent)
}

describe('hard purge', () => {
  test('removes the cache files of every URL carrying the tag: the next request is a MISS with the new content', async () => {
    expect(await get('/p/42')).toEqual({ status: 'MISS', body: '/p/42 v1' })
    expect(await get('/p/42')).toEqual({ status: 'HIT', body: '/p/42 v1' })
    expect((await get('/list')).status).toBe('MISS')
    expect((await get('/p/43')).status).toBe('MISS')
    await logged()
    version.set('/p/42', 2)
    expect(await purger.purgeTags(['product:42'])).toEqual({
      purged: ['product:42'],
      hardened: [],
      failed: [],
    })
    expect(await get('/p/42')).toEqual({ status: 'MISS', body: '/p/42 v2' })
    // the other product is untouched
    expect((await get('/p/43')).status).toBe('HIT')
    // a tag shared by several URLs purges them all
    await logged()
    expect((await purger.purgeTags(['products'])).purged).toEqual(['products'])
    expect((await get('/list')).status).toBe('MISS')
    expect((await get('/p/43')).status).toBe('MISS')
  })
})

describe('soft purge', () => {
  test('re-fetches each URL through nginx with the bypass header: the next request is a HIT with the new content', async () => {
    expect((await get('/s/1')).status).toBe('MISS')
    expect(await get('/s/1')).toEqual({ status: 'HIT', body: '/s/1 v1' })
    await logged()
    version.set('/s/1', 2)
    originHits.length = 0
    expect(await purger.purgeTags(['soft:1'], { mode: 'soft' })).toEqual({
      purged: ['soft:1'],
      hardened: [],
      failed: [],
    })
    expect(originHits).toEqual(['/s/1 (purge)'])
    sent++ // the re-fetch went through nginx, which logged it
    // no user sees a MISS
    expect(await get('/s/1')).toEqual({ status: 'HIT', body: '/s/1 v2' })
  })

  test('a re-fetch that fails (503) cannot have replaced the entry: its file is removed, the tag listed in hardened', async () => {
    expect((await get('/f/1')).status).toBe('MISS')
    await logged()
    version.set('/f/1', 2)
    failRefetch = true
    const report = await purger.purgeTags(['fail:1'], { mode: 'soft' })
    failRefetch = false
    sent++ // the re-fetch
    expect(report).toEqual({ purged: ['fail:1'], hardened: ['fail:1'], failed: [] })
    expect(await get('/f/1')).toEqual({ status: 'MISS', body: '/f/1 v2' })
  })
})

describe('hostile input', () => {
  test('__proto__ is a tag like any other; a bad tag in Cache-Tag is skipped; an unknown tag purges nothing', async () => {
    expect((await get('/proto')).status).toBe('MISS')
    await logged()
    expect(await purger.purgeTags(['__proto__', 'constructor', 'never-seen'])).toEqual({
      purged: ['__proto__', 'constructor', 'never-seen'],
      hardened: [],
      failed: [],
    })
    expect((await get('/proto')).status).toBe('MISS')
  })

  test('a request for another host is logged by nginx and ignored by the index', async () => {
    await logged()
    purger.read()
    const before = purger.stats()
    expect((await get('/p/42?evil', { host: 'evil.example' })).status).toBe('MISS')
    await logged()
    expect(purger.read()).toBe(0)
    expect(purger.stats()).toEqual({ ...before, ignored: before.ignored + 1 })
  })

  test('log lines outside the origin, not origin-form, with CR/LF or oversize are ignored', () => {
    const line = (host: string, uri: string, tags = 'x') =>
      ['1.000', '0.001', 'MISS', 'http', host, uri, '-', tags].join('\t')
    expect(purger.ingest(line('127.0.0.1', '/ok'))).toBe(true)
    expect(purger.ingest(line('evil.example', '/ok'))).toBe(false)
    expect(purger.ingest(line('127.0.0.1', 'http://evil.example/x'))).toBe(false)
    expect(purger.ingest(line('127.0.0.1', '//evil.example/x'))).toBe(false)
    expect(purger.ingest(line('127.0.0.1', '/a\\x0D\\x0AX-Injected:1'))).toBe(false)
    expect(purger.ingest(line('127.0.0.1', `/${'a'.repeat(70_000)}`))).toBe(false)
    expect(purger.ingest('garbage')).toBe(false)
    expect(purger.ingest(line('127.0.0.1', '/q', 'a\\x0D\\x0Ab,__proto__'))).toBe(true)
    // escaped quotes are undone: the key is the target nginx hashed
    expect(purger.ingest(line('127.0.0.1', '/q\\x22x'))).toBe(true)
  })

  test('tags with CR/LF, oversize or not strings, an unknown mode: TierkitTypeError', async () => {
    expectInvalidArgument(
      await rejection(purger.purgeTags(['a\r\nb'])),
      'NginxPurger.purgeTags: tags[0] must be a cache tag (1 to 1024 printable ASCII characters, no space or comma), got "a\\r\\nb"',
    )
    expect(await rejection(purger.purgeTags(['x'.repeat(1025)]))).toMatchObject({
      code: 'E_INVALID_ARGUMENT',
    })
    expectInvalidArgument(
      await rejection(purger.purgeTags('a' as never)),
      'NginxPurger.purgeTags: tags must be an array of cache tags, got "a"',
    )
    expectInvalidArgument(
      await rejection(purger.purgeTags(['a'], { mode: 'purge' as never })),
      'NginxPurger.purgeTags: options.mode must be one of "hard", "soft", got "purge"',
    )
  })
})

describe('config and cache paths', () => {
  test('the snippet: log_format in the http block, access_log and proxy_cache_bypass in the location', () => {
    expect(nginxPurgeConfig({ accessLog: '/var/log/nginx/tags.log' })).toEqual({
      http: "log_format tierkit_purge '$msec\\t$request_time\\t$upstream_cache_status\\t$scheme\\t$host\\t$request_uri\\t$http_x_tierkit_purge\\t$upstream_http_cache_tag';",
      location:
        'access_log /var/log/nginx/tags.log tierkit_purge;\nproxy_cache_bypass $http_x_tierkit_purge;',
    })
    expectInvalidArgument(
      thrown(() => nginxPurgeConfig({ accessLog: '/tmp/x; include /etc/passwd' })),
      'nginxPurgeConfig: options.accessLog must be an absolute path of letters, digits, . _ - /, got "/tmp/x; include /etc/passwd"',
    )
    expectInvalidArgument(
      thrown(() => nginxPurgeConfig({ accessLog: '/tmp/x', header: 'X\r\nY' })),
      'nginxPurgeConfig: options.header must be a lower-case header name (a-z, 0-9, -), got "X\\r\\nY"',
    )
  })

  test('the cache file is nginx’s: md5 of the key, levels taken from its end', () => {
    const h = createHash('md5').update('/p/42').digest('hex')
    expect(cacheFile('/c', [1, 2], '/p/42')).toBe(`/c/${h.slice(-1)}/${h.slice(-3, -1)}/${h}`)
    expect(cacheFile('/c', [2], '/p/42')).toBe(`/c/${h.slice(-2)}/${h}`)
  })

  test('bad options: TierkitTypeError', () => {
    const base = { url: 'http://127.0.0.1:1', cacheDir: '/tmp/c' }
    expectInvalidArgument(
      thrown(() => createNginxPurger({ ...base, levels: '3' })),
      'createNginxPurger: options.levels must be nginx levels (1 to 3 of 1 or 2, like "1:2"), got "3"',
    )
    expectInvalidArgument(
      thrown(() => createNginxPurger({ ...base, cacheKey: '$cookie_session$request_uri' })),
      'createNginxPurger: options.cacheKey must be a key of $scheme, $host, $http_host, $request_uri, $proxy_host, got "$cookie_session$request_uri"',
    )
    expectInvalidArgument(
      thrown(() => createNginxPurger(base)),
      'createNginxPurger: options.proxyHost must be the proxy_pass host (the key uses $proxy_host), got undefined',
    )
    expectInvalidArgument(
      thrown(() => createNginxPurger({ ...base, url: 'ftp://x', proxyHost: 'o' })),
      'createNginxPurger: options.url must be an http: URL of nginx, got "ftp://x"',
    )
  })
})
