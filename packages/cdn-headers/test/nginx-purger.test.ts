/** The nginx purger without nginx: its index bound, a cache file it cannot remove, a rotated log; Retry-After. */
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { createNginxPurger } from '../src/nginx.js'
import { cacheFile } from '../src/nginx-log.js'
import { parseRetryAfter } from '../src/purge-request.js'

const line = (uri: string, tags: string, msec = '1.000', time = '0.001', cache = 'MISS', refetch = '-') =>
  [msec, time, cache, 'http', '127.0.0.1', uri, refetch, tags].join('\t')

/** Writes a fake cache file for `uri` (key `$request_uri`, levels 1:2). */
function stored(dir: string, uri: string): string {
  const f = cacheFile(dir, [1, 2], uri)
  mkdirSync(dirname(f), { recursive: true })
  writeFileSync(f, 'entry')
  return f
}

describe('nginx purger, no nginx', () => {
  test('beyond maxEntries the oldest entry is dropped from the index and its file removed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tierkit-purger-'))
    const p = createNginxPurger({
      url: 'http://127.0.0.1:1',
      cacheDir: dir,
      cacheKey: '$request_uri',
      maxEntries: 2,
    })
    const a = stored(dir, '/a')
    const b = stored(dir, '/b')
    expect([p.ingest(line('/a', 't')), p.ingest(line('/b', 't')), p.ingest(line('/c', 't'))]).toEqual([
      true,
      true,
      true,
    ])
    expect(p.stats()).toEqual({ entries: 2, ignored: 0, lateStores: 0 })
    expect([existsSync(a), existsSync(b)]).toEqual([false, true])
  })

  test('a cache file that cannot be removed fails the tag with reason io; other tags are purged', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tierkit-purger-'))
    const p = createNginxPurger({ url: 'http://127.0.0.1:1', cacheDir: dir, cacheKey: '$request_uri' })
    // a folder where the file should be: unlink fails with EISDIR/EPERM, not ENOENT
    mkdirSync(cacheFile(dir, [1, 2], '/x'), { recursive: true })
    p.ingest(line('/x', 'stuck'))
    p.ingest(line('/y', 'fine'))
    const report = await p.purgeTags(['stuck', 'fine'])
    expect(report.purged).toEqual(['fine'])
    expect(report.failed.map((f) => [f.tag, f.reason, f.error.code])).toEqual([
      ['stuck', 'io', 'E_PURGE_FAILED'],
    ])
    expect(report.failed[0]!.error.message).toMatch(/^purgeTags \["stuck"\]: could not remove a cache file: /)
  })

  test('the log is read from where it was left, a partial line waits, a truncated log starts over', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tierkit-purger-'))
    const log = join(dir, 'access.log')
    const p = createNginxPurger({
      url: 'http://127.0.0.1:1',
      cacheDir: dir,
      accessLog: log,
      cacheKey: '$request_uri',
    })
    expect(p.read()).toBe(0) // no file yet
    writeFileSync(log, `${line('/a', 't')}\n${line('/b', 't').slice(0, 10)}`)
    expect(p.read()).toBe(1)
    writeFileSync(log, `${line('/a', 't')}\n${line('/b', 't')}\n`)
    expect(p.read()).toBe(1)
    writeFileSync(log, `${line('/c', 't')}\n`)
    expect(p.read()).toBe(1)
    expect(p.stats().entries).toBe(3)
  })

  test('the key template: $scheme$proxy_host$request_uri by default', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tierkit-purger-'))
    const p = createNginxPurger({ url: 'http://127.0.0.1:1', cacheDir: dir, proxyHost: 'tk_origin' })
    const f = cacheFile(dir, [1, 2], 'httptk_origin/a')
    expect(f.endsWith(createHash('md5').update('httptk_origin/a').digest('hex'))).toBe(true)
    mkdirSync(dirname(f), { recursive: true })
    writeFileSync(f, 'entry')
    p.ingest(line('/a', 't'))
    return p.purgeTags(['t']).then((r) => {
      expect(r.purged).toEqual(['t'])
      expect(existsSync(f)).toBe(false)
    })
  })
})

describe('late stores', () => {
  test('an answer stored after a purge of its tag by a request that started before it is removed as it is read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tierkit-purger-'))
    const p = createNginxPurger({ url: 'http://127.0.0.1:1', cacheDir: dir, cacheKey: '$request_uri' })
    const before = Date.now()
    await p.purgeTags(['t'])
    const at = (ms: number) => (ms / 1000).toFixed(3)
    const late = stored(dir, '/late')
    const fresh = stored(dir, '/fresh')
    const refetched = stored(dir, '/refetched')
    const hit = stored(dir, '/hit')
    // started 2 s before the purge, logged (stored) after it
    expect(p.ingest(line('/late', 't', at(before + 5), '2.005'))).toBe(true)
    // started after the purge; a purge's own re-fetch; a HIT stores nothing
    p.ingest(line('/fresh', 't', at(before + 5000), '0.001'))
    p.ingest(line('/refetched', 't', at(before + 5), '2.005', 'BYPASS', '1'))
    p.ingest(line('/hit', 't', at(before + 5), '2.005', 'HIT'))
    expect(p.stats().lateStores).toBe(1)
    expect([late, fresh, refetched, hit].map((f) => existsSync(f))).toEqual([false, true, true, true])
  })
})

describe('Retry-After', () => {
  test('delay-seconds or an HTTP-date, in ms; anything else is ignored', () => {
    const now = Date.parse('Mon, 07 Dec 2026 08:00:00 GMT')
    expect(parseRetryAfter('2', now)).toBe(2000)
    expect(parseRetryAfter('Mon, 07 Dec 2026 08:00:03 GMT', now)).toBe(3000)
    expect(parseRetryAfter('Mon, 07 Dec 2026 07:00:00 GMT', now)).toBe(0)
    expect(parseRetryAfter('soon', now)).toBeUndefined()
    expect(parseRetryAfter('-1', now)).toBeUndefined()
    expect(parseRetryAfter(null, now)).toBeUndefined()
  })
})
