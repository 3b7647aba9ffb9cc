/**
 * `startNginxWithHttp`: {@link startNginx}'s caching proxy with directives of your own at the `http` level (a
 * `log_format`, which nginx allows nowhere else) as well as in the caching `location` (`config.extra`). nginx is
 * started with the plain config, then the config is rewritten with both and reloaded (SIGHUP to the master, whose
 * pid is in the folder); the call resolves once a fresh connection gets the new config several times in a row
 * (old workers stop accepting on reload). Stopped like `startNginx`'s, at the end of the test file.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import * as http from 'node:http'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { type NginxServer, nginxConfig, type StartNginxOptions, startNginx } from './nginx.js'

/** Options of {@link startNginxWithHttp}. */
export interface StartNginxWithHttpOptions extends StartNginxOptions {
  /** Directives placed in the `http` block, before the servers (may use `{dir}` for the nginx folder). */
  http: string
}

/** The generation the rewritten config answers on its ready endpoint. */
const GENERATION = 1000

function generationOf(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: '127.0.0.1', port, path: '/__tierkit_nginx_ready', agent: false, timeout: 500 },
      (res) => {
        res.resume()
        resolve(Number(res.headers['x-tierkit-generation'] ?? -1))
      },
    )
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
  })
}

/**
 * Starts nginx as {@link startNginx} does, with `options.http` in its `http` block and `options.config.extra` in
 * the caching location. `reload()` is not offered (it would drop the additions): start another one instead.
 * @throws Error when nginx does not start or refuses the directives (its stderr is in the message)
 */
export async function startNginxWithHttp(
  options: StartNginxWithHttpOptions,
): Promise<Omit<NginxServer, 'reload'>> {
  const { http: httpText, ...rest } = options
  const server = await startNginx({ ...rest, config: { ...rest.config, extra: '' } })
  try {
    const upstream =
      typeof options.upstream === 'number'
        ? `127.0.0.1:${options.upstream}`
        : new URL(options.upstream).host.replace('localhost', '127.0.0.1')
    const text = nginxConfig(server.dir, server.port, upstream, options.config ?? {}, GENERATION).replace(
      '  access_log off;\n',
      `  access_log off;\n${httpText.replaceAll('{dir}', server.dir)}\n`,
    )
    writeFileSync(join(server.dir, 'nginx.conf'), text)
    const pid = Number(readFileSync(join(server.dir, 'nginx.pid'), 'utf8').trim())
    const before = server.log().length
    process.kill(pid, 'SIGHUP')
    const deadline = Date.now() + (options.startTimeoutMs ?? 10_000)
    let inARow = 0
    while (inARow < 5) {
      if (/\[emerg\]/.test(server.log().slice(before)))
        throw new Error(`nginx refused the config: ${server.log().slice(before)}`)
      if (Date.now() > deadline) throw new Error(`nginx did not reload: ${server.log().slice(before)}`)
      inARow = (await generationOf(server.port).catch(() => -1)) === GENERATION ? inARow + 1 : 0
      await sleep(20)
    }
  } catch (e) {
    await server.stop()
    throw e
  }
  return {
    url: server.url,
    port: server.port,
    dir: server.dir,
    stop: () => server.stop(),
    log: () => server.log(),
  }
}
