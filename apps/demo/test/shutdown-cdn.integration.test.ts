import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Demo } from '../src/app.js'
import type { Cdn } from '../src/cdn.js'
import { closeBehindCdn } from '../src/lifecycle.js'
import { answers, type DemoBehindCdn, json, startDemoBehindCdn, until } from './helpers.js'

// `demo:load --cdn` printed two "socket hang up" errors at shutdown with 0 failed requests: the PUTs still in
// flight when the load ended purged through nginx, which the shutdown had already stopped.
describe('shutdown behind the CDN', () => {
  let demo: Demo
  let cdn: Cdn
  let setup: DemoBehindCdn | undefined

  beforeAll(async () => {
    setup = await startDemoBehindCdn({ purge: false })
    ;({ demo, cdn } = setup)
  })
  afterAll(async () => {
    await setup?.close()
  })

  it('a PUT whose purge is in flight when the shutdown starts still purges through nginx and answers 200', async () => {
    // the edge knows the product URL (its log line read), so the purge re-fetches it through nginx
    await (await fetch(`${cdn.url}/api/public/products/9`)).arrayBuffer()
    await until(() => demo.metrics.snapshot().byLayer.cdn!.lookups >= 1, 'the access log to be read')
    let atGate = false
    let release!: () => void
    const gate = new Promise<void>((r) => {
      release = r
    })
    const errors: string[] = []
    demo.app.log.error = ((e: unknown) => errors.push(String(e))) as typeof demo.app.log.error
    demo.setPurger({
      async purgeTags(tags) {
        atGate = true
        await gate
        return cdn.purgeTags(tags)
      },
    })
    const put = json(`${demo.url}/api/products/9`, { method: 'PUT', body: { stock: 5 } })
    await until(() => atGate, 'the PUT to reach its purge')
    const closing = closeBehindCdn(demo, cdn)
    const port = (url: string): number => Number(new URL(url).port)
    // whichever stops first: the demo (it no longer accepts connections) or nginx; then the purge goes on
    await until(
      async () => !(await answers(port(demo.url))) || !(await answers(port(cdn.url))),
      'the shutdown to begin',
    )
    release()
    const r = await put
    await closing
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    expect(r.body).toMatchObject({ id: 9, stock: 5 })
    expect(errors).toEqual([])
  })
})
