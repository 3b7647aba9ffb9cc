import { existsSync, mkdirSync, statSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { startRedis } from '@tierkit/testkit'
import { type Browser, chromium } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Demo } from '../src/app.js'
import { json, startDemo, type TestDb, testDb } from './helpers.js'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const SCREENSHOT = fileURLToPath(new URL('../.test-results/dashboard.png', import.meta.url))

describe('the dashboard in a real browser (Debian chromium through playwright-core)', () => {
  let db: TestDb
  let demo: Demo
  let browser: Browser
  let stopRedis: () => Promise<void>

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`)
    const redis = await startRedis()
    stopRedis = () => redis.stop()
    db = testDb('sqlite')
    demo = await startDemo({ ...db.env, REDIS_URL: redis.url })
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    })
  })
  afterAll(async () => {
    await browser?.close()
    await demo?.close()
    await db?.drop()
    await stopRedis?.()
  })

  it('shows live figures that change under load, draws the charts, lists invalidations; screenshot saved', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } })
    const external: string[] = []
    page.on('request', (r) => {
      if (!r.url().startsWith(demo.url)) external.push(r.url())
    })
    await page.goto(`${demo.url}/`)
    await page.waitForFunction(() => Number(document.body.dataset.ticks ?? 0) >= 2)
    const text = async (id: string): Promise<string> => (await page.locator(`#${id}`).textContent()) ?? ''
    const requestsBefore = Number(await text('requests-value'))
    expect(await text('database')).toBe('sqlite')

    // drive load: Zipf-like reads (hot ids repeat), a report on the pool, an update
    const ids = Array.from({ length: 400 }, (_, i) => 1 + ((i * i) % 50))
    for (let i = 0; i < ids.length; i += 20) {
      await Promise.all(
        ids
          .slice(i, i + 20)
          .map((id) => fetch(`${demo.url}/api/public/products/${id}`).then((r) => r.arrayBuffer())),
      )
    }
    await json(`${demo.url}/api/reports/price-stats`, { method: 'POST', body: { resamples: 100 } })
    await json(`${demo.url}/api/products/3`, { method: 'PUT', body: { stock: 1 } })

    await page.waitForFunction(
      (before) => Number(document.getElementById('requests-value')!.textContent) >= before + 400,
      requestsBefore,
    )
    await page.waitForFunction(() =>
      document.querySelector('#invalidations tbody')!.textContent!.includes('p:3'),
    )
    await page.waitForFunction(() => document.getElementById('pool-completed')!.textContent === '1')
    // the last invalidation, per layer: mode, latency, result (no CDN in this test)
    // l2, bus and cdn as the one tags call (expireByTag) returned them
    await page.waitForFunction(() => document.querySelectorAll('#last-invalidation tbody tr').length === 4)
    const inv = (await page.locator('#last-invalidation tbody tr').allInnerTexts()).map((r) => r.split('\t'))
    expect(inv.map((r) => r.slice(0, 2))).toEqual([
      ['l1', 'soft'],
      ['l2', 'soft'],
      ['bus', 'soft'],
      ['cdn', 'soft'],
    ])
    expect(inv[0]![2]).toMatch(/^\d+(\.\d+)? ms$/)
    expect(inv[1]![2]).toMatch(/^\d+(\.\d+)? ms$/)
    expect(inv[1]![3]).toBe('expireByTag')
    expect(inv[2]![2]).toMatch(/^\d+(\.\d+)? ms$/)
    expect(inv[2]![3]).toBe('published')
    expect(inv[3]!.slice(2)).toEqual(['—', 'no cdn']) // the API returned no cdn: none runs here
    expect(await text('last-inv-what')).toContain('#product:3')
    const l1 = await text('l1-hit-value')
    expect(l1).toMatch(/^\d+\.\d%$/)
    expect(Number.parseFloat(l1)).toBeGreaterThan(50)
    expect(await text('redis')).toContain('closed')
    // which client and topology: REDIS_CLIENT (ioredis by default) on one Redis
    expect(await text('redis-client')).toBe('ioredis')
    expect(await text('redis-topology')).toBe('standalone')
    const layers = await page.locator('#layers tbody tr').allInnerTexts()
    expect(layers.map((r) => r.split('\t')[0])).toEqual(['cdn', 'l1', 'l2', 'db'])
    // the charts have been drawn: coloured pixels on the canvases
    const painted = await page.evaluate(() =>
      ['hit-chart', 'latency-chart', 'rps-chart', 'pool-chart'].map((id) => {
        const c = document.getElementById(id) as HTMLCanvasElement
        const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data
        let n = 0
        for (let i = 0; i < d.length; i += 4) if (d[i + 3]! > 0 && (d[i]! > 60 || d[i + 1]! > 60)) n++
        return n
      }),
    )
    for (const n of painted) expect(n).toBeGreaterThan(100)
    mkdirSync(fileURLToPath(new URL('../.test-results/', import.meta.url)), { recursive: true })
    await page.screenshot({ path: SCREENSHOT, fullPage: true })
    expect(statSync(SCREENSHOT).size).toBeGreaterThan(10_000)
    expect(external).toEqual([]) // self-contained: nothing fetched from anywhere else
  })
})
