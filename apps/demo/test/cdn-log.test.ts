import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { PurgeFailedError } from '@tierkit/cdn-headers'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { CdnLog, type RefetchAnswer } from '../src/cdn-log.js'

// The demo's purger reports as cdn-headers' TagPurger (the tags' `cdn` reads it): every tag purged or failed with
// its reason, hardened when a soft re-fetch may not have replaced the entry. Without nginx: a log and cache files.

describe('CdnLog.purge: the report, tag by tag', () => {
  let dir: string
  let log: CdnLog
  let answer: RefetchAnswer | Error
  const refetched: string[] = []
  const file = (uri: string): string => {
    const h = createHash('md5').update(uri).digest('hex')
    return join(dir, 'cache', h.slice(-1), h.slice(-3, -1), h)
  }
  /** nginx stored `uri` (its cache file) and logged it with `tags`, for a request that started at `at`. */
  const stored = (uri: string, tags: string, at = Date.now() - 10_000): void => {
    mkdirSync(dirname(file(uri)), { recursive: true })
    writeFileSync(file(uri), 'entry')
    const line = `MISS\t0.001\t200\t${uri}\t${tags}\t${at / 1000 + 0.001}\n`
    writeFileSync(join(dir, 'access.log'), line, { flag: 'a' })
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tierkit-cdn-log-'))
    writeFileSync(join(dir, 'access.log'), '')
    answer = { status: 200, cacheControl: 'public, max-age=600' }
    refetched.length = 0
    log = new CdnLog(join(dir, 'access.log'), join(dir, 'cache'), {
      onLookup: () => {},
      refetch: async (uri) => {
        refetched.push(uri)
        if (answer instanceof Error) throw answer
        return answer
      },
    })
    stored('/api/public/products/5', 'product:5')
    stored('/api/categories/books/products', 'category:books,product:5,public')
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it('soft: the product URL re-fetched, the listing removed; a tag nothing carries is purged too', async () => {
    const r = await log.purge(['product:5', 'category:books', 'product:6'], Date.now(), 'soft')
    expect(r).toEqual({
      purged: ['product:5', 'category:books', 'product:6'],
      hardened: [],
      failed: [],
      refetched: 1,
      removed: 1,
    })
    expect(refetched).toEqual(['/api/public/products/5'])
    expect(existsSync(file('/api/public/products/5'))).toBe(true) // replaced by nginx, not removed
    expect(existsSync(file('/api/categories/books/products'))).toBe(false)
  })

  it('soft, a re-fetch answered no-store (or failed): the entry is removed instead, its tag hardened', async () => {
    answer = { status: 200, cacheControl: 'no-store' }
    const r = await log.purge(['product:5'], Date.now(), 'soft')
    expect(r).toMatchObject({ purged: ['product:5'], hardened: ['product:5'], failed: [] })
    expect([r.refetched, r.removed]).toEqual([0, 2])
    expect(existsSync(file('/api/public/products/5'))).toBe(false)
    // stored again by a request that started after that purge (not a late store)
    stored('/api/public/products/5', 'product:5', Date.now() + 1000)
    answer = new Error('ECONNREFUSED')
    const down = await log.purge(['product:5'], Date.now(), 'soft')
    expect(down).toMatchObject({ purged: ['product:5'], hardened: ['product:5'], failed: [], removed: 1 })
  })

  it('hard: a cache file that cannot be removed fails every tag of its URL (reason io, E_PURGE_FAILED)', async () => {
    rmSync(file('/api/categories/books/products'))
    mkdirSync(file('/api/categories/books/products')) // unlink(2): EISDIR, as root too
    const r = await log.purge(['product:5', 'category:books'], Date.now(), 'hard')
    expect(r.purged).toEqual([])
    expect(r.failed.map((f) => [f.tag, f.reason])).toEqual([
      ['product:5', 'io'],
      ['category:books', 'io'],
    ])
    expect(r.failed[0]!.error).toBeInstanceOf(PurgeFailedError)
    expect(r.failed[0]!.error.message).toMatch(
      /^CDN purge of product:5: could not remove a cache file: EISDIR/,
    )
    expect([r.refetched, r.removed]).toEqual([0, 1]) // the product URL's file went
    // the URL stays in the index: once the file can go, the next purge removes it
    rmSync(file('/api/categories/books/products'), { recursive: true })
    writeFileSync(file('/api/categories/books/products'), 'entry')
    const again = await log.purge(['category:books'], Date.now(), 'hard')
    expect(again).toMatchObject({ purged: ['category:books'], failed: [], removed: 1 })
  })
})
