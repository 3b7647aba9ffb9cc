/** The testkit's startNginx as this package uses it: start, reload with another config, stop. */
import { nginxConfig, startNginx } from '@tierkit/testkit/nginx'
import { afterAll, describe, expect, test } from 'vitest'
import { listen, request } from './helpers.js'

const origin = await listen((req, res) => {
  res.setHeader('cache-control', 'public, max-age=60')
  res.end(`hello ${req.headers.authorization ?? 'anon'}`)
})
afterAll(() => origin.close())

describe('startNginx', () => {
  test('serves through the cache on loopback, reloads a new config, stops for good', async () => {
    const nginx = await startNginx({ upstream: `http://127.0.0.1:${origin.port}` })
    expect(nginx.url).toBe(`http://127.0.0.1:${nginx.port}`)
    await request(nginx.url, '/a')
    expect((await request(nginx.url, '/a')).headers['x-cache-status']).toBe('HIT')
    expect(
      (await request(nginx.url, '/b', { headers: { authorization: 'Bearer x' } })).headers['x-cache-status'],
    ).toBe('BYPASS')
    await nginx.reload({ bypassAuthorization: false })
    // new connections: a kept-alive one may still reach an old worker once
    const first = await request(nginx.url, '/c', { headers: { authorization: 'Bearer x' }, fresh: true })
    expect(first.headers['x-cache-status']).toBe('MISS')
    // the cache now trusts the origin alone: its public answer to an authenticated request is stored
    expect((await request(nginx.url, '/c', { fresh: true })).headers['x-cache-status']).toBe('HIT')
    await nginx.stop()
    await nginx.stop()
    await expect(request(nginx.url, '/a', { fresh: true })).rejects.toThrow()
  })
  test('the config keeps every path under its folder and listens on loopback only', async () => {
    const conf = nginxConfig('/tmp/x', 1234, '127.0.0.1:80')
    expect(conf).toContain('listen 127.0.0.1:1234;')
    expect(conf).toContain('listen unix:/tmp/x/translate.sock;')
    for (const m of conf.matchAll(/(?:_path|pid) (\S+)/g)) expect(m[1]!.startsWith('/tmp/x/')).toBe(true)
    await expect(startNginx({ upstream: 'http://10.0.0.1:80' })).rejects.toThrow(TypeError)
  })
})
