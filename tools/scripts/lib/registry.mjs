// A real npm registry for rehearsals: verdaccio 6.8.0 on a free loopback port, its storage in a folder of the
// caller's, no uplink (nothing is proxied from the public registry), anonymous publish allowed for @tierkit/*.
import { spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'

/** A free TCP port on 127.0.0.1. */
export const freePort = () =>
  new Promise((res, rej) => {
    const s = createServer()
    s.unref()
    s.on('error', rej)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => res(port))
    })
  })

/**
 * Starts verdaccio in `work` and waits until `/-/ping` answers.
 * Returns the URL, an npmrc file that authenticates anonymous publishes, `packument(name)` and `stop()`.
 */
export async function startRegistry(root, work) {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}/`
  mkdirSync(join(work, 'storage'), { recursive: true })
  const config = join(work, 'verdaccio.yaml')
  writeFileSync(
    config,
    [
      `storage: ${join(work, 'storage')}`,
      'auth:',
      '  htpasswd:',
      `    file: ${join(work, 'htpasswd')}`,
      '    max_users: -1',
      'uplinks: {}',
      'packages:',
      "  '@tierkit/*':",
      '    access: $all',
      '    publish: $all',
      "  '**':",
      '    access: $all',
      'log: { type: stdout, format: pretty, level: error }',
      '',
    ].join('\n'),
  )
  const child = spawn(
    join(root, 'node_modules/.bin/verdaccio'),
    ['--config', config, '--listen', `127.0.0.1:${port}`],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let log = ''
  child.stdout.on('data', (d) => (log += d))
  child.stderr.on('data', (d) => (log += d))
  const deadline = Date.now() + 60_000
  for (;;) {
    try {
      const r = await fetch(`${url}-/ping`)
      if (r.ok) break
    } catch {}
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`verdaccio did not start:\n${log}`)
    }
    await new Promise((r) => setTimeout(r, 200))
  }
  const npmrc = join(work, 'publish.npmrc')
  writeFileSync(npmrc, `registry=${url}\n//127.0.0.1:${port}/:_authToken=fake\n`)
  return {
    url,
    npmrc,
    /** The registry's document for `name` (`versions`, `dist-tags`), or null when it has never been published. */
    async packument(name) {
      const get = () => fetch(`${url}${name.replace('/', '%2f')}`)
      // a keep-alive socket the registry closed while this process was blocked in spawnSync fails once
      const r = await get().catch(get)
      if (r.status === 404) return null
      if (!r.ok) throw new Error(`registry answered ${r.status} for ${name}`)
      return r.json()
    },
    /** What verdaccio printed so far. */
    log: () => log,
    exitCode: () => child.exitCode,
    stop() {
      if (child.exitCode === null) child.kill('SIGKILL')
    },
  }
}
