import * as http from 'node:http'
import type { AddressInfo } from 'node:net'
import { TierkitTypeError } from '@tierkit/contracts'
import { expect } from 'vitest'

export interface HttpAnswer {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 })

/** One HTTP/1.1 request on loopback; resolves with status, headers and the body text. */
export function request(
  base: string,
  path: string,
  options: { method?: string; headers?: Record<string, string>; fresh?: boolean } = {},
): Promise<HttpAnswer> {
  const url = new URL(path, base)
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method: options.method ?? 'GET',
        headers: options.headers ?? {},
        agent: options.fresh === true ? false : agent,
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        )
        res.on('error', reject)
      },
    )
    req.setTimeout(10_000, () => req.destroy(new Error(`timeout ${options.method ?? 'GET'} ${path}`)))
    req.on('error', reject)
    req.end()
  })
}

/** Starts a Node http server on a free loopback port. */
export async function listen(
  handler: http.RequestListener,
): Promise<{ url: string; port: number; close(): Promise<void> }> {
  const server = http.createServer({ keepAliveTimeout: 30_000 }, handler)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function pool<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++
      await fn(items[i]!)
    }
  })
  await Promise.all(workers)
}

/** Lower-cases header names and joins arrays, the shape http-cache-semantics expects. */
export function flatHeaders(
  h: http.IncomingHttpHeaders | Record<string, string | string[] | undefined>,
): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue
    out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : String(v)
  }
  return out
}

/** What `fn` throws, or `undefined` when it returns: assert on it outside any `catch`. */
export function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (e) {
    return e
  }
  return undefined
}

/** What `promise` rejects with, or `undefined` when it resolves. */
export function rejection(promise: PromiseLike<unknown>): Promise<unknown> {
  return Promise.resolve(promise).then(
    () => undefined,
    (e: unknown) => e,
  )
}

/** Checks that `e` is the family's bad-argument error (`TierkitTypeError`) with exactly this message. */
export function expectInvalidArgument(e: unknown, message: string): void {
  expect(e).toBeInstanceOf(TierkitTypeError)
  expect(e).toBeInstanceOf(TypeError)
  expect(e).toMatchObject({ code: 'E_INVALID_ARGUMENT', name: 'TypeError', message })
}
